/**
 * A restore's writing of blobs: decodes them (AES-GCM, zstd, HMAC check) and writes the small files made of one blob
 * each with synchronous calls (create O_EXCL, write, owner, mode, times, close), and chunks of larger files at their
 * offset. File creation is where a restore spends its time: writer threads (restore-worker.ts) and a lane on the
 * main thread do it while the main thread's reads go on (restore-writers.ts).
 */
import { closeSync, fchmodSync, fchownSync, futimesSync, openSync, writeSync } from 'node:fs';
import { blobId, open as openBox } from '../repo/crypto.js';
import { BlobDecompressor } from '../repo/compression.js';
import { dataRuns } from '../util/small-files.js';
import { GarbageMeter } from '../util/gc.js';

export interface SmallFile {
  /** The file's number in the restore's plan. */
  readonly job: number;
  readonly path: string;
  readonly uid: number;
  readonly gid: number;
  readonly mode: number;
  /** Seconds since the epoch. */
  readonly mtime: number;
}

/** A chunk of a larger file, written at its offset into a descriptor the main thread opened (and will finish). */
export interface ChunkWrite {
  readonly job: number;
  readonly fd: number;
  readonly offset: number;
}

export interface WriteItem {
  readonly id: string;
  /** Where the blob's box lies in the batch's buffer. */
  readonly at: number;
  readonly length: number;
  readonly compressed: boolean;
  readonly rawLength: number;
  readonly files: readonly SmallFile[];
  readonly writes: readonly ChunkWrite[];
}

/** Per small file, or per chunk write (with `extent`: the end of the last byte written, holes skipped). */
/** One write's outcome; a blob that did not decode is reported once, as `damaged` (its id), for the caller to fetch again. */
export type WriteResult = { readonly job: number; readonly extent?: number; readonly error?: string; readonly code?: string; readonly damaged?: string };

/**
 * Decodes and writes one batch: each blob is opened (AES-GCM), decompressed and checked against its id, then
 * written. Used by the writer threads, and by the restore's lane on the main thread.
 */
export class BatchWriter {
  readonly #enc: Buffer;
  readonly #mac: Buffer;
  /** Every blob leaves its decrypted copy and every batch its pack bytes: freed every 2 MiB (8 MiB: ~7 MiB more peak RSS). */
  readonly #garbage = new GarbageMeter(2 * 1024 * 1024);
  readonly #decompressor = new BlobDecompressor();

  constructor(keys: { encKey: Uint8Array; macKey: Uint8Array }) {
    this.#enc = Buffer.from(keys.encKey);
    this.#mac = Buffer.from(keys.macKey);
  }

  write(bytes: Buffer, items: readonly WriteItem[]): WriteResult[] {
    const results: WriteResult[] = [];
    for (const item of items) {
      let plain: Buffer;
      try {
        const inner = openBox(this.#enc, bytes.subarray(item.at, item.at + item.length), `blob ${item.id.slice(0, 8)}`);
        plain = item.compressed ? this.#decompressor.decompress(inner, item.rawLength) : inner;
        if (plain.length !== item.rawLength || blobId(this.#mac, plain) !== item.id) throw new Error(`blob ${item.id.slice(0, 8)}: content does not match its id`);
      } catch (err) {
        // damaged in this copy: the main thread reads it again (another target, another pack) and writes it there
        results.push({ job: -1, damaged: item.id, error: (err as Error).message });
        continue;
      }
      for (const w of item.writes) {
        try {
          results.push({ job: w.job, extent: writeAt(w.fd, plain, w.offset) });
        } catch (err) {
          const e = err as NodeJS.ErrnoException;
          results.push({ job: w.job, extent: -1, error: e.message, ...(e.code ? { code: e.code } : {}) });
        }
      }
      for (const f of item.files) {
        try {
          writeSmall(f, plain);
          results.push({ job: f.job });
        } catch (err) {
          const e = err as NodeJS.ErrnoException;
          results.push({ job: f.job, error: e.message, ...(e.code ? { code: e.code } : {}) });
        }
      }
    }
    this.#garbage.addSoon(bytes.length + items.reduce((n, i) => n + i.length, 0));
    return results;
  }
}

/** Positional write that leaves runs of zeros as holes (sparse files stay sparse); returns the extent. */
function writeAt(fd: number, data: Buffer, offset: number): number {
  let extent = 0;
  for (const [start, end] of dataRuns(data)) {
    for (let done = start; done < end; ) done += writeSync(fd, data, done, end - done, offset + done);
    extent = offset + end;
  }
  return extent;
}

function writeSmall(f: SmallFile, data: Buffer): void {
  const fd = openSync(f.path, 'wx', 0o600);
  try {
    for (let done = 0; done < data.length; ) done += writeSync(fd, data, done, data.length - done, done);
    try {
      fchownSync(fd, f.uid, f.gid);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EPERM' && code !== 'EINVAL') throw err;
    }
    fchmodSync(fd, f.mode); // after chown, which clears setuid/setgid
    futimesSync(fd, f.mtime, f.mtime);
  } finally {
    closeSync(fd);
  }
}
