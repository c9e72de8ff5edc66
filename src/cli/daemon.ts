/** `safepoint daemon`: the scheduler, dashboard, API and metrics (src/daemon/). */
import type { Command } from 'commander';
import { join, resolve } from 'node:path';
import { parseDuration } from '../config/duration.js';
import { UsageError, errorMessage } from '../util/errors.js';
import { table } from '../util/format.js';
import { runtimeFlags } from '../util/malloc-env.js';
import { stateDir } from '../util/state-dir.js';
import type { Context } from './context.js';

interface DaemonFlags { listen?: string; stateDir?: string; jobTimeout: string; stopGrace: string; list?: boolean }

export function registerDaemon(program: Command, ctx: () => Context): void {
  program
    .command('daemon')
    .description('run the schedules of safepoint.yaml (backups per source, checks with a rotating read-data slice, drills, forget; defaults: data daily, check and drill weekly, forget daily), catching up a run missed while down, never two jobs on one source at once; serve the dashboard, the JSON API and Prometheus /metrics on daemon.listen (127.0.0.1:8765); alert on failures and violated objectives; SIGTERM lets the running job finish (or stops it cleanly) and exits')
    .option('--listen <host:port>', 'where the dashboard, API and /metrics listen (default daemon.listen, else 127.0.0.1:8765)')
    .option('--state-dir <dir>', 'where the daemon keeps what it ran (default $SAFEPOINT_STATE_DIR, $STATE_DIRECTORY, /var/lib/safepoint as root, else ~/.local/state/safepoint)')
    .option('--job-timeout <duration>', 'a job running longer is stopped', '6h')
    .option('--stop-grace <duration>', 'on SIGTERM, how long a running job may take to finish before it is stopped', '10m')
    .option('--list', 'print the jobs, their schedules and next runs, and exit')
    .action(async (f: DaemonFlags) => {
      process.exitCode = await runDaemon(ctx(), f);
    });
}

async function runDaemon(c: Context, f: DaemonFlags): Promise<number> {
  const cfg = await c.requireConfig();
  const { Daemon } = await import('../daemon/daemon.js');
  const { nextTime } = await import('../daemon/schedule.js');
  const timeoutMs = parseDuration(f.jobTimeout);
  const graceMs = parseDuration(f.stopGrace);
  if (timeoutMs <= 0) throw new UsageError('--job-timeout must be more than 0');
  const configPath = cfg.file;
  const folder = f.stateDir ? resolve(f.stateDir) : stateDir();
  const command = [process.execPath, ...runtimeFlags(), resolve(process.argv[1] ?? 'safepoint'), '--config', configPath,
    ...(c.opts.passwordFile ? ['--password-file', resolve(c.opts.passwordFile)] : [])];
  if (!f.list) {
    // the daemon and every job it runs log as JSON lines (pino) with their operation ids: by default into its state folder
    const asked = c.opts.logFile ?? (process.env.SAFEPOINT_LOG_FILE || undefined);
    const logFile = asked === 'none' ? 'none' : resolve(asked ?? join(folder, 'safepoint.jsonl'));
    if (logFile === 'none') command.push('--log-file', 'none');
    else if (!c.log) {
      try {
        const { openLog, rotateLog } = await import('./log.js');
        rotateLog(logFile);
        c.attachLog(openLog(logFile, c.opId));
        command.push('--log-file', logFile);
      } catch (err) {
        c.out.warn(`log file ${logFile} cannot be opened (${errorMessage(err)}): logging to the console only`);
      }
    } else command.push('--log-file', logFile);
  }
  // the console and (through it) the log: one line each
  const log = (level: 'info' | 'warn' | 'error', message: string, fields: Record<string, unknown> = {}): void => {
    if (c.out.json) c.out.event({ message_type: 'daemon', level, message, ...fields, time: new Date().toISOString() });
    else if (level === 'info') c.out.info(`${new Date().toISOString()} ${message}`);
    else c.out.warn(message);
  };
  const daemon = new Daemon({ c, cfg, command, stateFile: join(folder, `daemon-${cfg.project}.json`), listen: f.listen ?? cfg.daemon?.listen ?? '127.0.0.1:8765', timeoutMs, graceMs, log });
  if (f.list) {
    const now = new Date();
    for (const j of daemon.jobs) c.out.event({ message_type: 'job', id: j.id, kind: j.kind, cron: j.cron, args: j.args, sources: j.sources, next: nextTime(j.cron, now)?.toISOString() ?? null });
    c.out.info(table([['JOB', 'SCHEDULE', 'NEXT RUN', 'COMMAND'], ...daemon.jobs.map((j) => [j.id, j.cron, nextTime(j.cron, now)?.toISOString() ?? '-', `safepoint ${j.args.join(' ')}`])]));
    return 0;
  }
  // signals are heard from the start (caught-up jobs may be spawning); a second one stops the running jobs at once
  let stopping: Promise<void> | null = null;
  let stopped!: () => void;
  const done = new Promise<void>((r) => (stopped = r));
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log('warn', `${signal} again: stopping the running jobs now`);
      void daemon.stop(0);
      return;
    }
    log('info', `${signal}: no new jobs; waiting for the running one (up to ${f.stopGrace}), then exiting`);
    stopping = daemon.stop().then(stopped);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    const { url } = await daemon.start();
    log('info', `safepoint daemon for ${cfg.project}: ${daemon.jobs.length} jobs; dashboard, API and /metrics on ${url}`, { url });
    await done;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
  log('info', 'stopped');
  return 0;
}
