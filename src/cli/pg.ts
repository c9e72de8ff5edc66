/**
 * `safepoint pg`: the PostgreSQL WAL archive. archive-push is the server's archive_command, archive-get its
 * restore_command, check proves the whole chain works (forces a WAL switch and waits for the segment to arrive).
 */
import type { Command } from 'commander';
import { resolve } from 'node:path';
import type { LoadedConfig } from '../config/load.js';
import { pickSource } from '../config/lookup.js';
import { shellWord } from '../util/shell.js';
import type { PostgresSource } from '../config/schema-sources.js';
import { UsageError, UserError, errorMessage } from '../util/errors.js';
import { formatBytes, formatSeconds } from '../util/format.js';
import type { Context } from './context.js';

/**
 * The command line of `safepoint pg archive-get %f %p` for restore_command: this program, the same config and
 * password file, the source named.
 */
export function archiveGetCommand(c: Context, source: PostgresSource): string {
  const config = resolve(c.opts.config ?? c.env.SAFEPOINT_CONFIG ?? 'safepoint.yaml');
  const words = [process.execPath, resolve(process.argv[1] ?? 'safepoint'), '--config', config];
  const passwordFile = c.opts.passwordFile ?? c.env.SAFEPOINT_PASSWORD_FILE;
  if (passwordFile !== undefined) words.push('--password-file', resolve(passwordFile));
  return `${words.map(shellWord).join(' ')} pg archive-get %f %p --source ${shellWord(source.name)}`;
}

/** The PostgreSQL source a pg command works on: --source, else the only one with wal_archiving. */
function archivingSource(cfg: LoadedConfig, name: string | undefined): PostgresSource {
  return pickSource(cfg, name, 'postgres', (s) => s.wal_archiving, 'wal_archiving: true');
}

export function registerPg(program: Command, ctx: () => Context): void {
  const pg = program.command('pg').description('PostgreSQL WAL archiving: archive_command, restore_command and an end-to-end check');

  pg.command('archive-push')
    .description("store one WAL file in the source's repository (archive_command = 'safepoint pg archive-push %p'); pushing the same file again succeeds")
    .argument('<path>', 'the WAL file (%p, relative to the data directory)')
    .option('--source <name>', 'the PostgreSQL source (default: the only one with wal_archiving)')
    .action(async (path: string, f: { source?: string }) => {
      const c = ctx();
      const source = archivingSource(await c.requireConfig(), f.source);
      const { pushWal } = await import('../db/postgres/wal-archive.js');
      process.exitCode = await c.withRepository('archive-push', 'shared', async (repo) => {
        const r = await pushWal(repo, source, path);
        c.out.event({ message_type: 'summary', file: r.file, stored: r.stored, bytes: r.bytes, source: source.name });
        c.out.info(r.stored ? `${r.file} archived (${formatBytes(r.bytes)})` : `${r.file} was already archived with the same contents`);
        return 0;
      }, source.name);
    });

  pg.command('archive-get')
    .description("write an archived WAL file where the server asks (restore_command = 'safepoint pg archive-get %f %p'); exit 1 when the archive does not hold it")
    .argument('<file>', 'the WAL file name (%f)')
    .argument('<dest>', 'where to write it (%p)')
    .option('--source <name>', 'the PostgreSQL source (default: the only one with wal_archiving)')
    .action(async (file: string, dest: string, f: { source?: string }) => {
      const c = ctx();
      const source = archivingSource(await c.requireConfig(), f.source);
      const { getWal } = await import('../db/postgres/wal-archive.js');
      process.exitCode = await c.withRepository('archive-get', 'none', async (repo) => {
        const found = await getWal(repo, source, file, dest);
        c.out.event({ message_type: 'summary', file, found, source: source.name });
        if (!found) {
          // normal at the end of recovery: the server asks for the next file until there is none
          process.stderr.write(`${file} is not in the WAL archive of source ${source.name}\n`);
          return 1;
        }
        c.out.info(`${file} restored to ${dest}`);
        return 0;
      }, source.name);
    });

  pg.command('check')
    .description('check WAL archiving end to end: the server settings, then a forced WAL switch whose segment must arrive in the repository')
    .option('--source <name>', 'the PostgreSQL source (default: the only one with wal_archiving)')
    .option('--timeout <seconds>', 'how long to wait for the segment', '60')
    .action(async (f: { source?: string; timeout: string }) => {
      const c = ctx();
      const source = archivingSource(await c.requireConfig(), f.source);
      const timeout = Number(f.timeout);
      if (!(timeout > 0)) throw new UsageError(`--timeout ${f.timeout}: expected a number of seconds`);
      const { checkArchiving } = await import('../db/postgres/wal-check.js');
      process.exitCode = await c.withRepository('pg check', 'none', async (repo) => {
        const r = await checkArchiving(repo, source, timeout * 1000);
        c.out.event({ message_type: 'summary', ...r, source: source.name });
        c.out.info(`archive_mode ${r.archive_mode}, archive_command ${r.archive_command}`);
        c.out.info(`WAL segment ${r.segment} arrived in the repository ${formatSeconds(r.seconds)} after the switch: archiving works`);
        return 0;
      }, source.name).catch((err: unknown) => {
        if (err instanceof UserError) throw err;
        throw new UserError(`pg check of source ${source.name} failed: ${errorMessage(err)}`, { cause: err });
      });
    });
}
