/**
 * The ingest work of one lane: reads files, cuts them into chunks, names each chunk (HMAC), asks the pool whether
 * it is new, and compresses and encrypts the new ones. It runs on the main thread until the pool hands over to
 * ingest workers (ingest-worker.ts; see ingest-pool.ts), and talks to the pool through messages either way.
 */
import { createHmac } from 'node:crypto';
import { open } from 'node:fs/promises';
import { BlobEncoder } from '../../repo/blob-encoder.js';
import { chunkFileViews } from '../../repo/chunker.js';
import { readSmallSync } from '../../util/small-files.js';
import { ByteBudget } from '../../util/concurrency.js';
import { GarbageMeter } from '../../util/gc.js';
import { ChunkRing } from './chunk-ring.js';
import { BoxPool } from './box-pool.js';
import type { BoxItem, FileJob, FromWorker, ToWorker, WorkerSetup } from './protocol.js';

/** Bytes of boxes sent to the pool in one message. */
const BLOB_BATCH = 1024 * 1024;

export class IngestEngine {
  readonly #setup: WorkerSetup;
  readonly #macKey: Buffer;
  readonly #encoder: BlobEncoder;
  readonly #post: (m: FromWorker, transfer?: ArrayBuffer[]) => void;
  /** Read-but-unresolved bytes, bounded by setup.budget. */
  readonly #held: ByteBudget;
  /**
   * Chunk memory: the held chunks plus 2 MiB (a file's next chunk, read before it waits for room in the budget, and
   * the space a wrap skips). A chunk waits for room in it; only one larger than the ring gets a buffer of its own,
   * counted as garbage once answered. Its pages are all touched as it turns: 6 MiB more (one 8 MiB larger) cost
   * ~12 MiB more peak RSS on the benchmark, for no time saved.
   */
  readonly #chunks: ChunkRing;
  /**
   * The ciphers' output copied into each box, and chunks too large for the ring: collected every 2 MiB (a minor
   * collection of this thread's small young generation; every 8 MiB cost 5–17 MiB more peak RSS and was not faster).
   */
  readonly #garbage = new GarbageMeter(2 * 1024 * 1024);
  /** Box buffers the pool sent back: about what the budget lets be in flight, plus a batch. */
  readonly #boxes: BoxPool;
  readonly #waiting = new Map<number, { id: string; chunk: Buffer }>();
  #seq = 0;
  #queries: { seq: number; id: string }[] = [];
  #flushScheduled = false;
  readonly #queue: FileJob[] = [];
  #running = 0;
  #runningLarge = 0;

  constructor(setup: WorkerSetup, post: (m: FromWorker, transfer?: ArrayBuffer[]) => void) {
    this.#setup = setup;
    this.#macKey = Buffer.from(setup.macKey);
    this.#encoder = new BlobEncoder(Buffer.from(setup.encKey), setup.compression);
    this.#post = post;
    this.#held = new ByteBudget(setup.budget);
    this.#chunks = new ChunkRing(setup.budget + 2 * 1024 * 1024);
    this.#boxes = new BoxPool(setup.budget + BLOB_BATCH);
  }

