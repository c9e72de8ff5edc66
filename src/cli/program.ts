import { Command, CommanderError } from 'commander';
import { SafepointError, ExitCode, isErrno, errorMessage } from '../util/errors.js';
import { stripCredentials } from '../util/secret.js';
import { VERSION } from '../version.js';
import { Context, type GlobalOptions } from './context.js';
import { defaultLogFile, openLog, rotateLog } from './log.js';

type Register = (program: Command, ctx: () => Context) => void;

/**
 * The modules of commands, in the order `--help` lists them, with the top-level commands each defines. A run
 * loads only the module of the command it runs: every module loaded at start cost every command (a WAL segment's
 * `pg archive-push`, a git hook) about 0.1 s for 140 modules, where one command needs 10 to 60.
 */
export const COMMAND_MODULES: readonly { readonly commands: readonly string[]; readonly load: () => Promise<readonly Register[]> }[] = [
  { commands: ['init'], load: async () => [(await import('./init.js')).registerInit] },
  { commands: ['backup'], load: async () => [(await import('./backup.js')).registerBackup] },
  { commands: ['restore'], load: async () => [(await import('./restore.js')).registerRestore] },
  { commands: ['snapshots', 'ls', 'diff', 'stats'], load: async () => [(await import('./inspect.js')).registerInspect] },
  { commands: ['check', 'repair'], load: async () => {
    const m = await import('./check.js');
    return [m.registerCheck, m.registerRepair];
  } },
  { commands: ['forget', 'prune', 'unlock'], load: async () => [(await import('./forget.js')).registerForget] },
  { commands: ['key'], load: async () => [(await import('./key.js')).registerKey] },
  { commands: ['sync', 'copy'], load: async () => [(await import('./sync.js')).registerSync] },
  { commands: ['storage'], load: async () => [(await import('./storage.js')).registerStorage] },
  { commands: ['pg'], load: async () => [(await import('./pg.js')).registerPg] },
  { commands: ['replicate'], load: async () => [(await import('./replicate.js')).registerReplicate] },
  { commands: ['mariadb'], load: async () => [(await import('./mariadb.js')).registerMariadb] },
  { commands: ['audit'], load: async () => [(await import('./audit.js')).registerAudit] },
  { commands: ['scan'], load: async () => [(await import('./scan.js')).registerScan] },
  { commands: ['point'], load: async () => [(await import('./point.js')).registerPoint] },
  { commands: ['hooks'], load: async () => [(await import('./hooks.js')).registerHooks] },
  // deploy.ts defines `rollback` (rollback deploy); rollback.ts and rollback-attack.ts add `data` and `attack` to it
  { commands: ['deploy', 'rollback', 'releases'], load: async () => [(await import('./deploy.js')).registerDeploy, (await import('./rollback.js')).registerRollback, (await import('./rollback-attack.js')).registerRollbackAttack] },
  { commands: ['status'], load: async () => [(await import('./status.js')).registerStatus] },
  { commands: ['drill'], load: async () => [(await import('./drill.js')).registerDrill] },
  { commands: ['journal'], load: async () => [(await import('./journal.js')).registerJournal] },
  { commands: ['daemon'], load: async () => [(await import('./daemon.js')).registerDaemon] },
  { commands: ['report'], load: async () => [(await import('./report.js')).registerReport] },
  { commands: ['runbook'], load: async () => [(await import('./runbook.js')).registerRunbook] },
  { commands: ['demo'], load: async () => [(await import('./demo.js')).registerDemo] },
];

/** Global options that take a value (the command is the first word that is neither one of them nor an option). */
const VALUE_OPTIONS = new Set(['-r', '--repo', '-p', '--password-file', '-c', '--config', '--log-file']);

/** The command an argv runs (`backup` in `safepoint --repo R backup .`), or undefined (none, help, an option). */
export function commandOf(argv: readonly string[]): string | undefined {
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') return undefined;
    if (VALUE_OPTIONS.has(a)) i++;
    else if (!a.startsWith('-')) return a;
  }
  return undefined;
}

/**
 * Builds the command tree: with `argv`, only the module of the command it runs (all of them for help, an unknown
 * command or none); exported for tests.
 */
