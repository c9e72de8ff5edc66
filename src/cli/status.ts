/** `safepoint status`: each source against its RPO and RTO, from its repository's snapshots and journal. */
import type { Command } from 'commander';
import { findRepository, findSource } from '../config/lookup.js';
import type { SourceConfig } from '../config/schema-sources.js';
import { shortId } from '../repo/ids.js';
import { readRepositories as readStates, type RepositoryState } from '../status/repositories.js';
import { applicationStatus, sourceStatus, type SourceStatus } from '../status/status.js';
import { ExitCode, errorMessage } from '../util/errors.js';
import { formatAge, table } from '../util/format.js';
import type { Context } from './context.js';
import { progress } from './progress.js';

export function registerStatus(program: Command, ctx: () => Context): void {
  program
    .command('status')
    .description('each source against its objectives: age of the last backup (or archived WAL) against the RPO, last drill against the RTO, last check, immutability; exits 4 when an objective is violated')
    .option('--source <name>', 'only this source')
    .action(async (f: { source?: string }) => {
      process.exitCode = await runStatus(ctx(), f);
    });
}

export type { RepositoryState } from '../status/repositories.js';

/** The repositories of `sources`, read with progress on the terminal (and `status` events unless `events: false`). */
export async function readRepositories(c: Context, sources: readonly SourceConfig[], options: { operation?: string; events?: boolean } = {}): Promise<Map<string, RepositoryState>> {
  const p = progress(c.out, options.operation ?? 'status', { events: options.events ?? true });
  const states = await readStates(c, sources, {
    onDamaged: (id, err) => c.out.warn(`snapshot ${shortId(id)} cannot be read: ${errorMessage(err)}`),
    onProgress: (phase, done, total) => p({ phase, done, total }),
  });
  p.end();
  return states;
}

async function runStatus(c: Context, f: { source?: string }): Promise<number> {
  const cfg = await c.requireConfig();
  const sources = f.source ? [findSource(cfg, f.source)] : cfg.sources;
  const states = await readRepositories(c, sources);
  const now = new Date();
  const rows: SourceStatus[] = sources.map((source) => {
    const st = states.get(source.repository)!;
    const s = sourceStatus({ source, repository: findRepository(cfg, source.repository), snapshots: st.snapshots, journal: st.journal, appendOnlyKey: st.appendOnlyKey, now });
    return st.error ? { ...s, verdict: 'violated', reasons: [`repository ${source.repository} cannot be opened: ${st.error}`, ...s.reasons.filter((r) => r !== 'never backed up')] } : s;
  });
  for (const r of rows) c.out.event({ message_type: 'source_status', ...r });
  const apps = f.source ? [] : Object.entries(cfg.applications).map(([name, app]) => {
    const members = rows.filter((r) => app.sources.includes(r.source));
    const journal = [...new Set(app.sources.map((s) => findSource(cfg, s).repository))].flatMap((repo) => states.get(repo)?.journal ?? []);
    return applicationStatus(name, app, members, journal);
  });
  for (const a of apps) c.out.event({ message_type: 'application_status', ...a });
  const violated = [...rows.filter((r) => r.verdict === 'violated').map((r) => r.source), ...apps.filter((a) => a.verdict === 'violated').map((a) => `application ${a.application}`)];
  c.out.event({ message_type: 'summary', project: cfg.project, time: now.toISOString(), sources: rows.length, applications: apps.length, ok: rows.filter((r) => r.verdict === 'ok').length, at_risk: rows.filter((r) => r.verdict === 'at risk').length, violated: violated.length });
  if (rows.length === 0) c.out.info('no sources in the config');
  else {
    const ratio = (v: number | null, objective: number | null): string => (v === null ? 'never' : `${formatAge(v)}${objective === null ? '' : ` / ${formatAge(objective)}`}`);
    c.out.info(table([
      ['SOURCE', 'TYPE', 'VERDICT', 'EXPOSURE / RPO', 'DRILL RTO / RTO', 'LAST CHECK', 'IMMUTABILITY'],
      ...rows.map((r) => [
        r.source,
        r.type,
        r.verdict,
        r.exposure_seconds === null ? `never / ${r.rpo_seconds === null ? '-' : formatAge(r.rpo_seconds)}` : `${ratio(r.exposure_seconds, r.rpo_seconds)}${r.exposure_from && r.exposure_from !== 'backup' ? ` (${r.exposure_from})` : ''}`,
        r.last_drill ? `${r.last_drill.ok ? '' : 'FAILED '}${ratio(r.last_drill.rto_seconds, r.rto_seconds)}` : `never${r.rto_seconds === null ? '' : ` / ${formatAge(r.rto_seconds)}`}`,
        r.last_check ? `${r.last_check.ok ? 'ok' : 'FAILED'} ${formatAge((now.getTime() - Date.parse(r.last_check.time)) / 1000)} ago` : 'never',
        r.immutability.state,
      ]),
    ]));
    for (const r of rows) for (const why of r.reasons) c.out.info(`  ${r.source}: ${why}`);
    if (apps.length > 0) {
      c.out.info('');
      c.out.info(table([
        ['APPLICATION', 'SOURCES', 'VERDICT', 'EXPOSURE / RPO', 'DRILL RTO / RTO'],
        ...apps.map((a) => [a.application, a.sources.join(', '), a.verdict, a.exposure_seconds === null ? 'never' : ratio(a.exposure_seconds, a.rpo_seconds), a.last_drill ? `${a.last_drill.ok ? '' : 'FAILED '}${ratio(a.last_drill.rto_seconds, a.rto_seconds)}` : 'never']),
      ]));
      for (const a of apps) for (const why of a.reasons) c.out.info(`  ${a.application}: ${why}`);
    }
  }
  if (violated.length > 0) {
    process.stderr.write(`error: ${violated.length} of ${rows.length + apps.length} ${apps.length > 0 ? 'sources and applications' : 'sources'} violate an objective: ${violated.join(', ')}\n`);
    return ExitCode.objectiveViolated;
  }
  return 0;
}