  /** Handles one message from the pool. */
  receive(m: ToWorker): void {
    switch (m.t) {
      case 'files':
        this.#queue.push(...m.jobs);
        this.#pump();
        break;
      case 'verdict': {
        let dropped = 0;
        for (const s of m.drop) {
          const w = this.#waiting.get(s);
          this.#waiting.delete(s);
          if (w) {
            this.#held.release(w.chunk.length);
            dropped += this.#chunks.release(w.chunk);
          }
        }
        this.#garbage.addSoon(dropped);
        // boxes leave in batches of about a MiB, each batch followed by its garbage count: the boxes are transferred
        // and the ciphers' intermediate output is dead by then, so a collection frees it within this handler instead
        // of after a whole verdict's worth (up to the budget) has piled up
        let items: BoxItem[] = [];
        let batch = 0;
        const send = (): void => {
          if (items.length === 0) return;
          this.#post({ t: 'blobs', items }, items.map((i) => i.box));
          items = [];
          this.#garbage.add(batch);
          batch = 0;
        };
        for (const s of m.store) {
          const w = this.#waiting.get(s);
          if (!w) continue;
          this.#waiting.delete(s);
          const { box, compressed } = this.#encoder.encode(w.chunk, (n) => this.#boxes.take(n));
          items.push({ id: w.id, box: box.buffer as ArrayBuffer, length: box.length, rawLength: w.chunk.length, compressed });
          // the cipher's output, copied into the box, is garbage now
          batch += this.#chunks.release(w.chunk) + box.length;
          if (batch >= BLOB_BATCH) send();
        }
        send();
        break;
      }
      case 'ack':
        this.#held.release(m.bytes);
        this.#garbage.add(this.#boxes.give(m.boxes));
        break;
    }
  }

  /** Takes back the files not started yet (the pool hands them to other lanes). */
  takeQueued(): FileJob[] {
    return this.#queue.splice(0);
  }

  #flushQueries(): void {
    this.#flushScheduled = false;
    if (this.#queries.length === 0) return;
    this.#post({ t: 'query', items: this.#queries });
    this.#queries = [];
  }

  async #ingest(job: FileJob): Promise<void> {
    const ids: string[] = [];
    let size = 0;
    const take = async (chunk: Buffer): Promise<void> => {
      await this.#held.acquire(chunk.length);
      const id = createHmac('sha256', this.#macKey).update(chunk).digest('hex');
      const s = this.#seq++;
      this.#waiting.set(s, { id, chunk });
      this.#queries.push({ seq: s, id });
      if (this.#queries.length >= 64) this.#flushQueries();
      else if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        setImmediate(() => this.#flushQueries());
      }
      ids.push(id);
      size += chunk.length;
    };
    try {
      if (job.size < this.#setup.chunker.minSize) {
        // synchronous on purpose: a thread-pool round trip per call costs more than the call itself for a small file
        // in the page cache (each lane is one reader, like restic's file readers)
        const into = await this.#chunks.allocWait(job.size);
        let buf: Buffer;
        try {
          buf = readSmallSync(job.path, job.size, into);
        } catch (err) {
          this.#chunks.release(into);
          throw err;
        }
        if (buf.length > 0) await take(buf);
        else this.#chunks.release(into);
      } else {
        const fh = await open(job.path, 'r');
        try {
          for await (const view of chunkFileViews(fh, this.#setup.gear, this.#setup.chunker)) {
            const chunk = await this.#chunks.allocWait(view.length);
            view.copy(chunk);
            await take(chunk);
          }
        } finally {
          await fh.close();
        }
      }
      this.#flushQueries(); // the main thread sees every query of a file before the file's result
      this.#post({ t: 'done', job: job.job, ids, size });
    } catch (err) {
      this.#flushQueries();
      const e = err as NodeJS.ErrnoException;
      this.#post({ t: 'done', job: job.job, ids: [], size: 0, error: { ...(e.code ? { code: e.code } : {}), message: e.message ?? String(err) } });
    }
  }

  /**
   * Jobs run a few at a time so reads overlap with hashing and encoding; but only one file that needs the chunker
   * (and its read buffer) at a time per lane, which bounds memory.
   */
  #pump(): void {
    for (let i = 0; i < this.#queue.length && this.#running < 4; ) {
      const job = this.#queue[i]!;
      const large = job.size >= this.#setup.chunker.minSize;
      if (large && this.#runningLarge > 0) {
        i++;
        continue;
      }
      this.#queue.splice(i, 1);
      this.#running++;
      if (large) this.#runningLarge++;
      void this.#ingest(job).finally(() => {
        this.#running--;
        if (large) this.#runningLarge--;
        this.#pump();
      });
    }
  }
}