export async function buildProgram(argv?: readonly string[]): Promise<Command> {
  const program = new Command();
  program
    .name('safepoint')
    .description('Backup, restore and rollback: encrypted, deduplicated snapshots of files and databases, on local disks, S3 and SFTP.')
    .version(VERSION, '-V, --version')
    .option('-r, --repo <repo>', 'repository: a path, a URL, or a repository name from the config (env SAFEPOINT_REPO)')
    .option('-p, --password-file <file>', 'read the repository password from a file (env SAFEPOINT_PASSWORD_FILE, or SAFEPOINT_PASSWORD)')
    .option('-c, --config <file>', 'configuration file (env SAFEPOINT_CONFIG, default ./safepoint.yaml when present)')
    .option('--json', 'machine-readable output: one JSON object per line')
    .option('-q, --quiet', 'print only warnings and errors')
    .option('--log-file <file>', 'append the structured JSON log (pino) of the run to this file, every line with the operation id (env SAFEPOINT_LOG_FILE); operations log to safepoint.jsonl in the state folder by default; "none" for no log')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  // one context per run: the journal entry and the log's end line read what the command said through it
  let context: Context | undefined;
  const ctx = (): Context => (context ??= newContext(program.opts<GlobalOptions>()));
  program.hook('preAction', (_root, action) => {
    const c = ctx();
    const names: string[] = [];
    for (let cmd: Command | null = action; cmd && cmd !== program; cmd = cmd.parent) names.unshift(cmd.name());
    const args = action.args.filter((a): a is string => typeof a === 'string');
    const command = names[0] === 'restore' && args[0] === 'code' ? 'restore code' : names.join(' ');
    const inputs = redact({ ...action.opts(), ...(args.length > 0 ? { args } : {}) });
    // copy writes into --to: its journal is there
    const repository = command === 'copy' ? (action.opts() as { to?: string }).to : undefined;
    const run: Run = { context: c, command, inputs, ...(repository ? { repository } : {}) };
    runs.set(program, run);
    if (!c.log && (JOURNALED.has(command) || LOGGED.has(command))) attachDefaultLog(c);
    c.log?.start(command, inputs);
    // stopped from outside (the daemon's timeout, systemd, Ctrl-C): the journal and the log still say so; the
    // repository needs nothing more (crash-safe), a stale lock of this host is removed by the next run
    if (JOURNALED.has(command)) {
      const onSignal = (signal: NodeJS.Signals): void => {
        const code = signal === 'SIGINT' ? 130 : 143;
        process.stderr.write(`error: interrupted by ${signal}\n`);
        const force = setTimeout(() => process.exit(code), 10_000);
        force.unref();
        void finish(run, code, `interrupted by ${signal}`).catch(() => undefined).finally(() => process.exit(code));
      };
      process.once('SIGTERM', onSignal);
      process.once('SIGINT', onSignal);
    }
  });
  const wanted = argv === undefined ? undefined : commandOf(argv);
  const owner = COMMAND_MODULES.filter((m) => wanted !== undefined && m.commands.includes(wanted));
  for (const m of owner.length > 0 ? owner : COMMAND_MODULES) for (const register of await m.load()) register(program, ctx);
  for (const c of program.commands) c.exitOverride();
  return program;
}

/** What the command being run is, for its journal entry and log. */
interface Run { readonly context: Context; readonly command: string; readonly inputs: Record<string, unknown>; readonly repository?: string }
const runs = new WeakMap<Command, Run>();
const finished = new WeakSet<Run>();

function newContext(opts: GlobalOptions): Context {
  const c = new Context(opts);
  const file = explicitLogFile(opts);
  if (file && file !== 'none') {
    // a log that cannot be written costs the log, never the operation
    try {
      c.attachLog(openLog(file, c.opId, (err) => {
        c.out.sink = null;
        c.log = null;
        c.out.warn(`log file ${file}: ${errorMessage(err)}: logging stopped for this run`);
      }));
    } catch (err) {
      c.out.warn(`log file ${file} cannot be opened (${errorMessage(err)}): no log for this run`);
    }
  }
  return c;
}

/** The log file asked for with --log-file or SAFEPOINT_LOG_FILE (`none`: no log at all), else undefined. */
function explicitLogFile(opts: GlobalOptions): string | undefined {
  return opts.logFile ?? (process.env.SAFEPOINT_LOG_FILE || undefined);
}

/**
 * Operations (these and the journaled ones) log by default (the journal says what happened, the log how: every line the run printed, its warnings,
 * its events): into safepoint.jsonl in the state folder, which the daemon and its jobs share.
 */
const LOGGED: ReadonlySet<string> = new Set(['check', 'drill', 'rollback data', 'rollback attack', 'scan', 'replicate', 'mariadb binlog-sync']);

function attachDefaultLog(c: Context): void {
  if (explicitLogFile(c.opts) !== undefined) return;
  try {
    const file = defaultLogFile();
    rotateLog(file);
    // a default log that cannot be written (a read-only home, no state folder) is not worth a warning on every run
    c.attachLog(openLog(file, c.opId, () => {
      c.out.sink = null;
      c.log = null;
    }));
  } catch {
    // no log for this run
  }
}

/**
 * Options and arguments as recorded in the journal and the log: no option named like a secret, and no credential
 * written into a value (`s3:https://KEY:SECRET@host/...`).
 */
