import { Command, CommanderError } from 'commander';
import { SafepointError, ExitCode, isErrno } from '../util/errors.js';
import { VERSION } from '../version.js';
import { Context, type GlobalOptions } from './context.js';
import { registerInit } from './init.js';
import { registerBackup } from './backup.js';
import { registerRestore } from './restore.js';
import { registerInspect } from './inspect.js';
import { registerCheck, registerRepair } from './check.js';
import { registerForget } from './forget.js';
import { registerKey } from './key.js';
import { registerDemo } from './demo.js';
import { registerStorage } from './storage.js';
import { registerSync } from './sync.js';
import { registerPg } from './pg.js';
import { registerReplicate } from './replicate.js';
import { registerMariadb } from './mariadb.js';
import { registerAudit } from './audit.js';
import { registerScan } from './scan.js';
import { registerPoint } from './point.js';
import { registerHooks } from './hooks.js';
import { registerDeploy } from './deploy.js';
import { registerStatus } from './status.js';
import { registerDrill } from './drill.js';
import { registerRollback } from './rollback.js';
import { registerRollbackAttack } from './rollback-attack.js';
import { registerJournal } from './journal.js';
import { registerReport } from './report.js';
import { registerRunbook } from './runbook.js';

/** Builds the command tree; exported for tests. */
export function buildProgram(): Command {
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
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  const ctx = (): Context => new Context(program.opts<GlobalOptions>());
  registerInit(program, ctx);
  registerBackup(program, ctx);
  registerRestore(program, ctx);
  registerInspect(program, ctx);
  registerCheck(program, ctx);
  registerRepair(program, ctx);
  registerForget(program, ctx);
  registerKey(program, ctx);
  registerSync(program, ctx);
  registerStorage(program, ctx);
  registerPg(program, ctx);
  registerReplicate(program, ctx);
  registerMariadb(program, ctx);
  registerAudit(program, ctx);
  registerScan(program, ctx);
  registerPoint(program, ctx);
  registerHooks(program, ctx);
  registerDeploy(program, ctx);
  registerStatus(program, ctx);
  registerDrill(program, ctx);
  registerRollback(program, ctx);
  registerRollbackAttack(program, ctx);
  registerJournal(program, ctx);
  registerReport(program, ctx);
  registerRunbook(program, ctx);
  registerDemo(program, ctx);
  for (const c of program.commands) c.exitOverride();
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and version "errors" are normal exits; commander already printed the message
      return err.exitCode === 0 ? 0 : ExitCode.usage;
    }
    if (err instanceof SafepointError) {
      process.stderr.write(`${process.stderr.isTTY ? '\r\x1b[2K' : ''}error: ${err.message}\n`);
      return err.exitCode;
    }
    if (isErrno(err, ...SYSTEM_ERRORS)) {
      process.stderr.write(`error: ${systemMessage(err)}\n`);
      return ExitCode.failure;
    }
    process.stderr.write(`internal error (please report): ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return ExitCode.failure;
  }
}

const SYSTEM_ERRORS = ['ENOSPC', 'EDQUOT', 'EACCES', 'EPERM', 'EROFS', 'ENOENT', 'ENOTDIR', 'EISDIR', 'EIO', 'EMFILE', 'ENAMETOOLONG', 'ELOOP'];

/** "no space left on device: /backups/data/ab/..." rather than Node's "ENOSPC: no space left on device, write". */
function systemMessage(err: NodeJS.ErrnoException): string {
  const text = err.message.replace(/^[A-Z]+: /, '').replace(/, \w+ '.*'$/, '').replace(/, \w+$/, '');
  const hint = err.code === 'ENOSPC' || err.code === 'EDQUOT' ? ' (free some space; the repository is unchanged where the write failed)' : '';
  return `${text}${err.path ? `: ${err.path}` : ''}${hint}`;
}
