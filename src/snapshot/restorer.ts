import { chmod, lchown, link, lstat, lutimes, mkdir, open, readdir, rm, symlink, unlink, utimes } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import type { BlobLoader } from '../repo/repository.js';
import type { BlobLocation } from '../repo/index-file.js';
import { RestorePlan, type EntryMeta, type PlannedBlob } from './restore-plan.js';
import { workerCount } from '../util/threads.js';
import { dataRuns } from '../util/small-files.js';
import { RestoreWriters } from './restore-writers.js';
import type { ChunkWrite, SmallFile, WriteItem } from './restore-batch.js';
import { ByteBudget, Semaphore } from '../util/concurrency.js';
import { IntegrityError, UserError, errorMessage, isErrno } from '../util/errors.js';

const run = promisify(execFile);

/** What the restorer needs from the repository. */
export type RestorerRepo = BlobLoader & {
  blobId(plain: Uint8Array): string;
  locate(id: string): readonly BlobLocation[];
  readPack(pack: string, offset: number, length: number): Promise<Buffer>;
  decodeBlob(id: string, loc: BlobLocation, box: Buffer): Buffer;
  readonly key: { readonly encKey: Buffer; readonly macKey: Buffer };
  /** Frees cached trees: the plan has read them all. */
  dropTreeCache?(): void;
  /** Packs come from a local disk (smaller reads than from a network target); local when not told. */
  readonly localTarget?: boolean;
};

export interface RestoreOptions {
  readonly target: string;
  readonly include?: readonly string[];
  readonly exclude?: readonly string[];
  readonly overwrite?: boolean;
  readonly verify?: boolean;
  readonly onProgress?: (p: RestoreProgress) => void;
  readonly onError?: (path: string, message: string) => void;
}

export interface RestoreProgress {
  files: number;
  bytes: number;
  totalFiles: number;
  totalBytes: number;
}

export interface RestoreResult {
  readonly files: number;
  readonly dirs: number;
  readonly bytes: number;
  readonly errors: string[];
  readonly verified: number;
}

const PACK_CONCURRENCY = 3;
const WRITE_CONCURRENCY = 8;
/** Files of one blob up to this size are written by the writers (restore-writers.ts). */
const SMALL_FILE = 1024 * 1024;
/** Blobs of one pack closer than this are fetched in one read... */
const MAX_GAP = 1024 * 1024;

/**
 * ...of at most `maxRead` bytes (a larger blob is a read of its own), with at most `inFlight` bytes read and not yet
 * written: the restore's memory. Every read stays in memory until its blobs are decoded and written, and a writer
 * thread frees what it was sent only at its next collection.
 * - A local disk: reads of 2 MiB, 6 MiB in flight. On the 1.5 GB benchmark, 194–201 MiB peak RSS against 210–225
 *   for 4 and 12 MiB, for 2–3 % more time (4 and 8, or 1 and 4, were no better: the writers' garbage decides).
 * - A network target: reads of 4 MiB, 12 MiB in flight, where each request's round trip counts. Three of them keep
 *   a loopback Ceph RGW as busy as whole packs (1.5 GB in 10.2 and 11.0 s, whole packs 10.4 s).
 */
const PACK_READS = {
  local: { maxRead: 2 * 1024 * 1024, inFlight: 6 * 1024 * 1024 },
  network: { maxRead: 4 * 1024 * 1024, inFlight: 12 * 1024 * 1024 },
} as const;

