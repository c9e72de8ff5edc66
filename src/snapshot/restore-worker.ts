/**
 * A restore writer thread: decodes blobs (AES-GCM, zstd, HMAC check) and writes the small files made of one blob
 * each with synchronous calls (create O_EXCL, write, owner, mode, times, close). File creation is where a restore
 * spends its time; doing it off the main thread lets decoding and writing of large files go on meanwhile.
 */
import { closeSync, fchmodSync, fchownSync, futimesSync, openSync, writeSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { blobId, open as openBox } from '../repo/crypto.js';
import { decompress } from '../repo/compression.js';

export interface SmallFile {
  readonly rel: string;
  readonly path: string;
  readonly uid: number;
  readonly gid: number;
  readonly mode: number;
  readonly mtime: string;
}

export interface WriteItem {
  readonly id: string;
  readonly box: Uint8Array;
  readonly compressed: boolean;
  readonly rawLength: number;
  readonly files: readonly SmallFile[];
}

export type WriteResult = { readonly rel: string; readonly error?: string; readonly code?: string };

const { encKey, macKey } = workerData as { encKey: Uint8Array; macKey: Uint8Array };
const enc = Buffer.from(encKey);
const mac = Buffer.from(macKey);

parentPort?.on('message', (m: { seq: number; items: WriteItem[] }) => {
  const results: WriteResult[] = [];
  for (const item of m.items) {
    let plain: Buffer;
    try {
      const inner = openBox(enc, Buffer.from(item.box.buffer, item.box.byteOffset, item.box.byteLength), `blob ${item.id.slice(0, 8)}`);
      plain = item.compressed ? decompress(inner) : inner;
      if (plain.length !== item.rawLength || blobId(mac, plain) !== item.id) throw new Error(`blob ${item.id.slice(0, 8)}: content does not match its id`);
    } catch (err) {
      for (const f of item.files) results.push({ rel: f.rel, error: (err as Error).message });
      continue;
    }
    for (const f of item.files) {
      try {
        writeSmall(f, plain);
        results.push({ rel: f.rel });
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        results.push({ rel: f.rel, error: e.message, ...(e.code ? { code: e.code } : {}) });
      }
    }
  }
  parentPort?.postMessage({ seq: m.seq, results });
});

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
    const mtime = Number(BigInt(f.mtime) / 1000n) / 1e6 + 5e-7; // as nsToSeconds in restorer.ts
    futimesSync(fd, mtime, mtime);
  } finally {
    closeSync(fd);
  }
}
