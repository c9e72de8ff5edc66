/**
 * `safepoint replicate`: continuous replication of SQLite sources (continuous: true), shipping the transactions
 * committed in the WAL every second until stopped (SIGINT / SIGTERM ship a last segment, then exit 0).
 */
import type { Command } from 'commander';
import { parseDuration } from '../config/duration.js';
import { pickSource } from '../config/lookup.js';
import { UsageError } from '../util/errors.js';
import { formatBytes } from '../util/format.js';
import type { Context } from './context.js';

interface ReplicateFlags {
  source?: string;
  interval: string;
  generation: string;
  for?: string;
}

export function registerReplicate(program: Command, ctx: () => Context): void {
  program
    .command('replicate')
    .description('replicate a SQLite source continuously: ship the transactions committed in its WAL every second (RPO ~1 s) until stopped; restore any point with restore --source NAME --target-time T')
    .option('--source <name>', 'the SQLite source (default: the only one with continuous: true)')
    .option('--interval <duration>', 'how often committed transactions are shipped', '1s')
    .option('--generation <duration>', 'how often a new base copy starts a generation (shorter: faster restores, more copies)', '5m')
    .option('--for <duration>', 'stop after this long (default: until SIGINT / SIGTERM)')
    .action(async (f: ReplicateFlags) => {
      process.exitCode = await runReplicate(ctx(), f);
    });
}

async function runReplicate(c: Context, f: ReplicateFlags): Promise<number> {
  const cfg = await c.requireConfig();
  const source = pickSource(cfg, f.source, 'sqlite', (s) => s.continuous, 'continuous: true');
  const intervalMs = parseDuration(f.interval);
  const generationMs = parseDuration(f.generation);
  if (intervalMs < 50) throw new UsageError(`--interval ${f.interval}: at least 50ms`);
  const { Replicator } = await import('../db/sqlite/replica/replicator.js');
  return c.withRepository('replicate', 'shared', async (repo) => {
    const stop = new AbortController();
    const onSignal = (): void => stop.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    const timer = f.for !== undefined ? setTimeout(onSignal, parseDuration(f.for)) : undefined;
    let segments = 0;
    let commits = 0;
    let bytes = 0;
    const started = Date.now();
    const r = new Replicator(repo, source, {
      intervalMs,
      generationMs,
      onEvent: (e) => {
        c.out.event({ message_type: e.kind, source: source.name, generation: e.generation, detail: e.detail, bytes: e.bytes ?? 0, commits: e.commits ?? 0, seconds: e.seconds ?? 0 });
        if (e.kind === 'segment') {
          segments++;
          commits += e.commits ?? 0;
          bytes += e.bytes ?? 0;
          c.out.status(`${source.name}: generation ${e.generation}, ${segments} segments, ${commits} transactions, ${formatBytes(bytes)} shipped; last ${(e.seconds ?? 0).toFixed(2)} s`);
        } else if (e.kind === 'warning') c.out.warn(`${source.name}: ${e.detail}`);
        else c.out.info(`${source.name}: new generation ${e.generation} (${e.detail})`);
      },
    });
    try {
      await r.start();
      c.out.info(`replicating ${source.path} every ${f.interval} (stop with Ctrl-C)`);
      await r.run(stop.signal);
    } finally {
      if (timer) clearTimeout(timer);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      r.close();
    }
    c.out.clearStatus();
    c.out.event({ message_type: 'summary', source: source.name, segments, commits, bytes, seconds: (Date.now() - started) / 1000 });
    c.out.info(`stopped: ${segments} segments, ${commits} transactions, ${formatBytes(bytes)} shipped`);
    return 0;
  }, source.name);
}