/** Restores a tree into `target`. Never writes outside it; metadata is applied after contents. */
export async function restoreTree(repo: RestorerRepo, treeId: string, options: RestoreOptions): Promise<RestoreResult> {
  await prepareTarget(options.target, options.overwrite ?? false);
  const plan = await RestorePlan.build(repo, treeId, options);
  repo.dropTreeCache?.();
  const overwrite = options.overwrite ?? false;
  const errors: string[] = [];
  const fail = (e: number, err: unknown): void => {
    const rel = plan.rel(e);
    const msg = errorMessage(err);
    errors.push(`${rel}: ${msg}`);
    options.onError?.(rel, msg);
  };
  const pathOf = (e: number): string => join(options.target, plan.rel(e));
  const progress: RestoreProgress = { files: 0, bytes: 0, totalFiles: 0, totalBytes: 0 };
  const laterLink = new Set(plan.laterLinks.map(([e]) => e));
  const firstCopies: number[] = [];
  let dirs = 0;
  for (let e = 0; e < plan.count; e++) {
    if (plan.isDir(e)) dirs++;
    if (!plan.isFile(e)) continue;
    progress.totalFiles++;
    progress.totalBytes += plan.size(e);
    if (!laterLink.has(e)) firstCopies.push(e);
  }

  // 1. directories, top-down (each parent is a real directory we made or checked, so nothing follows a link out)
  for (let e = 0; e < plan.count; e++) {
    if (plan.isDir(e)) await ensureDir(pathOf(e), overwrite).catch((err: unknown) => fail(e, err));
  }
  // 2. files (in parallel), hard links after the first copy, then symlinks and special files
  await writeFiles(repo, plan, firstCopies, options, progress, fail);
  for (const [e, first] of plan.laterLinks) {
    const dst = pathOf(e);
    await replace(dst, overwrite)
      .then(() => link(pathOf(first), dst))
      .catch((err: unknown) => fail(e, err));
  }
  for (let e = 0; e < plan.count; e++) {
    if (plan.isFile(e) || plan.isDir(e)) continue;
    await restoreSpecial(pathOf(e), plan.meta(e), overwrite).catch((err: unknown) => fail(e, err));
  }
  // 3. directory metadata, deepest first (writing children changes a directory's mtime)
  for (let e = plan.count - 1; e >= 0; e--) {
    if (plan.isDir(e)) await applyMeta(pathOf(e), plan.meta(e)).catch((err: unknown) => fail(e, err));
  }
  let verified = 0;
  if (options.verify) {
    for (const e of firstCopies) {
      try {
        await verifyFile(repo, pathOf(e), plan, e);
        verified++;
      } catch (err) {
        fail(e, err);
      }
    }
  }
  return { files: progress.files + plan.laterLinks.length, dirs, bytes: progress.bytes, errors, verified };
}

async function prepareTarget(target: string, overwrite: boolean): Promise<void> {
  try {
    const st = await lstat(target);
    if (!st.isDirectory()) throw new UserError(`restore target ${target} exists and is not a directory`);
    if (!overwrite && (await readdir(target)).length > 0) {
      throw new UserError(`restore target ${target} is not empty: choose an empty folder or pass --overwrite`);
    }
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err;
    await mkdir(target, { recursive: true });
  }
}

async function ensureDir(path: string, overwrite: boolean): Promise<void> {
  try {
    const st = await lstat(path);
    if (st.isDirectory()) return;
    if (!overwrite) throw new UserError(`${path} exists and is not a directory (pass --overwrite)`);
    await unlink(path);
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err;
  }
  await mkdir(path, { mode: 0o700 });
}

/** Removes whatever is at path (never following it), so the new entry is created fresh. */
async function replace(path: string, overwrite: boolean): Promise<void> {
  try {
    const st = await lstat(path);
    if (!overwrite) throw new UserError(`${path} already exists (pass --overwrite)`);
    await rm(path, { recursive: st.isDirectory(), force: true });
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err;
  }
}

/** Writes a chunk at its offset into a freshly created file, leaving runs of zeros as holes; returns the extent. */
async function writeChunk(fh: FileHandle, data: Buffer, offset: number): Promise<number> {
  let extent = 0;
  for (const [start, end] of dataRuns(data)) {
    for (let done = start; done < end; ) done += (await fh.write(data, done, end - done, offset + done)).bytesWritten;
    extent = offset + end;
  }
  return extent;
}

async function restoreSpecial(path: string, node: EntryMeta, overwrite: boolean): Promise<void> {
  await replace(path, overwrite);
  switch (node.type) {
    case 'symlink':
      await symlink(node.target ?? '', path);
      break;
    case 'fifo':
      await run('mkfifo', ['-m', (node.mode & 0o777).toString(8), path]);
      break;
    case 'chardev':
    case 'blockdev': {
      const rdev = node.rdev ?? 0;
      const major = (rdev >> 8) & 0xfff;
      const minor = (rdev & 0xff) | ((rdev >> 12) & 0xfff00);
      await run('mknod', [path, node.type === 'chardev' ? 'c' : 'b', String(major), String(minor)]);
      break;
    }
    case 'socket':
      return; // sockets belong to a running process; like restic we do not recreate them
    default:
      return;
  }
  await applyMeta(path, node);
}

