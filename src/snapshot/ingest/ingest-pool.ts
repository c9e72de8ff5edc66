import { Worker } from 'node:worker_threads';
import type { ChunkerParams } from '../../repo/chunker.js';
import type { CompressionMode } from '../../repo/compression.js';
import { SafepointError } from '../../util/errors.js';
import type { FileJob, FromWorker, ToWorker, WorkerSetup } from './protocol.js';

/** What the pool needs from the repository. */
export interface IngestRepo {
  readonly gear: Uint32Array;
  readonly chunkerParams: ChunkerParams;
  readonly key: { readonly macKey: Buffer; readonly encKey: Buffer };
  readonly config: { readonly compression: CompressionMode };
  /** True when the blob is neither stored nor claimed yet: the caller must then store it. */
  claimBlob(id: string): boolean;
  saveRawBlob(type: 'data', id: string, box: Buffer, rawLength: number, compressed: boolean): Promise<void>;
}

export interface IngestResult {
  readonly ids: string[];
  readonly size: number;
}

/** The pool itself failed (a worker died): fatal for the backup, unlike a file that cannot be read. */
/* A repository error (disk full) is passed through as it is and is fatal too: see isFatal in the archiver. */
export class IngestFailure extends SafepointError {}

interface Slot {
  readonly worker: Worker;
  /** Jobs sent and not yet done, and blobs it was told to store and has not sent yet: the worker keeps the process alive while either is non-zero. */
  jobs: number;
  blobs: number;
  /** Bytes of the files sent and not yet done: new work goes to the thread with the least. */
  bytes: number;
  /** Messages are handled one after the other, so a file's blobs are in the packer before its result. */
  chain: Promise<void>;
}

const SMALL_BATCH = 32;
const WORKER_BUDGET = 4 * 1024 * 1024;

/**
 * Reads and chunks files on worker threads (one per core); each worker names its chunks, asks here which are new,
 * and compresses and encrypts those. This thread packs and writes. Small files travel in batches.
 */
export class IngestPool {
  readonly #repo: IngestRepo;
  readonly #slots: Slot[] = [];
  readonly #jobs = new Map<number, { resolve(r: IngestResult): void; reject(e: unknown): void }>();
  /** Blobs claimed by a verdict and not yet received. */
  readonly #awaiting = new Set<string>();
  readonly #sizes = new Map<number, number>();
  #drained: (() => void)[] = [];
  #batch: FileJob[] = [];
  #batchScheduled = false;
  #next = 0;
  #started = false;
  #failure: unknown;
  /** Bytes and blobs added to the repository through the pool. */
  dataAdded = 0;
  dataBlobs = 0;

  readonly #setup: WorkerSetup;
  readonly #workers: number;