function redact(o: Record<string, unknown>): Record<string, unknown> {
  const clean = (v: unknown): unknown => (typeof v === 'string' ? stripCredentials(v) : Array.isArray(v) ? v.map(clean) : v);
  return Object.fromEntries(Object.entries(o).filter(([k]) => !/password|secret|token|key/i.test(k)).map(([k, v]) => [k, clean(v)]));
}

/**
 * Operations that change something, recorded in the journal by main() when they end (others journal themselves
 * with their own figures: check, drill, rollback data / attack).
 */
const JOURNALED: ReadonlySet<string> = new Set(['backup', 'restore', 'restore code', 'forget', 'prune', 'deploy', 'rollback deploy', 'copy', 'sync', 'repair index', 'repair revert', 'key add', 'key remove', 'key passwd', 'point create']);

async function finish(run: Run | undefined, code: number, error?: string): Promise<void> {
  // once per run: a signal and the command's own end may both get here
  if (!run || finished.has(run)) return;
  finished.add(run);
  run.context.log?.end(code === 0 ? 'ok' : 'failed', code, error);
  // forget --all journals each source in its own repository as it goes (cli/forget.ts)
  if (!JOURNALED.has(run.command) || run.inputs.dryRun === true || (run.command === 'forget' && run.inputs.all === true)) return;
  // a failure may be the storage itself: journal it without waiting through the retries a second time
  if (code !== 0) run.context.retriesOverride = 0;
  const { recordOperation } = await import('./journal-record.js');
  const summary = run.context.out.lastSummary;
  const figures: Record<string, unknown> = summary ? Object.fromEntries(Object.entries(summary).filter(([k]) => k !== 'message_type' && k !== 'event_version')) : {};
  // a deploy's scripts, with what they printed (the release record keeps them too)
  if (run.context.out.scripts.length > 0) figures.scripts = run.context.out.scripts.map(({ message_type: _t, event_version: _v, ...rest }) => rest);
  const source = typeof run.inputs.source === 'string' ? run.inputs.source : undefined;
  await recordOperation(run.context, {
    operation: run.command,
    op_id: run.context.opId,
    source: source ?? null,
    started: run.context.started.toISOString(),
    result: code === 0 || code === ExitCode.incomplete ? 'ok' : 'failed',
    ...(error ? { error } : code === ExitCode.incomplete ? { error: 'some files could not be read' } : {}),
    inputs: run.inputs,
    figures,
  }, { ...(source ? { source } : { repository: run.repository ?? (await run.context.journalRepository()) }), quiet: code !== 0 });
}

export async function main(argv: string[]): Promise<number> {
  const program = await buildProgram(argv);
  let code: number;
  let error: string | undefined;
  try {
    await program.parseAsync(argv);
    code = typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    code = report(err);
    error = err instanceof Error ? err.message.split('\n')[0] : String(err);
  }
  // the journal entry and the log's last line come after the command's own last word
  await finish(runs.get(program), code, error).catch(() => undefined);
  return code;
}

/** Prints an error the way the user should see it and returns the exit code. */
function report(err: unknown): number {
  if (err instanceof CommanderError) {
    // help and version "errors" are normal exits; commander already printed the message
    return err.exitCode === 0 ? 0 : ExitCode.usage;
  }
  // a progress line may still be on the terminal: the message starts on a clean line
  const clear = process.stderr.isTTY ? '\r\x1b[2K' : '';
  if (err instanceof SafepointError) {
    process.stderr.write(`${clear}error: ${err.message}\n`);
    return err.exitCode;
  }
  if (isErrno(err, ...SYSTEM_ERRORS)) {
    process.stderr.write(`${clear}error: ${systemMessage(err)}\n`);
    return ExitCode.failure;
  }
  process.stderr.write(`${clear}internal error (please report): ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  return ExitCode.failure;
}

const SYSTEM_ERRORS = ['ENOSPC', 'EDQUOT', 'EACCES', 'EPERM', 'EROFS', 'ENOENT', 'ENOTDIR', 'EISDIR', 'EIO', 'EMFILE', 'ENAMETOOLONG', 'ELOOP'];

/** "no space left on device: /backups/data/ab/..." rather than Node's "ENOSPC: no space left on device, write". */
function systemMessage(err: NodeJS.ErrnoException): string {
  const text = err.message.replace(/^[A-Z]+: /, '').replace(/, \w+ '.*'$/, '').replace(/, \w+$/, '');
  const hint = err.code === 'ENOSPC' || err.code === 'EDQUOT' ? ' (free some space; the repository is unchanged where the write failed)' : '';
  return `${text}${err.path ? `: ${err.path}` : ''}${hint}`;
}
