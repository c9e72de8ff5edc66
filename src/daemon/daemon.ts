/**
 * `safepoint daemon`: runs the configuration's schedules (jobs.ts) as child processes (runner.ts), catches up a run
 * missed while it was down, keeps what it did in a state file, refreshes each source's verdict after every job and
 * every few minutes, alerts when a job fails or an objective becomes violated, and serves the dashboard, the API and
 * /metrics (server.ts). SIGTERM: nothing new starts, the running job finishes (or is stopped cleanly after the grace
 * period), the state is saved, then the process exits.
 */
import { readFile, stat } from 'node:fs/promises';
import type { LoadedConfig } from '../config/load.js';
import { findRepository } from '../config/lookup.js';
import { readRepositories, type RepositoryOpener, type RepositoryState } from '../status/repositories.js';
import { sourceStatus, type SourceStatus } from '../status/status.js';
import { shortId } from '../repo/ids.js';
import { mallocTuning } from '../util/malloc-env.js';
import { buildReport, renderHtml } from '../report/index.js';
import { escapeHtml } from '../report/escape-html.js';
import { UsageError, errorMessage } from '../util/errors.js';
import { sendAlert, type Alert } from './alerts.js';
import { checkArgs, planJobs, type JobSpec } from './jobs.js';
import { Metrics } from './metrics.js';
import { Runner, type JobResult } from './runner.js';
import { missedRun, nextTime } from './schedule.js';
import { startServer, type DaemonView } from './server.js';
import { jobState, loadState, saveState, type DaemonState } from './state.js';

export interface DaemonOptions {
  /** Opens the config's repositories (the CLI's context), and the log the daemon writes, rotated before each job. */
  readonly c: RepositoryOpener & { readonly log: { rotate(): void } | null };
  readonly cfg: LoadedConfig;
  /** How a child runs safepoint: [node, main.js, --config ..., ...]. */
  readonly command: readonly string[];
  readonly stateFile: string;
  readonly listen: string;
  readonly timeoutMs: number;
  readonly graceMs: number;
  readonly log: (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;
}

/** How long a computed status is served before the repositories are read again. */
const STATUS_TTL_MS = 10_000;
/** How often the repositories' sizes are measured (a listing of every pack). */
const SIZE_TTL_MS = 5 * 60_000;
/** How often verdicts are refreshed without a job (exposure grows with time alone). */
const REFRESH_MS = 5 * 60_000;

export class Daemon {
  readonly #o: DaemonOptions;
  readonly #jobs: JobSpec[];
  readonly #metrics = new Metrics();
  readonly #next = new Map<string, Date | null>();
  #state!: DaemonState;
  #runner!: Runner;
  #timer: NodeJS.Timeout | undefined;
  #refresh: NodeJS.Timeout | undefined;
  #cache: { at: number; states: Map<string, RepositoryState>; statuses: SourceStatus[] } | null = null;
  #reading: Promise<SourceStatus[]> | null = null;
  #sizedAt = 0;
  #server: Awaited<ReturnType<typeof startServer>> | null = null;
  #stopped = false;

  constructor(o: DaemonOptions) {
    this.#o = o;
    this.#jobs = planJobs(o.cfg);
  }

  get jobs(): readonly JobSpec[] {
    return this.#jobs;
  }

