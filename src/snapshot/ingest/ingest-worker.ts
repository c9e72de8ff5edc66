/**
 * An ingest worker: reads files, cuts them into chunks, names each chunk (HMAC), asks the main thread whether it
 * is new, and compresses and encrypts the new ones. The main thread only packs and writes. See ingest-pool.ts.
 */
import { createHmac } from 'node:crypto';
import { open } from 'node:fs/promises';
import { parentPort, workerData } from 'node:worker_threads';
import { BlobEncoder } from '../../repo/blob-encoder.js';
import { chunkFile } from '../../repo/chunker.js';
import { readSmallSync } from '../../util/small-files.js';
import type { FileJob, FromWorker, ToWorker, WorkerSetup } from './protocol.js';

const setup = workerData as WorkerSetup;
const macKey = Buffer.from(setup.macKey);
const encoder = new BlobEncoder(Buffer.from(setup.encKey), setup.compression);
const port = parentPort!;
const post = (m: FromWorker, transfer: ArrayBuffer[] = []): void => port.postMessage(m, transfer);

/** Read-but-unresolved bytes, bounded by setup.budget. */
let held = 0;
let wake: (() => void)[] = [];
async function reserve(n: number): Promise<void> {
  while (held > 0 && held + n > setup.budget) await new Promise<void>((r) => wake.push(r));
  held += n;
}
function release(n: number): void {
  held -= n;
  const w = wake;
  wake = [];
  for (const f of w) f();
}

/**
 * Chunk memory is recycled: a chunk never leaves this thread (its encrypted box does), so once it is encoded or
 * dropped its buffer serves the next one. Fresh 1 MiB allocations cost more in page faults than the copy itself.
 */
const free = new Map<number, ArrayBuffer[]>();
let freeBytes = 0;
const MAX_FREE = 16 * 1024 * 1024;
function allocChunk(size: number): Buffer {
  const cls = Math.max(4096, 2 ** Math.ceil(Math.log2(Math.max(1, size))));
  const ab = free.get(cls)?.pop();
  if (ab) freeBytes -= cls;
  return Buffer.from(ab ?? new ArrayBuffer(cls), 0, size);
}
function recycle(chunk: Buffer): void {
  const ab = chunk.buffer as ArrayBuffer;
  if (freeBytes + ab.byteLength > MAX_FREE) return;
  let list = free.get(ab.byteLength);
  if (!list) free.set(ab.byteLength, (list = []));
  list.push(ab);
  freeBytes += ab.byteLength;
}

const waiting = new Map<number, { id: string; chunk: Buffer }>();
let seq = 0;
let queries: { seq: number; id: string }[] = [];
let flushScheduled = false;
function flushQueries(): void {
  flushScheduled = false;
  if (queries.length === 0) return;
  post({ t: 'query', items: queries });
  queries = [];
}

async function ingest(job: FileJob): Promise<void> {
  const ids: string[] = [];
  let size = 0;
  const take = async (chunk: Buffer): Promise<void> => {
    await reserve(chunk.length);
    const id = createHmac('sha256', macKey).update(chunk).digest('hex');
    const s = seq++;
    waiting.set(s, { id, chunk });
    queries.push({ seq: s, id });
    if (queries.length >= 64) flushQueries();
    else if (!flushScheduled) {
      flushScheduled = true;
      setImmediate(flushQueries);
    }
    ids.push(id);
    size += chunk.length;
  };
  try {
    if (job.size < setup.chunker.minSize) {
      // synchronous on purpose: this thread exists to read, and a thread-pool round trip per call costs more than
      // the call itself for a small file in the page cache (each worker is one reader, like restic's file readers)
      const buf = readSmallSync(job.path, job.size, allocChunk(job.size));
      if (buf.length > 0) await take(buf);
    } else {
      const fh = await open(job.path, 'r');
      try {
        for await (const chunk of chunkFile(fh, setup.gear, setup.chunker, allocChunk)) await take(chunk);
      } finally {
        await fh.close();
      }
    }
    flushQueries(); // the main thread sees every query of a file before the file's result
    post({ t: 'done', job: job.job, ids, size });
  } catch (err) {
    flushQueries();
    const e = err as NodeJS.ErrnoException;
    post({ t: 'done', job: job.job, ids: [], size: 0, error: { ...(e.code ? { code: e.code } : {}), message: e.message ?? String(err) } });
  }
}

/**
 * Jobs run a few at a time so reads overlap with hashing and encoding; but only one file that needs the chunker
 * (and its 16 MiB read buffer) at a time per worker, which bounds memory.
 */
const queue: FileJob[] = [];
let running = 0;
let runningLarge = 0;
function pump(): void {
  for (let i = 0; i < queue.length && running < 4; ) {
    const job = queue[i]!;
    const large = job.size >= setup.chunker.minSize;
    if (large && runningLarge > 0) {
      i++;
      continue;
    }
    queue.splice(i, 1);
    running++;
    if (large) runningLarge++;
    void ingest(job).finally(() => {
      running--;
      if (large) runningLarge--;
      pump();
    });
  }
}

port.on('message', (m: ToWorker) => {
  switch (m.t) {
    case 'files':
      queue.push(...m.jobs);
      pump();
      break;
    case 'verdict': {
      for (const s of m.drop) {
        const w = waiting.get(s);
        waiting.delete(s);
        if (w) {
          release(w.chunk.length);
          recycle(w.chunk);
        }
      }
      const items: { id: string; box: ArrayBuffer; rawLength: number; compressed: boolean }[] = [];
      for (const s of m.store) {
        const w = waiting.get(s);
        if (!w) continue;
        waiting.delete(s);
        const { box, compressed } = encoder.encode(w.chunk);
        items.push({ id: w.id, box: box.buffer as ArrayBuffer, rawLength: w.chunk.length, compressed });
        recycle(w.chunk);
      }
      if (items.length > 0) post({ t: 'blobs', items }, items.map((i) => i.box));
      break;
    }
    case 'ack':
      release(m.bytes);
      break;
  }
});

