/**
 * MariaDB binlog archiving and replay (when the server writes binlogs, `log_bin = ON`): every closed binlog file is
 * stored in the source's repository as a small snapshot tagged `binlog`; a point-in-time restore applies, onto the
 * restored physical backup, the binlog events from the position the backup recorded up to the target time
 * (`mariadb-binlog --start-position --stop-datetime | mariadb`).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { MariadbSource } from '../../config/schema-sources.js';
import type { Repository } from '../../repo/repository.js';
import { loadSnapshots, type SnapshotWithId } from '../../repo/snapshot.js';
import { backupStreams, writeStreamChecked } from '../../snapshot/stream-backup.js';
import { IntegrityError, UserError, errorMessage } from '../../util/errors.js';
import { runCmd } from '../postgres/pg-process.js';
import { findTool, pipeInto, query, toolEnv, type MariadbEndpoint } from './mariadb-tools.js';

export const BINLOG_TAG = 'binlog';

export interface BinlogMeta {
  readonly kind: 'mariadb';
  readonly mode: 'binlog';
  readonly file: string;
  readonly size: number;
  readonly sha256: string;
}

export type BinlogEntry = SnapshotWithId & { meta: BinlogMeta };

export async function archivedBinlogs(repo: Repository, sourceName: string): Promise<BinlogEntry[]> {
  return (await loadSnapshots(repo, { source: sourceName, tags: [BINLOG_TAG] })).filter((s) => s.meta?.kind === 'mariadb' && s.meta.mode === 'binlog') as BinlogEntry[];
}

/** The sequence number of a binlog file name (`binlog.000012` → 12). */
export function binlogSeq(file: string): number {
  const m = /\.(\d+)$/.exec(file);
  return m ? Number(m[1]) : -1;
}

/**
 * Stores every closed binlog file the repository does not hold yet (after FLUSH BINARY LOGS when `flush`, so that
 * the one being written is closed too). Reads the files where the server keeps them (log_bin_basename): safepoint
 * runs on the database host for physical backups. `enabled: false` when the server writes no binlogs.
 */
export async function syncBinlogs(repo: Repository, source: MariadbSource, o: { flush: boolean }): Promise<{ enabled: boolean; stored: string[]; bytes: number }> {
  const [[logBin = 'OFF', base = ''] = []] = await query(source, 'SELECT @@log_bin, @@log_bin_basename');
  if (logBin !== '1' && logBin.toUpperCase() !== 'ON') return { enabled: false, stored: [], bytes: 0 };
  if (o.flush) await query(source, 'FLUSH BINARY LOGS');
  const logs = (await query(source, 'SHOW BINARY LOGS')).map((r) => ({ file: r[0]!, size: Number(r[1]) }));
  const closed = logs.slice(0, -1); // the last one is being written
  const have = new Set((await archivedBinlogs(repo, source.name)).map((e) => `${e.meta.file}:${e.meta.size}`));
  const dir = dirname(base);
  const stored: string[] = [];
  let bytes = 0;
  for (const l of closed) {
    if (have.has(`${l.file}:${l.size}`)) continue;
    let data: Buffer;
    try {
      data = await readFile(join(dir, basename(l.file)));
    } catch (err) {
      // purged meanwhile (expire_logs_days): nothing to keep, the next backup starts after it
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw new UserError(`cannot read binlog ${join(dir, l.file)}: ${errorMessage(err)} (run safepoint on the database host as root or the mysql user)`, { cause: err });
    }
    const meta: BinlogMeta = { kind: 'mariadb', mode: 'binlog', file: l.file, size: data.length, sha256: createHash('sha256').update(data).digest('hex') };
    await backupStreams(repo, [{ name: basename(l.file), data: [data] }], { source: source.name, tags: [BINLOG_TAG], meta: meta as unknown as Record<string, unknown>, paths: [join(dir, l.file)] });
    stored.push(l.file);
    bytes += data.length;
  }
  return { enabled: true, stored, bytes };
}

/** `2026-11-29 04:12:00` in UTC, as mariadb-binlog reads --stop-datetime (with TZ=UTC). */
function utcDatetime(d: Date): string {
  return d.toISOString().slice(0, 19).replace('T', ' ');
}

/**
 * Applies the archived binlog events from `from` (file and position the backup recorded) up to `until` to the
 * server at `endpoint` (a throwaway server on the restored copy). Checks that the archived files follow each other
 * without a gap. Resolves with the files applied.
 */
export async function replayBinlogs(repo: Repository, source: MariadbSource, endpoint: MariadbEndpoint, from: { file: string; position: number }, until: Date): Promise<string[]> {
  const entries = (await archivedBinlogs(repo, source.name)).filter((e) => binlogSeq(e.meta.file) >= binlogSeq(from.file));
  const byFile = new Map<string, BinlogEntry>();
  for (const e of entries) byFile.set(e.meta.file, e); // the newest copy of a name
  const files = [...byFile.values()].sort((a, b) => binlogSeq(a.meta.file) - binlogSeq(b.meta.file));
  if (files[0]?.meta.file !== from.file) throw new UserError(`binlog ${from.file}, where the backup ends, is not archived: run \`safepoint mariadb binlog-sync\` (or a backup) on the server, then restore again`);
  for (let i = 1; i < files.length; i++) {
    if (binlogSeq(files[i]!.meta.file) !== binlogSeq(files[i - 1]!.meta.file) + 1) throw new IntegrityError(`the archived binlogs have a gap after ${files[i - 1]!.meta.file}: events after it cannot be replayed; restore to a time before ${files[i]!.time}`);
  }
  const work = await mkdtemp(join(tmpdir(), 'safepoint-binlog-'));
  try {
    const paths: string[] = [];
    for (const e of files) {
      const path = join(work, basename(e.meta.file));
      if (!(await writeStreamChecked(repo, e, basename(e.meta.file), e.meta.sha256, path))) throw new IntegrityError(`archived binlog ${e.meta.file} does not match its recorded hash: run \`safepoint check --read-data\``);
      paths.push(path);
    }
    const tool = await findTool('binlog', source.bin_dir);
    // decoded into a file first, then fed to the client: streaming one tool into the other lost events now and then
    const script = join(work, 'replay.sql');
    await runCmd(tool, [`--start-position=${from.position}`, `--stop-datetime=${utcDatetime(until)}`, `--result-file=${script}`, ...paths], { what: 'mariadb-binlog', env: { ...(await toolEnv(source)), TZ: 'UTC' } });
    await pipeInto(endpoint, source.connection.database, createReadStream(script, { highWaterMark: 1 << 20 }));
    return files.map((f) => f.meta.file);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
