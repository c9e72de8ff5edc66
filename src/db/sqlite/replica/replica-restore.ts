/**
 * Restoring a replicated SQLite database to a point in time: the newest generation whose base was taken before the
 * target, and its segments read up to the target, checked to form an unbroken chain, their frames applied in order
 * onto the base copy.
 */
import type { FileHandle } from 'node:fs/promises';
import type { Repository } from '../../../repo/repository.js';
import { loadSnapshots, type SnapshotWithId } from '../../../repo/snapshot.js';
import { readStream } from '../../../snapshot/stream-backup.js';
import { IntegrityError } from '../../../util/errors.js';
import { FRAMES_STREAM, REPLICA_TAG, type ReplicaBaseMeta, type ReplicaSegmentMeta } from './replicator.js';
import { WAL_HEADER, applyFrames } from './wal-format.js';

export interface ReplicaPoint {
  readonly base: SnapshotWithId & { meta: ReplicaBaseMeta };
  readonly segments: (SnapshotWithId & { meta: ReplicaSegmentMeta })[];
  /** The time the restored state is from (the last segment's read, else the base's). */
  readonly time: string;
}

const isBase = (s: SnapshotWithId): s is SnapshotWithId & { meta: ReplicaBaseMeta } => s.meta?.kind === 'sqlite' && s.meta.mode === 'replica-base';
const isSegment = (s: SnapshotWithId): s is SnapshotWithId & { meta: ReplicaSegmentMeta } => s.meta?.kind === 'sqlite' && s.meta.mode === 'replica-wal';

/** The replication entries of a source, oldest first. */
export async function replicaEntries(repo: Repository, sourceName: string): Promise<SnapshotWithId[]> {
  return loadSnapshots(repo, { source: sourceName, tags: [REPLICA_TAG] });
}

/** The newest replicated state at or before `target` (null: the latest), or null when nothing was replicated before it. */
export function replicaPoint(entries: readonly SnapshotWithId[], target: Date | null): ReplicaPoint | null {
  const t = target?.getTime() ?? Number.POSITIVE_INFINITY;
  const base = entries.filter(isBase).filter((s) => Date.parse(s.time) <= t).at(-1);
  return base ? pointFrom(entries, base, target) : null;
}

/** The state of `base`'s generation at `target` (null: as far as it was replicated). */
export function pointFrom(entries: readonly SnapshotWithId[], base: SnapshotWithId, target: Date | null): ReplicaPoint {
  if (!isBase(base)) throw new IntegrityError(`snapshot ${base.id.slice(0, 8)} is not the base of a replicated generation`);
  const t = target?.getTime() ?? Number.POSITIVE_INFINITY;
  const all = entries.filter(isSegment).filter((s) => s.meta.generation === base.meta.generation).sort((a, b) => a.meta.seq - b.meta.seq);
  const segments = all.filter((s) => Date.parse(s.meta.time) <= t);
  checkChain(base, segments);
  return { base, segments, time: segments.at(-1)?.meta.time ?? base.time };
}

/**
 * The segments must follow the base and each other without a hole: numbered 0, 1, 2...; the first starting where the
 * base's WAL ended (or at a restarted WAL's first frame); each next one where the previous ended, in the same WAL.
 */
export function checkChain(base: { meta: ReplicaBaseMeta; time: string }, segments: readonly { meta: ReplicaSegmentMeta }[]): void {
  let prev: ReplicaSegmentMeta | null = null;
  for (const [i, { meta: m }] of segments.entries()) {
    const gap = (why: string): IntegrityError =>
      new IntegrityError(`the replicated WAL of generation ${m.generation} has a gap at segment ${i} (${why}); the state of ${prev?.time ?? base.time} can be restored: pass an earlier --target-time`);
    if (m.seq !== i) throw gap(`segment ${i} is missing`);
    if (prev === null) {
      const sameWal = base.meta.wal !== null && base.meta.wal.salt1 === m.salt1 && base.meta.wal.salt2 === m.salt2;
      if (sameWal ? m.start !== base.meta.wal!.offset : m.start !== WAL_HEADER) throw gap(`it starts at byte ${m.start} of the WAL, the base ends at ${sameWal ? base.meta.wal!.offset : WAL_HEADER}`);
    } else if (m.salt1 !== prev.salt1 || m.salt2 !== prev.salt2 || m.start !== prev.end) {
      throw gap(`it starts at byte ${m.start}, the previous one ended at ${prev.end}${m.salt1 !== prev.salt1 ? ' of another WAL' : ''}`);
    }
    if (m.page_size !== base.meta.page_size && base.meta.page_size !== 0) throw gap(`page size ${m.page_size}, the base has ${base.meta.page_size}`);
    prev = m;
  }
}

/** Applies the segments' frames onto the base copy open in `fh`; returns the transactions applied. */
export async function applySegments(repo: Repository, point: ReplicaPoint, fh: FileHandle): Promise<number> {
  let commits = 0;
  for (const s of point.segments) {
    const parts: Buffer[] = [];
    for await (const b of readStream(repo, s, FRAMES_STREAM)) parts.push(b);
    const frames = Buffer.concat(parts);
    if (frames.length !== s.meta.end - s.meta.start) throw new IntegrityError(`segment ${s.meta.seq} of generation ${s.meta.generation} holds ${frames.length} bytes, ${s.meta.end - s.meta.start} were shipped`);
    await applyFrames(s.meta.page_size, frames, async (offset, page) => {
      for (let at = 0; at < page.length; ) at += (await fh.write(page, at, page.length - at, offset + at)).bytesWritten;
    }, (bytes) => fh.truncate(bytes));
    commits += s.meta.commits;
  }
  return commits;
}