/** Owner (when permitted), mode and times. Symlinks get owner and times only. */
async function applyMeta(path: string, node: EntryMeta): Promise<void> {
  try {
    await lchown(path, node.uid, node.gid);
  } catch (err) {
    if (!isErrno(err, 'EPERM', 'EINVAL')) throw err; // not root: keep our own ownership, as restic does
  }
  if (node.type !== 'symlink') await chmod(path, node.mode);
  if (node.type === 'symlink') await lutimes(path, node.mtime, node.mtime);
  else await utimes(path, node.mtime, node.mtime);
}

/** Owner (when permitted), mode and times through the open descriptor: no path lookups. */
async function applyMetaToOpenFile(fh: FileHandle, node: EntryMeta): Promise<void> {
  try {
    await fh.chown(node.uid, node.gid);
  } catch (err) {
    if (!isErrno(err, 'EPERM', 'EINVAL')) throw err;
  }
  await fh.chmod(node.mode); // after chown, which clears setuid/setgid
  await fh.utimes(node.mtime, node.mtime);
}

/** Re-reads a restored file and checks every chunk against its blob id. */
async function verifyFile(repo: RestorerRepo, path: string, plan: RestorePlan, e: number): Promise<void> {
  const fh = await open(path, 'r');
  try {
    for (const c of plan.fileChunks(e)) {
      const buf = Buffer.allocUnsafe(c.length);
      const { bytesRead } = await fh.read(buf, 0, buf.length, c.offset);
      if (bytesRead !== buf.length || repo.blobId(buf) !== c.id) throw new IntegrityError(`verification failed at offset ${c.offset}: the restored bytes differ from the snapshot`);
    }
    if ((await fh.stat()).size !== plan.size(e)) throw new IntegrityError('verification failed: size differs from the snapshot');
  } finally {
    await fh.close();
  }
}

/**
 * Writes file contents pack by pack, as restic does: each pack is read once (neighbouring blobs in one read), each
 * blob decoded once and written to every place that needs it. Files are opened on their first blob and finished
 * after their last, so a file spread over many packs is assembled as its packs arrive. A file is named by its entry
 * number in the plan (writer threads too); its progress is kept in columns, not in an object per file.
 */
