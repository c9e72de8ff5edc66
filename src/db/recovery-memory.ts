/**
 * Memory for replaying a restored database's log: the buffer cache of the server safepoint starts on a restored
 * PostgreSQL copy to replay its WAL and verify it (shared_buffers), and mariadb-backup's --use-memory when it
 * prepares a MariaDB backup (applies its redo log; its default is 100 MB). Recovery
 * applies each record to its page: with PostgreSQL's default 128 MB, a write-heavy load keeps evicting pages it
 * needs again a moment later (write out, read back). The benchmark's PITR replay of 576 MiB of pgbench WAL takes
 * 4.4 s with 128 MB and 2.2 s with 512 MB or more. The server is safepoint's own and lives for the verification
 * only, so it gets a quarter of the memory that is free now (and of the container's limit), at most 2 GiB and never
 * less than the default. Shared memory is touched only as pages are used: a large setting costs nothing unused.
 */
import { freemem, totalmem } from 'node:os';

const DEFAULT_MB = 128;
const MAX_MB = 2048;

/** Megabytes for a replay, from the memory of this machine (os.freemem, os.totalmem, process.constrainedMemory). */
export function recoveryBuffersMb(mem: { free: number; total: number; constrained?: number | undefined }): number {
  const limit = mem.constrained !== undefined && mem.constrained > 0 && mem.constrained < mem.total ? mem.constrained : mem.total;
  const mb = Math.floor(Math.min(mem.free, limit) / 4 / 1048576);
  return Math.max(DEFAULT_MB, Math.min(MAX_MB, mb));
}

/** The same, for this machine now. */
export function recoveryBuffersMbHere(): number {
  return recoveryBuffersMb({ free: freemem(), total: totalmem(), constrained: process.constrainedMemory?.() });
}
