import { chmod, lchown, link, lstat, lutimes, mkdir, open, readdir, rm, symlink, unlink, utimes } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import picomatch from 'picomatch';
import type { BlobLoader } from '../repo/repository.js';
import type { BlobLocation } from '../repo/index-file.js';
import { workerCount } from '../util/threads.js';
import { dataRuns, nsToSeconds } from '../util/small-files.js';
import { RestoreWriters } from './restore-writers.js';
import type { ChunkWrite, SmallFile, WriteItem } from './restore-worker.js';
import { isSafeName, loadTree, type TreeNode } from '../repo/tree.js';
import { ByteBudget, Semaphore } from '../util/concurrency.js';
import { IntegrityError, UserError, errorMessage, isErrno } from '../util/errors.js';

const run = promisify(execFile);

/** What the restorer needs from the repository. */
export type RestorerRepo = BlobLoader & {
  blobId(plain: Uint8Array): string;
  blobSize(id: string): number | undefined;
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

/** A planned entry: its path is made from its parents' names when needed, not kept per entry (30,000 files...). */
interface Entry {
  readonly parent: Entry | null;
  readonly node: TreeNode;
}

/** The slash-separated path of an entry below the restore target. */
function relOf(e: Entry): string {
  const names: string[] = [];
  for (let x: Entry | null = e; x; x = x.parent) names.push(x.node.name);
  return names.reverse().join('/');
}

const PACK_CONCURRENCY = 3;
const WRITE_CONCURRENCY = 8;
/** Files of one blob up to this size are written by writer threads. */
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
  const entries = await plan(repo, treeId, options);
  repo.dropTreeCache?.();
  const errors: string[] = [];
  const fail = (rel: string, err: unknown): void => {
    const msg = errorMessage(err);
    errors.push(`${rel}: ${msg}`);
    options.onError?.(rel, msg);
  };
  const progress: RestoreProgress = { files: 0, bytes: 0, totalFiles: 0, totalBytes: 0 };
  for (const e of entries) {
    if (e.node.type !== 'file') continue;
    progress.totalFiles++;
    progress.totalBytes += e.node.size;
  }

  // 1. directories, top-down (each parent is a real directory we made or checked, so nothing follows a link out)
  for (const e of entries) {
    if (e.node.type === 'dir') await ensureDir(join(options.target, relOf(e)), options.overwrite ?? false).catch((err: unknown) => fail(relOf(e), err));
  }
  // 2. files (in parallel), hard links after the first copy, then symlinks and special files
  const links = new Map<string, Entry>();
  const firstCopies: Entry[] = [];
  const laterLinks: { e: Entry; first: Entry }[] = [];
  for (const e of entries) {
    if (e.node.type !== 'file') continue;
    const key = `${e.node.dev}:${e.node.inode}`;
    const first = e.node.nlink > 1 ? links.get(key) : undefined;
    if (first !== undefined) laterLinks.push({ e, first });
    else {
      if (e.node.nlink > 1) links.set(key, e);
      firstCopies.push(e);
    }
  }
  await writeFiles(repo, firstCopies, options, progress, fail);
  for (const { e, first } of laterLinks) {
    const dst = join(options.target, relOf(e));
    await replace(dst, options.overwrite ?? false)
      .then(() => link(join(options.target, relOf(first)), dst))
      .catch((err: unknown) => fail(relOf(e), err));
  }
  for (const e of entries) {
    if (e.node.type === 'file' || e.node.type === 'dir') continue;
    await restoreSpecial(join(options.target, relOf(e)), e.node, options.overwrite ?? false).catch((err: unknown) => fail(relOf(e), err));
  }
  // 3. directory metadata, deepest first (writing children changes a directory's mtime)
  for (const e of [...entries].reverse()) {
    if (e.node.type === 'dir') await applyMeta(join(options.target, relOf(e)), e.node).catch((err: unknown) => fail(relOf(e), err));
  }
  let verified = 0;
  if (options.verify) {
    for (const e of firstCopies) {
      try {
        await verifyFile(repo, join(options.target, relOf(e)), e.node);
        verified++;
      } catch (err) {
        fail(relOf(e), err);
      }
    }
  }
  const dirs = entries.filter((e) => e.node.type === 'dir').length;
  return { files: progress.files + laterLinks.length, dirs, bytes: progress.bytes, errors, verified };
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

/** Walks the snapshot tree and keeps what include/exclude select; directories on the way are kept. */
async function plan(repo: RestorerRepo, treeId: string, o: RestoreOptions): Promise<Entry[]> {
  const inc = o.include && o.include.length > 0 ? picomatch([...o.include], { dot: true }) : null;
  const exc = o.exclude && o.exclude.length > 0 ? picomatch([...o.exclude], { dot: true }) : null;
  const out: Entry[] = [];
  const visit = async (id: string, parent: Entry | null, prefix: string, parentIncluded: boolean): Promise<boolean> => {
    let any = false;
    for (const node of (await loadTree(repo, id)).nodes) {
      if (!isSafeName(node.name)) throw new IntegrityError(`tree ${id.slice(0, 8)} holds an unsafe name ${JSON.stringify(node.name)}: refusing to restore it`);
      const rel = prefix === '' ? node.name : `${prefix}/${node.name}`;
      if (exc?.(rel)) continue;
      const included = parentIncluded || inc === null || inc(rel);
      if (node.type === 'dir') {
        const at = out.length;
        const dir: Entry = { parent, node };
        out.push(dir);
        const childAny = node.subtree ? await visit(node.subtree, dir, rel, included) : false;
        if (included || childAny) any = true;
        else out.splice(at, 1);
      } else if (included) {
        out.push({ parent, node });
        any = true;
      }
    }
    return any;
  };
  await visit(treeId, null, '', false);
  return out;
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

/** Start offset of every chunk, plus the file size at the end, from the index's plaintext lengths. */
function chunkOffsets(repo: RestorerRepo, content: readonly string[]): number[] {
  const out = [0];
  let pos = 0;
  for (const id of content) {
    const n = repo.blobSize(id);
    if (n === undefined) throw new IntegrityError(`data blob ${id.slice(0, 8)} is missing from the repository (run \`safepoint check\`)`);
    pos += n;
    out.push(pos);
  }
  return out;
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

async function restoreSpecial(path: string, node: TreeNode, overwrite: boolean): Promise<void> {
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
async function applyMeta(path: string, node: TreeNode): Promise<void> {
  try {
    await lchown(path, node.uid, node.gid);
  } catch (err) {
    if (!isErrno(err, 'EPERM', 'EINVAL')) throw err; // not root: keep our own ownership, as restic does
  }
  if (node.type !== 'symlink') await chmod(path, node.mode);
  const mtime = nsToSeconds(node.mtime);
  if (node.type === 'symlink') await lutimes(path, mtime, mtime);
  else await utimes(path, mtime, mtime);
}

/** Owner (when permitted), mode and times through the open descriptor: no path lookups. */
async function applyMetaToOpenFile(fh: FileHandle, node: TreeNode): Promise<void> {
  try {
    await fh.chown(node.uid, node.gid);
  } catch (err) {
    if (!isErrno(err, 'EPERM', 'EINVAL')) throw err;
  }
  await fh.chmod(node.mode); // after chown, which clears setuid/setgid
  const mtime = nsToSeconds(node.mtime);
  await fh.utimes(mtime, mtime);
}

/** Re-reads a restored file and checks every chunk against its blob id. */
async function verifyFile(repo: RestorerRepo, path: string, node: TreeNode): Promise<void> {
  const content = node.content ?? [];
  const offsets = chunkOffsets(repo, content);
  const fh = await open(path, 'r');
  try {
    for (let i = 0; i < content.length; i++) {
      const buf = Buffer.allocUnsafe(offsets[i + 1]! - offsets[i]!);
      const { bytesRead } = await fh.read(buf, 0, buf.length, offsets[i]!);
      if (bytesRead !== buf.length || repo.blobId(buf) !== content[i]) throw new IntegrityError(`verification failed at offset ${offsets[i]!}: the restored bytes differ from the snapshot`);
    }
    if ((await fh.stat()).size !== node.size) throw new IntegrityError('verification failed: size differs from the snapshot');
  } finally {
    await fh.close();
  }
}

/** A file being written: opened on its first blob, finished (truncate, close, metadata) after its last. */
interface FileJob {
  /** Its number: how writer threads name it. */
  readonly n: number;
  readonly e: Entry;
  /** Blobs it is made of (its tree node's content list is let go once planned, unless the restore verifies). */
  readonly chunks: number;
  remaining: number;
  /** End of the last byte written (holes are not written). */
  extent: number;
  handle?: Promise<FileHandle>;
  failed: boolean;
  /** Chunk writes handed to writer threads and not answered yet: the descriptor must stay open until then. */
  inThreads: number;
  /** Abandoned while writes were in threads: closed when the last one comes back. */
  closeWhenIdle?: boolean;
}

/**
 * Writes file contents pack by pack, as restic does: each pack is read once (neighbouring blobs in one read), each
 * blob decoded once and written to every place that needs it. Files are opened on their first blob and finished
 * after their last, so a file spread over many packs is assembled as its packs arrive.
 */
async function writeFiles(repo: RestorerRepo, files: readonly Entry[], o: RestoreOptions, progress: RestoreProgress, fail: (rel: string, err: unknown) => void): Promise<void> {
  const overwrite = o.overwrite ?? false;
  const byPack = new Map<string, Map<string, Wanted>>();
  // a fresh target holds nothing to replace: skip the lstat per file
  // a file's full path is made when it is opened, not kept for every file of the plan
  const pathOf = (job: FileJob): string => join(o.target, relOf(job.e));
  const create = (job: FileJob): Promise<FileHandle> => {
    const path = pathOf(job);
    return overwrite ? replace(path, true).then(() => open(path, 'wx', 0o600)) : open(path, 'wx', 0o600);
  };
  const finish = async (job: FileJob): Promise<void> => {
    try {
      const fh = await (job.handle ??= create(job));
      if (job.extent < job.e.node.size) await fh.truncate(job.e.node.size); // a trailing hole, or an empty file
      await applyMetaToOpenFile(fh, job.e.node);
      await fh.close();
      delete job.handle; // the closed handle would otherwise stay in memory with every finished file
      progress.files++;
      progress.bytes += job.e.node.size;
      o.onProgress?.(progress);
    } catch (err) {
      job.failed = true;
      fail(relOf(job.e), err);
    }
  };
  const abandon = async (job: FileJob, err: unknown): Promise<void> => {
    if (job.failed) return;
    job.failed = true;
    fail(relOf(job.e), err);
    // a descriptor a writer thread may still write to must not be closed: its number could be reused by the next
    // file opened, which would then receive this file's bytes
    if (job.inThreads > 0) job.closeWhenIdle = true;
    else await closeHandle(job);
  };
  const closeHandle = async (job: FileJob): Promise<void> => {
    if (job.handle) await (await job.handle.catch(() => null))?.close().catch(() => undefined);
  };
  const empty: FileJob[] = [];
  const jobs: FileJob[] = [];
  for (const e of files) {
    const chunks = e.node.content?.length ?? 0;
    const job: FileJob = { n: jobs.length, e, chunks, remaining: chunks, extent: 0, failed: false, inThreads: 0 };
    jobs.push(job);
    if (job.remaining === 0) {
      empty.push(job);
      continue;
    }
    let offsets: number[];
    try {
      offsets = chunkOffsets(repo, e.node.content ?? []);
      if (offsets.at(-1) !== e.node.size) throw new IntegrityError(`the index says ${String(offsets.at(-1))} bytes, the snapshot says ${e.node.size}`);
    } catch (err) {
      job.failed = true;
      fail(relOf(e), err);
      continue;
    }
    (e.node.content ?? []).forEach((treeId, i) => {
      const loc = repo.locate(treeId)[0]!;
      const id = loc.id ?? treeId; // the index's copy of the id: the tree's copies can then go
      let blobs = byPack.get(loc.pack);
      if (!blobs) byPack.set(loc.pack, (blobs = new Map()));
      let b = blobs.get(id);
      if (!b) blobs.set(id, (b = { id, loc, targets: [] }));
      b.targets.push({ job, offset: offsets[i]! });
    });
    if (!o.verify) (e.node as { content?: string[] }).content = undefined;
  }
  const writes = new Semaphore(WRITE_CONCURRENCY);
  // three pack reads in flight keep a local disk and S3 busy alike: measured against a loopback RGW, 6 was slower
  // (12.1–14.6 s vs 15.4–15.6 s for 1.5 GB), the client's CPU being the limit, not latency
  const packs = new Semaphore(PACK_CONCURRENCY);
  const reads = repo.localTarget === false ? PACK_READS.network : PACK_READS.local;
  const inFlight = new ByteBudget(reads.inFlight);
  const threads = workerCount();
  const writers = !overwrite && threads > 0 ? new RestoreWriters(repo.key, threads) : null;
  const smallFile = (job: FileJob): SmallFile => {
    const n = job.e.node;
    return { job: job.n, path: pathOf(job), uid: n.uid, gid: n.gid, mode: n.mode, mtime: n.mtime };
  };
  /** A blob a writer thread could not decode: fetched again (another copy or target) and written from here. */
  const rescue = async (item: WriteItem): Promise<void> => {
    let plain: Buffer;
    try {
      plain = await repo.loadBlob('data', item.id);
    } catch (err) {
      await Promise.all([...item.writes, ...item.files].map((w) => jobs[w.job]).map((job) => job && abandon(job, err)));
      return;
    }
    const place = async (job: FileJob | undefined, offset: number): Promise<void> => {
      if (!job || job.failed) return;
      try {
        const fh = await (job.handle ??= create(job));
        job.extent = Math.max(job.extent, await writeChunk(fh, plain, offset));
        if (--job.remaining === 0) await finish(job);
      } catch (err) {
        await abandon(job, err);
      }
    };
    for (const f of item.files) {
      const job = jobs[f.job];
      if (job) job.remaining = 1; // taken back from the thread
      await place(job, 0);
    }
    for (const w of item.writes) await place(jobs[w.job], w.offset);
  };
  const handOver = async (bytes: Buffer, items: WriteItem[]): Promise<void> => {
    const finishing: Promise<void>[] = [];
    let results: Awaited<ReturnType<RestoreWriters['write']>>;
    try {
      results = await writers!.write(bytes, items);
    } finally {
      // the thread is done with these descriptors (answered, or it died): abandoned files may close now
      for (const w of items.flatMap((i) => i.writes)) {
        const job = jobs[w.job];
        if (job && --job.inThreads === 0 && job.closeWhenIdle) finishing.push(closeHandle(job));
      }
    }
    for (const r of results) {
      if (r.damaged !== undefined) {
        const item = items.find((i) => i.id === r.damaged);
        if (item) finishing.push(rescue(item));
        continue;
      }
      const job = r.job >= 0 ? jobs[r.job] : undefined;
      if (!job) continue;
      if (r.error !== undefined) {
        finishing.push(abandon(job, Object.assign(new Error(r.error), r.code ? { code: r.code } : {})));
      } else if (r.extent === undefined) {
        job.remaining = 0; // a small file, written and finished by the thread
        progress.files++;
        progress.bytes += job.e.node.size;
        o.onProgress?.(progress);
      } else {
        job.extent = Math.max(job.extent, r.extent);
        if (--job.remaining === 0 && !job.failed) finishing.push(finish(job));
      }
    }
    await Promise.all(finishing);
  };
  await Promise.all([
    ...empty.map((job) => writes.run(() => finish(job))),
    ...[...byPack].map(([pack, blobs]) =>
      packs.run(async () => {
        const done: Promise<void>[] = [];
        for (const range of ranges([...blobs.values()], reads.maxRead)) {
          const size = range.end - range.start;
          await inFlight.acquire(size);
          const pending: Promise<void>[] = [];
          let bytes: Buffer | null = null;
          try {
            bytes = await repo.readPack(pack, range.start, range.end - range.start);
          } catch {
            bytes = null; // each blob below falls back to its other copies
          }
          const batch: WriteItem[] = [];
          for (const b of range.blobs) {
            // files made of this one blob go to a writer thread, which decodes the blob itself
            if (writers && bytes) {
              // the blob is decoded by a writer thread: whole small files are created and finished there; chunks of
              // larger files are written there at their offset into a descriptor opened here (finished here)
              const live = b.targets.filter((t) => !t.job.failed);
              const files = live.filter((t) => t.job.chunks === 1 && t.job.e.node.size <= SMALL_FILE && t.job.handle === undefined);
              const chunks = live.filter((t) => !files.includes(t));
              const chunkWrites: ChunkWrite[] = [];
              for (const t of chunks) {
                try {
                  const fh = await (t.job.handle ??= create(t.job));
                  chunkWrites.push({ job: t.job.n, fd: fh.fd, offset: t.offset });
                  t.job.inThreads++;
                } catch (err) {
                  pending.push(abandon(t.job, err));
                }
              }
              batch.push({ id: b.id, at: b.loc.offset - range.start, length: b.loc.length, compressed: b.loc.compressed, rawLength: b.loc.rawLength, files: files.map((t) => smallFile(t.job)), writes: chunkWrites });
              for (const t of files) t.job.remaining = -1; // handed over
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
                for (const t of b.targets) pending.push(abandon(t.job, err));
                continue;
              }
            }
            for (const t of b.targets) {
              if (t.job.failed || t.job.remaining < 0) continue;
              await writes.acquire();
              pending.push(
                (async () => {
                  try {
                    const fh = await (t.job.handle ??= create(t.job));
                    t.job.extent = Math.max(t.job.extent, await writeChunk(fh, plain, t.offset));
                    if (--t.job.remaining === 0) await finish(t.job);
                  } catch (err) {
                    await abandon(t.job, err);
                  } finally {
                    writes.release();
                  }
                })(),
              );
            }
          }
          if (batch.length > 0 && bytes) pending.push(handOver(bytes, batch)); // the range moves to the thread
          done.push(Promise.all(pending).then(() => undefined).finally(() => inFlight.release(size)));
        }
        await Promise.all(done);
        byPack.delete(pack); // this pack's plan (its blobs and where they go) can go
      }),
    ),
  ]).finally(() => writers?.close());
}

/** A blob to fetch and the places it goes. */
interface Wanted {
  readonly id: string;
  readonly loc: BlobLocation;
  readonly targets: { job: FileJob; offset: number }[];
}

/** Groups a pack's wanted blobs into reads: neighbours closer than MAX_GAP share one read of at most `maxRead`. */
function ranges(wanted: Wanted[], maxRead: number): { start: number; end: number; blobs: Wanted[] }[] {
  const out: { start: number; end: number; blobs: Wanted[] }[] = [];
  for (const w of [...wanted].sort((a, b) => a.loc.offset - b.loc.offset)) {
    const last = out.at(-1);
    if (last && w.loc.offset - last.end <= MAX_GAP && w.loc.offset + w.loc.length - last.start <= maxRead) {
      last.end = Math.max(last.end, w.loc.offset + w.loc.length);
      last.blobs.push(w);
    } else out.push({ start: w.loc.offset, end: w.loc.offset + w.loc.length, blobs: [w] });
  }
  return out;
}