async function writeFiles(repo: RestorerRepo, plan: RestorePlan, files: readonly number[], o: RestoreOptions, progress: RestoreProgress, fail: (e: number, err: unknown) => void): Promise<void> {
  const overwrite = o.overwrite ?? false;
  /** Blobs still to write into each file; -1 once handed whole to a writer thread. */
  const remaining = new Int32Array(plan.count);
  /** End of the last byte written (holes are not written). */
  const extent = new Float64Array(plan.count);
  const failed = new Uint8Array(plan.count);
  /** Chunk writes handed to writer threads and not answered yet: the descriptor must stay open until then. */
  const inThreads = new Int32Array(plan.count);
  /** Abandoned while writes were in threads: closed when the last one comes back. */
  const closeWhenIdle = new Uint8Array(plan.count);
  /** Descriptors of the files being written (a file is opened on its first blob). */
  const handles = new Map<number, Promise<FileHandle>>();
  // a file's full path is made when it is opened, not kept for every file of the plan
  const pathOf = (f: number): string => join(o.target, plan.rel(f));
  const create = (f: number): Promise<FileHandle> => {
    const path = pathOf(f);
    // a fresh target holds nothing to replace: skip the lstat per file
    return overwrite ? replace(path, true).then(() => open(path, 'wx', 0o600)) : open(path, 'wx', 0o600);
  };
  const handle = (f: number): Promise<FileHandle> => {
    let h = handles.get(f);
    if (!h) handles.set(f, (h = create(f)));
    return h;
  };
  const finish = async (f: number): Promise<void> => {
    try {
      const fh = await handle(f);
      const size = plan.size(f);
      if (extent[f]! < size) await fh.truncate(size); // a trailing hole, or an empty file
      await applyMetaToOpenFile(fh, plan.meta(f));
      await fh.close();
      handles.delete(f);
      progress.files++;
      progress.bytes += size;
      o.onProgress?.(progress);
    } catch (err) {
      failed[f] = 1;
      fail(f, err);
    }
  };
  const closeHandle = async (f: number): Promise<void> => {
    const h = handles.get(f);
    handles.delete(f);
    if (h) await (await h.catch(() => null))?.close().catch(() => undefined);
  };
  const abandon = async (f: number, err: unknown): Promise<void> => {
    if (failed[f]) return;
    failed[f] = 1;
    fail(f, err);
    // a descriptor a writer thread may still write to must not be closed: its number could be reused by the next
    // file opened, which would then receive this file's bytes
    if (inThreads[f]! > 0) closeWhenIdle[f] = 1;
    else await closeHandle(f);
  };
  for (const [f, message] of plan.failures) {
    failed[f] = 1;
    fail(f, new IntegrityError(message));
  }
  const empty: number[] = [];
  for (const f of files) {
    remaining[f] = plan.chunks(f);
    if (remaining[f] === 0 && !failed[f]) empty.push(f);
  }
  const writes = new Semaphore(WRITE_CONCURRENCY);
  // three pack reads in flight keep a local disk and S3 busy alike: measured against a loopback RGW, 6 was slower
  // (12.1–14.6 s vs 15.4–15.6 s for 1.5 GB), the client's CPU being the limit, not latency
  const packs = new Semaphore(PACK_CONCURRENCY);
  const reads = repo.localTarget === false ? PACK_READS.network : PACK_READS.local;
  const inFlight = new ByteBudget(reads.inFlight);
  const threads = workerCount();
  // from a local disk, one writer thread fewer than cores plus the lane on this thread, which otherwise waits; from a
  // network target this thread runs the storage client, and a lane here made an S3 restore 10–25 % slower (four
  // paired runs against a loopback Ceph RGW: 8.0–10.9 s with two threads, 8.5–12.1 s with one and the lane)
  const lane = repo.localTarget !== false;
  const writers = !overwrite && threads > 0 ? new RestoreWriters(repo.key, lane ? threads - 1 : threads, lane) : null;
  const smallFile = (f: number): SmallFile => {
    const m = plan.meta(f);
    return { job: f, path: pathOf(f), uid: m.uid, gid: m.gid, mode: m.mode, mtime: m.mtime };
  };
  const isSmallFile = (f: number): boolean => plan.chunks(f) === 1 && plan.size(f) <= SMALL_FILE && !handles.has(f);
  /** Writes decoded bytes into a file at an offset from this thread, and finishes the file after its last blob. */
  const place = async (f: number, plain: Buffer, offset: number): Promise<void> => {
    if (failed[f]) return;
    try {
      const fh = await handle(f);
      extent[f] = Math.max(extent[f]!, await writeChunk(fh, plain, offset));
      if (--remaining[f]! === 0) await finish(f);
    } catch (err) {
      await abandon(f, err);
    }
  };
  /** A blob a writer thread could not decode: fetched again (another copy or target) and written from here. */
  const rescue = async (item: WriteItem): Promise<void> => {
    let plain: Buffer;
    try {
      plain = await repo.loadBlob('data', item.id);
    } catch (err) {
      await Promise.all([...item.writes, ...item.files].map((w) => abandon(w.job, err)));
      return;
    }
    for (const s of item.files) {
      remaining[s.job] = 1; // taken back from the thread
      await place(s.job, plain, 0);
    }
    for (const w of item.writes) await place(w.job, plain, w.offset);
  };
  const handOver = async (bytes: Buffer, items: WriteItem[]): Promise<void> => {
    const finishing: Promise<void>[] = [];
    let results: Awaited<ReturnType<RestoreWriters['write']>>;
    try {
      results = await writers!.write(bytes, items);
    } finally {
      // the thread is done with these descriptors (answered, or it died): abandoned files may close now
      for (const w of items.flatMap((i) => i.writes)) {
        if (--inThreads[w.job]! === 0 && closeWhenIdle[w.job]) finishing.push(closeHandle(w.job));
      }
    }
    for (const r of results) {
      if (r.damaged !== undefined) {
        const item = items.find((i) => i.id === r.damaged);
        if (item) finishing.push(rescue(item));
        continue;
      }
      const f = r.job;
      if (f < 0 || f >= plan.count) continue;
      if (r.error !== undefined) {
        finishing.push(abandon(f, Object.assign(new Error(r.error), r.code ? { code: r.code } : {})));
      } else if (r.extent === undefined) {
        remaining[f] = 0; // a small file, written and finished by the thread
        progress.files++;
        progress.bytes += plan.size(f);
        o.onProgress?.(progress);
      } else {
        extent[f] = Math.max(extent[f]!, r.extent);
        if (--remaining[f]! === 0 && !failed[f]) finishing.push(finish(f));
      }
    }
    await Promise.all(finishing);
  };
  const readPack = async (pack: string, blobs: readonly PlannedBlob[]): Promise<void> => {
    const done: Promise<void>[] = [];
    for (const range of ranges(blobs, reads.maxRead)) {
      const size = range.end - range.start;
      await inFlight.acquire(size);
      const pending: Promise<void>[] = [];
      let bytes: Buffer | null = null;
      try {
        bytes = await repo.readPack(pack, range.start, size);
      } catch {
        bytes = null; // each blob below falls back to its other copies
      }
      const batch: WriteItem[] = [];
      for (const b of range.blobs) {
        const live = b.targets.filter((t) => !failed[t.file] && remaining[t.file]! > 0);
        if (live.length === 0) continue;
        if (writers && bytes) {
          // the blob is decoded by a writer (a thread, or the lane on this one): whole small files are created and
          // finished there; chunks of larger files are written there at their offset into a descriptor opened here
          // (finished here)
          const small = live.filter((t) => isSmallFile(t.file));
          const chunkWrites: ChunkWrite[] = [];
          for (const t of live) {
            if (small.includes(t)) continue;
            try {
              const fh = await handle(t.file);
              chunkWrites.push({ job: t.file, fd: fh.fd, offset: t.offset });
              inThreads[t.file]!++;
            } catch (err) {
              pending.push(abandon(t.file, err));
            }
          }
          batch.push({ id: b.id, at: b.loc.offset - range.start, length: b.loc.length, compressed: b.loc.compressed, rawLength: b.loc.rawLength, files: small.map((t) => smallFile(t.file)), writes: chunkWrites });
          for (const t of small) remaining[t.file] = -1; // handed over
          continue;
        }
        let plain: Buffer;
        try {
          if (!bytes) throw new Error('pack unreadable');
          plain = repo.decodeBlob(b.id, b.loc, bytes.subarray(b.loc.offset - range.start, b.loc.offset - range.start + b.loc.length));
        } catch {
          try {
            plain = await repo.loadBlob('data', b.id); // another copy, or the precise error
          } catch (err) {
            for (const t of live) pending.push(abandon(t.file, err));
            continue;
          }
        }
        for (const t of live) {
          await writes.acquire();
          pending.push(place(t.file, plain, t.offset).finally(() => writes.release()));
        }
      }
      if (batch.length > 0 && bytes) pending.push(handOver(bytes, batch)); // the range moves to the thread
      done.push(Promise.all(pending).then(() => undefined).finally(() => inFlight.release(size)));
    }
    await Promise.all(done);
  };
  const reading: Promise<void>[] = empty.map((f) => writes.run(() => finish(f)));
  for (const { pack, blobs } of plan.packs()) reading.push(packs.run(() => readPack(pack, blobs())));
  await Promise.all(reading).finally(() => writers?.close());
}

/** Groups a pack's blobs (in offset order) into reads: neighbours closer than MAX_GAP share one read of at most `maxRead`. */
function ranges(blobs: readonly PlannedBlob[], maxRead: number): { start: number; end: number; blobs: PlannedBlob[] }[] {
  const out: { start: number; end: number; blobs: PlannedBlob[] }[] = [];
  for (const w of blobs) {
    const last = out.at(-1);
    if (last && w.loc.offset - last.end <= MAX_GAP && w.loc.offset + w.loc.length - last.start <= maxRead) {
      last.end = Math.max(last.end, w.loc.offset + w.loc.length);
      last.blobs.push(w);
    } else out.push({ start: w.loc.offset, end: w.loc.offset + w.loc.length, blobs: [w] });
  }
  return out;
}
