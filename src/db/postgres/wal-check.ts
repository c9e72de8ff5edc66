/**
 * `safepoint pg check`: proves WAL archiving works end to end. The server must archive (archive_mode on, an
 * archive_command calling safepoint pg archive-push); a forced WAL switch completes a segment, which must then
 * arrive in the repository. A failure says what the archiver reported (pg_stat_archiver).
 */
import type { PostgresSource } from '../../config/schema-sources.js';
import type { Repository } from '../../repo/repository.js';
import { UserError } from '../../util/errors.js';
import { describePostgres } from './logical.js';
import { psql } from './pg-tools.js';
import { walEntries } from './wal-archive.js';

export interface ArchiveCheck {
  readonly archive_mode: string;
  readonly archive_command: string;
  readonly segment: string;
  readonly seconds: number;
}

export async function checkArchiving(repo: Repository, source: PostgresSource, timeoutMs: number): Promise<ArchiveCheck> {
  const where = describePostgres(source);
  if (!source.wal_archiving) throw new UserError(`source ${source.name} does not have wal_archiving: true: set it, and archive_command on the server`);
  const [[mode = '', command = '', recovery = ''] = []] = await psql(source, source.connection.database, "SELECT current_setting('archive_mode'), current_setting('archive_command'), pg_catalog.pg_is_in_recovery();");
  if (mode !== 'on' && mode !== 'always') {
    throw new UserError(`${where} has archive_mode = ${mode}: set archive_mode = on and archive_command = 'safepoint pg archive-push %p --source ${source.name}' in postgresql.conf, then restart the server`);
  }
  if (!/archive-push/.test(command)) {
    throw new UserError(`${where} archives with ${JSON.stringify(command)}, not safepoint: set archive_command = 'safepoint pg archive-push %p --source ${source.name}' and reload`);
  }
  if (recovery === 't') throw new UserError(`${where} is a standby: run pg check against the primary`);
  const started = Date.now();
  // the segment just completed by the switch (pg_switch_wal returns the end of the switch record + 1)
  const [[segment = ''] = []] = await psql(source, source.connection.database, 'SELECT pg_catalog.pg_walfile_name(pg_catalog.pg_switch_wal());');
  for (;;) {
    if ((await walEntries(repo, source.name)).some((e) => e.meta.file === segment)) {
      return { archive_mode: mode, archive_command: command, segment, seconds: (Date.now() - started) / 1000 };
    }
    if (Date.now() - started > timeoutMs) {
      const [[failed = '', failedAt = '', lastOk = ''] = []] = await psql(source, source.connection.database, 'SELECT coalesce(last_failed_wal, \'\'), coalesce(last_failed_time::text, \'\'), coalesce(last_archived_wal, \'\') FROM pg_catalog.pg_stat_archiver;');
      const why = failed !== '' ? `the server's last failed archive was ${failed} at ${failedAt} (see the server log for archive_command's error)` : `the last segment archived was ${lastOk || 'none'}`;
      throw new UserError(`WAL segment ${segment} did not arrive in the repository within ${Math.round(timeoutMs / 1000)} s: ${why}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}
