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
import { ByteBudget } from '../../util/concurrency.js';
import { GarbageMeter } from '../../util/gc.js';
import { ChunkRing } from './chunk-ring.js';
import type { FileJob, FromWorker, ToWorker, WorkerSetup } from './protocol.js';

const setup = workerData as WorkerSetup;
const macKey = Buffer.from(setup.macKey);
const encoder = new BlobEncoder(Buffer.from(setup.encKey), setup.compression);
const port = parentPort!;
const post = (m: FromWorker, transfer: ArrayBuffer[] = []): void => port.postMessage(m, transfer);

/** Read-but-unresolved bytes, bounded by setup.budget. */
const held = new ByteBudget(setup.budget);
/**
 * Chunk memory: the held chunks plus 2 MiB (a file's next chunk, read before it waits for room in the budget, and
 * the space a wrap skips). A chunk that finds no room (a rare large one) gets a buffer of its own, counted as
 * garbage once answered. Sized for the largest chunk instead (14 MiB), the ring cost ~20 MiB more peak RSS on the
 * benchmark (its pages are all touched as it turns) for no time saved.
 */
const chunks = new ChunkRing(setup.budget + 2 * 1024 * 1024);
/**
 * The ciphers' output copied into each box, and chunks that did not fit in the ring: collected every 2 MiB (a minor
 * collection of this thread's small young generation; every 8 MiB cost 5–17 MiB more peak RSS and was not faster).
 */
const garbage = new GarbageMeter(2 * 1024 * 1024);
const allocChunk = (size: number): Buffer => chunks.alloc(size);

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
    await held.acquire(chunk.length);
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
      const into = allocChunk(job.size);
      let buf: Buffer;
      try {
        buf = readSmallSync(job.path, job.size, into);
      } catch (err) {
        chunks.release(into);
        throw err;
      }
      if (buf.length > 0) await take(buf);
      else chunks.release(into);
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
      let dropped = 0;
      for (const s of m.drop) {
        const w = waiting.get(s);
        waiting.delete(s);
        if (w) {
          held.release(w.chunk.length);
          dropped += chunks.release(w.chunk);
        }
      }
      const items: { id: string; box: ArrayBuffer; rawLength: number; compressed: boolean }[] = [];
      for (const s of m.store) {
        const w = waiting.get(s);
        if (!w) continue;
        waiting.delete(s);
        const { box, compressed } = encoder.encode(w.chunk);
        items.push({ id: w.id, box: box.buffer as ArrayBuffer, rawLength: w.chunk.length, compressed });
        dropped += chunks.release(w.chunk) + box.length;
      }
      if (items.length > 0) post({ t: 'blobs', items }, items.map((i) => i.box));
      garbage.addSoon(dropped);
      break;
    }
    case 'ack':
      held.release(m.bytes);
      break;
  }
});