  async start(): Promise<{ url: string }> {
    const { cfg } = this.#o;
    const now = new Date();
    this.#state = await loadState(this.#o.stateFile, now, (m) => this.#o.log('warn', m));
    this.#runner = new Runner({
      command: this.#o.command,
      // jobs are safepoint runs: they get the allocator settings bin/safepoint gave the daemon
      env: { ...process.env, ...mallocTuning() },
      timeoutMs: this.#o.timeoutMs,
      argsFor: (job) => (job.kind === 'check' ? checkArgs(cfg.checks?.read_data_subset, jobState(this.#state, job.id).ok_runs ?? 0) : []),
      onStart: (job) => {
        // the shared log grows with every job: rotated before the job opens it
        this.#o.c.log?.rotate();
        const s = jobState(this.#state, job.id);
        s.last_start = new Date().toISOString();
        s.runs++;
        this.#o.log('info', `job ${job.id} started`, { job: job.id });
        void this.#save();
      },
      onDone: (r) => void this.#finished(r),
    });
    const token = await this.#token();
    const [host, port] = splitListen(this.#o.listen);
    this.#server = await startServer(this.#view(), { host, port, token });
    // runs missed while the daemon was down (or never run since it first saw the job) start now
    const since = new Date(this.#state.since);
    for (const job of this.#jobs) {
      const known = this.#state.jobs[job.id];
      if (known) this.#metrics.restore(job, known);
      // against the last run that ended by itself: one cut short by a crash or a stop is run again
      const last = this.#state.jobs[job.id]?.last_completed_start;
      const missed = missedRun(job.cron, last ? new Date(last) : null, since, now);
      if (missed) {
        this.#o.log('info', `job ${job.id} missed its run of ${missed.toISOString()}: running it now`, { job: job.id });
        this.#runner.enqueue(job);
      }
      this.#next.set(job.id, nextTime(job.cron, now));
    }
    await this.#save();
    this.#arm();
    this.#refresh = setInterval(() => void this.#statuses(true).catch((err: unknown) => this.#o.log('warn', `status refresh: ${errorMessage(err)}`)), REFRESH_MS);
    this.#refresh.unref();
    void this.#statuses(true).catch((err: unknown) => this.#o.log('warn', `status refresh: ${errorMessage(err)}`));
    return { url: this.#server.url };
  }

  /** SIGTERM: no new job; the running one finishes within the grace period or is stopped cleanly; state saved. */
  async stop(graceMs = this.#o.graceMs): Promise<void> {
    if (this.#stopped) {
      // asked again: the running jobs are stopped now (cleanly: SIGTERM first)
      await this.#runner.stop(graceMs);
      return;
    }
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearInterval(this.#refresh);
    await this.#runner?.stop(graceMs);
    await this.#save();
    await this.#server?.app.close();
  }

  /** Queues a job now (an action of the API, or a test). */
  enqueue(id: string): boolean {
    const job = this.#jobs.find((j) => j.id === id);
    return job ? this.#runner.enqueue(job) : false;
  }

  async idle(): Promise<void> {
    await this.#runner.idle();
  }

  /** One timer to the earliest next run (at most a minute away, so clock changes are noticed). */
  #arm(): void {
    if (this.#stopped) return;
    const now = Date.now();
    const soonest = Math.min(...[...this.#next.values()].map((d) => d?.getTime() ?? Number.POSITIVE_INFINITY));
    this.#timer = setTimeout(() => this.#tick(), Math.max(0, Math.min(soonest - now, 60_000)));
  }

  #tick(): void {
    try {
      const now = new Date();
      for (const job of this.#jobs) {
        const due = this.#next.get(job.id);
        if (due && due <= now) {
          this.#runner.enqueue(job);
          this.#next.set(job.id, nextTime(job.cron, now));
        }
      }
    } catch (err) {
      this.#o.log('error', `scheduler: ${errorMessage(err)}`);
    } finally {
      this.#arm();
    }
  }

  async #finished(r: JobResult): Promise<void> {
    const s = jobState(this.#state, r.job.id);
    const ok = r.exitCode === 0 || r.exitCode === 3;
    s.last_end = new Date().toISOString();
    s.last_exit = r.exitCode;
    // a job stopped with the daemon did not end by itself: the next start runs it again
    if (!(this.#stopped && r.exitCode === null && !r.timedOut)) s.last_completed_start = r.started.toISOString();
    if (ok) s.ok_runs = (s.ok_runs ?? 0) + 1;
    s.last_seconds = Math.round(r.seconds * 100) / 100;
    s.last_error = ok ? null : (r.error ?? `exit code ${String(r.exitCode)}`);
    if (ok) s.last_ok = s.last_end;
    await this.#save();
    this.#metrics.jobDone(r);
    this.#o.log(ok ? 'info' : 'error', `job ${r.job.id} ${ok ? 'succeeded' : 'failed'} in ${r.seconds.toFixed(1)} s${ok ? '' : `: ${s.last_error}`}`, { job: r.job.id, exit_code: r.exitCode, seconds: r.seconds });
    if (!ok) await this.#alert({ kind: 'job_failed', source: r.job.sources.length === 1 ? r.job.sources[0]! : null, job: r.job.id, message: `${r.job.id} failed: ${s.last_error}` });
    await this.#statuses(true).catch((err: unknown) => this.#o.log('warn', `status refresh: ${errorMessage(err)}`));
  }

  async #alert(a: Omit<Alert, 'project' | 'time'>): Promise<void> {
    await sendAlert(this.#o.cfg.alerts, { ...a, project: this.#o.cfg.project, time: new Date().toISOString() }, { onError: (m) => this.#o.log('warn', m) });
  }

  async #save(): Promise<void> {
    await saveState(this.#o.stateFile, this.#state).catch((err: unknown) => this.#o.log('error', `state file ${this.#o.stateFile}: ${errorMessage(err)}`));
  }

  async #token(): Promise<string | null> {
    const file = this.#o.cfg.daemon?.token_file;
    if (!file) return null;
    const st = await stat(file).catch(() => null);
    if (!st) throw new UsageError(`daemon.token_file ${file} does not exist: create it with a random token (e.g. \`openssl rand -hex 32 > ${file}\`)`);
    const token = (await readFile(file, 'utf8')).trim();
    if (token.length < 16) throw new UsageError(`daemon.token_file ${file} holds a token shorter than 16 characters: use a random one (openssl rand -hex 32)`);
    return token;
  }

  /** Each source's verdict (cached briefly); concurrent callers share one read of the repositories. */
  #statuses(force = false): Promise<SourceStatus[]> {
    if (!force && this.#cache && Date.now() - this.#cache.at < STATUS_TTL_MS) return Promise.resolve(this.#cache.statuses);
    this.#reading ??= this.#readStatuses().finally(() => (this.#reading = null));
    return this.#reading;
  }

  /** Reads the repositories, refreshes the metrics, alerts when a source becomes violated or recovers. */
  async #readStatuses(): Promise<SourceStatus[]> {
    const { c, cfg } = this.#o;
    const states = await readRepositories(c, cfg.sources, { onDamaged: (id, err) => this.#o.log('warn', `snapshot ${shortId(id)} cannot be read: ${errorMessage(err)}`) });
    const now = new Date();
    const statuses = cfg.sources.map((source) => {
      const st = states.get(source.repository)!;
      const s = sourceStatus({ source, repository: findRepository(cfg, source.repository), snapshots: st.snapshots, journal: st.journal, appendOnlyKey: st.appendOnlyKey, now });
      return st.error ? { ...s, verdict: 'violated' as const, reasons: [`repository ${source.repository} cannot be opened: ${st.error}`, ...s.reasons] } : s;
    });
    this.#cache = { at: Date.now(), states, statuses };
    this.#metrics.statuses(statuses);
    // the size lists every pack: at most every few minutes, not at each status read
    const sizeDue = Date.now() - this.#sizedAt >= SIZE_TTL_MS;
    for (const [name, st] of sizeDue ? states : []) {
      const bytes = st.snapshots.length === 0 ? null : await c.withRepository('status', 'none', async (repo) => {
        let n = 0;
        for await (const o of repo.storage.list('data/')) n += o.size;
        return n;
      }, undefined, { repository: name }).catch(() => null);
      if (bytes !== null) {
        this.#metrics.repositorySize(name, bytes);
        // measured: the next measure waits; an empty repository is measured again once it holds something
        this.#sizedAt = Date.now();
      }
    }
    const verdicts = (this.#state.verdicts ??= {});
    let changed = false;
    for (const s of statuses) {
      const before = Object.hasOwn(verdicts, s.source) ? verdicts[s.source] : undefined;
      if (before !== s.verdict) changed = true;
      verdicts[s.source] = s.verdict;
      if (s.verdict === 'violated' && before !== 'violated') await this.#alert({ kind: 'objective_violated', source: s.source, job: null, message: `${s.source}: ${s.reasons.join('; ')}` });
      if (before === 'violated' && s.verdict !== 'violated') await this.#alert({ kind: 'objective_restored', source: s.source, job: null, message: `${s.source} is ${s.verdict} again` });
    }
    if (changed) await this.#save();
    return statuses;
  }

  #view(): DaemonView {
    const { cfg } = this.#o;
    const states = async (): Promise<Map<string, RepositoryState>> => {
      await this.#statuses();
      return this.#cache!.states;
    };
    return {
      project: cfg.project,
      statuses: () => this.#statuses(),
      snapshots: async () => [...(await states()).values()].flatMap((s) => s.snapshots).filter((s, i, all) => all.findIndex((x) => x.id === s.id) === i),
      journal: async () => [...(await states()).values()].flatMap((s) => s.journal).sort((a, b) => a.time.localeCompare(b.time)),
      sources: () => cfg.sources.map((s) => ({ name: s.name, type: s.type, repository: s.repository, rpo_seconds: s.rpo === undefined ? null : s.rpo / 1000, rto_seconds: s.rto === undefined ? null : s.rto / 1000 })),
      jobs: () => this.#jobs.map((job) => ({ job, next: this.#next.get(job.id) ?? null, state: this.#state.jobs[job.id] ?? null, queued: this.#runner.queued.includes(job.id), running: this.#runner.running.includes(job.id) })),
      act: (source, action) => {
        if (!cfg.sources.some((s) => s.name === source)) return 'unknown';
        const spec: JobSpec = action === 'backup'
          ? (this.#jobs.find((j) => j.kind === 'backup' && j.sources.length === 1 && j.sources[0] === source && !j.args.includes('--type')) ?? { id: `backup:${source}`, kind: 'backup', cron: '@yearly', args: ['backup', '--source', source], sources: [source] })
          : action === 'drill'
            ? { id: `drill:${source}`, kind: 'drill', cron: '@yearly', args: ['drill', '--source', source], sources: [source] }
            : { id: `check:${source}`, kind: 'check', cron: '@yearly', args: ['check', '--repo', cfg.sources.find((s) => s.name === source)!.repository], sources: [source] };
        return this.#runner.enqueue(spec) ? spec.id : null;
      },
      metrics: async () => {
        await this.#statuses().catch(() => undefined);
        return { contentType: this.#metrics.registry.contentType, body: await this.#metrics.registry.metrics() };
      },
      dashboard: async () => {
        const st = await states();
        const now = new Date();
        const html = renderHtml(buildReport(cfg, st, now, new Date(now.getTime() - 30 * 86_400_000)));
        // the daemon's own sections inside the page's main part, before the report's closing note
        const extras = `<hr>${this.#dashboardExtras(st)}`;
        // a function, not a string: `$&` or `$'` in the data must not act as replacement patterns
        return html.includes('</main>') ? html.replace('</main>', () => `${extras}</main>`) : html.replace('</body>', () => `${extras}</body>`);
      },
    };
  }

  /** The dashboard's own sections after the report: the jobs, the latest snapshots and the journal. */
  #dashboardExtras(states: Map<string, RepositoryState>): string {
    const e = escapeHtml;
    // times as the report above shows them: 2026-11-29 10:48:37Z
    const when = (iso: string | null | undefined): string => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '-');
    const rows = (cells: readonly string[][]): string => cells.map((r) => `<tr>${r.map((c) => `<td>${e(c)}</td>`).join('')}</tr>`).join('');
    const jobs = this.#jobs.map((j) => {
      const s = this.#state.jobs[j.id];
      const status = this.#runner.running.includes(j.id) ? 'running' : this.#runner.queued.includes(j.id) ? 'queued' : s?.last_exit === undefined || s.last_exit === null ? 'never run' : s.last_error ? `failed: ${s.last_error}` : 'ok';
      return [j.id, j.cron, when(this.#next.get(j.id)?.toISOString()), when(s?.last_start), s?.last_seconds === null || s?.last_seconds === undefined ? '-' : `${s.last_seconds} s`, status === 'never run' ? 'not run by this daemon yet' : status];
    });
    const snaps = [...states.values()].flatMap((s) => s.snapshots).sort((a, b) => b.time.localeCompare(a.time)).slice(0, 30).map((s) => [s.id.slice(0, 8), when(s.time), s.source ?? '-', s.type, s.tags.join(', '), s.complete ? 'yes' : 'no']);
    const journal = [...states.values()].flatMap((s) => s.journal).sort((a, b) => b.time.localeCompare(a.time)).slice(0, 30).map((j) => [when(j.time), j.operation, j.source ?? '-', j.result, j.host, j.error ?? '']);
    const table = (id: string, title: string, head: string[], body: string[][]): string => `<section id="${id}"><h2>${e(title)}</h2><table><thead><tr>${head.map((h) => `<th>${e(h)}</th>`).join('')}</tr></thead><tbody>${rows(body)}</tbody></table></section>`;
    return [
      table('daemon-jobs', 'Scheduled jobs', ['job', 'schedule', 'next run', 'last start', 'last duration', 'last result'], jobs),
      table('daemon-snapshots', 'Latest snapshots', ['id', 'time', 'source', 'type', 'tags', 'complete'], snaps),
      table('daemon-journal', 'Journal', ['time', 'operation', 'source', 'result', 'host', 'error'], journal),
    ].join('\n');
  }
}

/** `127.0.0.1:8765` → ['127.0.0.1', 8765]; `[::1]:8765` → ['[::1]', 8765]. */
export function splitListen(listen: string): [string, number] {
  const at = listen.lastIndexOf(':');
  const port = Number(listen.slice(at + 1));
  if (at < 0 || !Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--listen ${listen}: expected host:port, e.g. 127.0.0.1:8765`);
  return [listen.slice(0, at) || '127.0.0.1', port];
}