  /** Threads start with the first file to read: a backup of an unchanged tree reads none and starts none. */
  constructor(repo: IngestRepo, workers: number) {
    this.#repo = repo;
    this.#workers = Math.max(1, workers);
    this.#setup = {
      macKey: repo.key.macKey,
      encKey: repo.key.encKey,
      gear: repo.gear,
      chunker: { minSize: repo.chunkerParams.minSize, avgSize: repo.chunkerParams.avgSize, maxSize: repo.chunkerParams.maxSize },
      compression: repo.config.compression,
      budget: WORKER_BUDGET,
    };
  }

  #start(): void {
    this.#started = true;
    for (let i = 0; i < this.#workers; i++) {
      const worker = new Worker(new URL('./ingest-worker.js', import.meta.url), { workerData: this.#setup, resourceLimits: { maxYoungGenerationSizeMb: 4 } });
      const slot: Slot = { worker, jobs: 0, blobs: 0, bytes: 0, chain: Promise.resolve() };
      worker.on('message', (m: FromWorker) => {
        // an error here is the repository's (a failed pack write: disk full...), reported as it is
        slot.chain = slot.chain.then(() => this.#handle(slot, m)).catch((err: unknown) => this.#fail(err, false));
      });
      worker.on('error', (err) => this.#fail(err, true));
      worker.on('exit', (code) => {
        if (code !== 0 && this.#failure === undefined && this.#slots.includes(slot)) this.#fail(new Error(`ingest worker exited with code ${code}`), true);
      });
      worker.unref();
      this.#slots.push(slot);
    }
  }

  /** Threads running (none until the first file is sent). */
  get threads(): number {
    return this.#slots.length;
  }

  /** True once the pool has failed as a whole: job errors are then not the file's fault. */
  get failed(): boolean {
    return this.#failure !== undefined;
  }

  /** Reads, chunks and stores one file; rejects with the file's error (ENOENT, EACCES...) when it cannot be read. */
  ingest(path: string, size: number): Promise<IngestResult> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    const job = this.#next++;
    const p = new Promise<IngestResult>((resolve, reject) => this.#jobs.set(job, { resolve, reject }));
    const fj: FileJob = { job, path, size };
    if (size >= this.#repo.chunkerParams.minSize) this.#send([fj]);
    else {
      this.#batch.push(fj);
      if (this.#batch.length >= SMALL_BATCH) this.#sendBatch();
      else if (!this.#batchScheduled) {
        this.#batchScheduled = true;
        setImmediate(() => this.#sendBatch());
      }
    }
    return p;
  }

  /** Resolves when every blob a worker was told to store has reached the repository (call before flush). */
  async drain(): Promise<void> {
    while (this.#awaiting.size > 0 || this.#jobs.size > 0) {
      if (this.#failure !== undefined) throw this.#failure;
      await new Promise<void>((r) => this.#drained.push(r));
    }
    if (this.#failure !== undefined) throw this.#failure;
  }

  async close(): Promise<void> {
    this.#started = true; // a file sent after this fails instead of starting threads
    const slots = this.#slots.splice(0);
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }

  #sendBatch(): void {
    this.#batchScheduled = false;
    const jobs = this.#batch;
    this.#batch = [];
    if (jobs.length > 0) this.#send(jobs);
  }

  #send(jobs: FileJob[]): void {
    if (!this.#started && this.#failure === undefined) this.#start();
    if (this.#failure !== undefined || this.#slots.length === 0) {
      // failed or closed while these waited for their batch: they fail with the pool's error
      const err = this.#failure ?? new IngestFailure('the ingest threads were stopped');
      for (const j of jobs) this.#jobs.get(j.job)?.reject(err);
      for (const j of jobs) this.#jobs.delete(j.job);
      return;
    }
    const slot = this.#slots.reduce((a, b) => (b.bytes < a.bytes ? b : a));
    slot.jobs += jobs.length;
    for (const j of jobs) {
      slot.bytes += j.size;
      this.#sizes.set(j.job, j.size);
    }
    this.#reref(slot);
    post(slot, { t: 'files', jobs });
  }

  async #handle(slot: Slot, m: FromWorker): Promise<void> {
    switch (m.t) {
      case 'query': {
        const store: number[] = [];
        const drop: number[] = [];
        for (const q of m.items) {
          if (this.#repo.claimBlob(q.id)) {
            this.#awaiting.add(q.id);
            store.push(q.seq);
          } else drop.push(q.seq);
        }
        slot.blobs += store.length;
        this.#reref(slot);
        post(slot, { t: 'verdict', store, drop });
        break;
      }
      case 'blobs': {
        let bytes = 0;
        for (const b of m.items) {
          const box = Buffer.from(b.box);
          await this.#repo.saveRawBlob('data', b.id, box, b.rawLength, b.compressed);
          this.#awaiting.delete(b.id);
          this.dataAdded += box.length;
          this.dataBlobs++;
          bytes += b.rawLength;
        }
        slot.blobs -= m.items.length;
        this.#reref(slot);
        post(slot, { t: 'ack', bytes });
        this.#wake();
        break;
      }
      case 'done': {
        slot.jobs--;
        slot.bytes -= this.#sizes.get(m.job) ?? 0;
        this.#sizes.delete(m.job);
        this.#reref(slot);
        const j = this.#jobs.get(m.job);
        this.#jobs.delete(m.job);
        if (m.error) j?.reject(Object.assign(new Error(m.error.message), m.error.code ? { code: m.error.code } : {}));
        else j?.resolve({ ids: [...m.ids], size: m.size });
        this.#wake();
        break;
      }
    }
  }

  #reref(slot: Slot): void {
    if (slot.jobs + slot.blobs > 0) slot.worker.ref();
    else slot.worker.unref();
  }

  #wake(): void {
    const d = this.#drained;
    this.#drained = [];
    for (const f of d) f();
  }

  /** Fails every job: with IngestFailure when a worker broke, with the repository's own error otherwise. */
  #fail(err: unknown, worker: boolean): void {
    if (this.#failure !== undefined) return;
    this.#failure = worker ? new IngestFailure(`an ingest worker failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err }) : err;
    for (const j of this.#jobs.values()) j.reject(this.#failure);
    this.#jobs.clear();
    this.#wake();
  }
}

function post(slot: Slot, m: ToWorker): void {
  slot.worker.postMessage(m);
}
