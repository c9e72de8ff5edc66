/**
 * The jobs the daemon runs, from the configuration: each source's backups on its schedule (a database may have one
 * per backup type), repository checks with a rotating read-data slice, restore drills and retention. Defaults when
 * a schedule is unset (issue 7): data daily, checks weekly, a drill weekly, forget daily; code and configuration on
 * `on-major-commit` are the git hooks' job, not the clock's.
 */
import type { Config } from '../config/schema.js';
import { EVENT_SCHEDULES } from '../config/schedule.js';

export type JobKind = 'backup' | 'check' | 'drill' | 'forget';

export interface JobSpec {
  /** Stable name: `backup:shop-db:incr`, `check`, `drill`, `forget`. */
  readonly id: string;
  readonly kind: JobKind;
  /** The cron expression (5 fields or a @macro). */
  readonly cron: string;
  /** The safepoint command line, without the global options the runner adds. */
  readonly args: readonly string[];
  /** The sources it works on: no two jobs sharing one run at once. */
  readonly sources: readonly string[];
}

export const DEFAULT_SCHEDULES = {
  /** Data: daily, at night. */
  backup: '0 2 * * *',
  /** Repository check: weekly, Sunday 03:00. */
  check: '0 3 * * 0',
  /** Restore drill: weekly, Saturday 04:00. */
  drill: '0 4 * * 6',
  /** Retention: daily, after the backups. */
  forget: '0 5 * * *',
} as const;

export function planJobs(cfg: Config): JobSpec[] {
  const jobs: JobSpec[] = [];
  const all = cfg.sources.map((s) => s.name);
  for (const s of cfg.sources) {
    const schedule = s.schedule;
    if (typeof schedule === 'string' && (EVENT_SCHEDULES as readonly string[]).includes(schedule)) continue;
    if (schedule !== undefined && typeof schedule === 'object') {
      for (const [type, cron] of Object.entries(schedule)) {
        if (typeof cron === 'string') jobs.push({ id: `backup:${s.name}:${type}`, kind: 'backup', cron, args: ['backup', '--source', s.name, '--type', type], sources: [s.name] });
      }
      continue;
    }
    jobs.push({ id: `backup:${s.name}`, kind: 'backup', cron: schedule ?? DEFAULT_SCHEDULES.backup, args: ['backup', '--source', s.name], sources: [s.name] });
  }
  if (all.length > 0) {
    // one check per repository: `check` verifies one repository (all its targets), and each rotates its own slice
    const repositories = [...new Set(cfg.sources.map((s) => s.repository))];
    for (const repo of repositories) {
      const sources = cfg.sources.filter((s) => s.repository === repo).map((s) => s.name);
      jobs.push({ id: repositories.length === 1 ? 'check' : `check:${repo}`, kind: 'check', cron: cfg.checks?.schedule ?? DEFAULT_SCHEDULES.check, args: ['check', '--repo', repo], sources });
    }
    const drilled = cfg.drills?.sources === undefined || cfg.drills.sources === 'all' ? all : cfg.drills.sources;
    jobs.push({ id: 'drill', kind: 'drill', cron: cfg.drills?.schedule ?? DEFAULT_SCHEDULES.drill, args: ['drill'], sources: drilled });
  }
  if (cfg.sources.some((s) => s.retention)) jobs.push({ id: 'forget', kind: 'forget', cron: DEFAULT_SCHEDULES.forget, args: ['forget', '--all', '--prune'], sources: all });
  return jobs;
}

/**
 * The check's read-data slice for its `run`-th execution: a `read_data_subset` of 10% reads slice 1/10, then 2/10…
 * so ten weekly checks read every pack once (restic's n/t). Without a subset, structure only.
 */
export function checkArgs(subset: number | undefined, run: number): string[] {
  if (subset === undefined || subset <= 0) return [];
  if (subset >= 1) return ['--read-data'];
  const t = Math.max(1, Math.round(1 / subset));
  return ['--read-data-subset', `${(run % t) + 1}/${t}`];
}
