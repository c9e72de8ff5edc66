import { Worker } from 'node:worker_threads';
import { dropReadBuffers, type ChunkerParams } from '../../repo/chunker.js';
import type { CompressionMode } from '../../repo/compression.js';
import { SafepointError } from '../../util/errors.js';
import { collectGarbage } from '../../util/gc.js';
import { IngestEngine } from './ingest-engine.js';
import { RECYCLE_MIN } from './box-pool.js';
import type { FileJob, FromWorker, ToWorker, WorkerSetup } from './protocol.js';

/** What the pool needs from the repository. */
export interface IngestRepo {
  readonly gear: Uint32Array;
  readonly chunkerParams: ChunkerParams;
  readonly key: { readonly macKey: Buffer; readonly encKey: Buffer };
  readonly config: { readonly compression: CompressionMode };
  /** True when the blob is neither stored nor claimed yet: the caller must then store it. */
  claimBlob(id: string): boolean;
  /** Takes a copy of the box (as the packer does) before it resolves: the box's buffer goes back to its lane. */
  saveRawBlob(type: 'data', id: string, box: Buffer, rawLength: number, compressed: boolean): Promise<void>;
}

export interface IngestResult {
  readonly ids: string[];
  readonly size: number;
}

/** The pool itself failed (a worker died): fatal for the backup, unlike a file that cannot be read. */
/* A repository error (disk full) is passed through as it is and is fatal too: see isFatal in the archiver. */
export class IngestFailure extends SafepointError {}

/** One lane of ingest work: a worker thread, or the engine on this thread (see IngestPool). */
interface Lane {
  /** `transfer`: buffers that move to the lane's thread with the message (none move to the main lane). */
  send(m: ToWorker, transfer?: ArrayBuffer[]): void;
  /** Whether the lane keeps the process alive (a worker must while it has work, and must not when idle). */
  hold(busy: boolean): void;
  stop(): Promise<void>;
  /** Jobs sent and not yet done, and blobs it was told to store and has not sent yet. */
  jobs: number;
  blobs: number;
  /** Bytes of the files sent and not yet done: new work goes to the lane with the least. */
  bytes: number;
  /** Messages are handled one after the other, so a file's blobs are in the packer before its result. */
  chain: Promise<void>;
}

const SMALL_BATCH = 32;
/**
 * Bytes a thread may hold read and not yet in a pack (its ring is this plus 2 MiB, its box pool this plus a MiB).
 * The benchmark's initial backup, four interleaved runs each: 146–153 MiB peak RSS with 2 MiB, 156–165 with 4, for
 * ~5 % more time (8.5 s against 8.1 s; restic 10.4 s).
 */
const WORKER_BUDGET = 2 * 1024 * 1024;
/**
 * The main lane's verdicts come back without a thread hop, so fewer of its chunks need to wait for one: the benchmark's
 * 1 % change backup (five interleaved runs each) peaked at 86 MiB with 1 MiB, 88 with 2 or 4, in the same time.
 */
const MAIN_BUDGET = 1024 * 1024;

/** When the engine on this thread hands over to threads (see IngestPool). */
export interface Escalation {
  /** Raw bytes of new data the main lane has compressed and encrypted (default 32 MiB). */
  readonly stored: number;
  /** Bytes of files waiting on the main lane (default 1 GiB). */
  readonly backlog: number;
}
const ESCALATION: Escalation = { stored: 32 * 1024 * 1024, backlog: 1024 * 1024 * 1024 };

/**
 * Reads, chunks, names, compresses and encrypts files, one engine per lane (ingest-engine.ts); this thread packs and
 * writes. Work starts on a lane on this thread, which costs no thread at all: a re-backup reads the files that
 * changed, and most of what it reads are chunks the repository has (named, then dropped), which one lane does at
 * ~450 MB/s. Threads start, and the main lane's queued files are spread over the lanes, once the work is the heavy
 * kind: new data to compress (`stored`), more files queued than the main lane reads in ~2 s (`backlog`), or a large
 * file with no earlier version (as large as `stored`: a file stays on the lane that started it, and one lane
 * compressing GBs would leave the threads idle). The main lane then either stays, working next to the threads (the
 * archiver starts one thread fewer than cores then, for a local repository), or takes no more files and retires.
 * Each thread costs ~30 MiB of peak memory: the benchmark's 1 % change backup peaks at 88 MiB on the main lane and
 * 127 MiB on two threads, in about the same time (docs/architecture.md). Small files travel in batches.
 */
export class IngestPool {
  readonly #repo: IngestRepo;
  readonly #lanes: Lane[] = [];
  /** The engine on this thread while it takes work, and its lane. */
  #main: { engine: IngestEngine; lane: Lane; stored: number } | undefined;
  #threads = 0;
  #mainLaneFiles = 0;
  readonly #jobs = new Map<number, { resolve(r: IngestResult): void; reject(e: unknown): void }>();
  /** Blobs claimed by a verdict and not yet received. */
  readonly #awaiting = new Set<string>();
  readonly #sizes = new Map<number, number>();
  #drained: (() => void)[] = [];
  #batch: FileJob[] = [];
  #batchScheduled = false;
  #next = 0;
  #closed = false;
  #failure: unknown;
  /** Bytes and blobs added to the repository through the pool. */
  dataAdded = 0;
  dataBlobs = 0;

  readonly #setup: WorkerSetup;
  readonly #workers: number;
  readonly #escalation: Escalation;
  readonly #laneStays: boolean;

  /**
   * Nothing runs until the first file: a backup of an unchanged tree reads none. `workers` is the number of threads
   * to start for heavy work (0: the main lane does everything). `laneStays`: the main lane keeps working next to
   * them, instead of handing its queue over and retiring.
   */
  constructor(repo: IngestRepo, workers: number, escalation: Escalation = ESCALATION, laneStays = false) {
    this.#repo = repo;
    this.#workers = Math.max(0, workers);
    this.#escalation = escalation;
    this.#laneStays = laneStays;
    this.#setup = {
      macKey: repo.key.macKey,
      encKey: repo.key.encKey,
      gear: repo.gear,
      chunker: { minSize: repo.chunkerParams.minSize, avgSize: repo.chunkerParams.avgSize, maxSize: repo.chunkerParams.maxSize },
      compression: repo.config.compression,
      budget: WORKER_BUDGET,
    };
  }

  /** The main lane: the engine called through setImmediate, so that it runs as a worker's messages would. */
  #startMain(): void {
    // the lane keeps its engine after it retires: its last acknowledgements still reach it
    // eslint-disable-next-line prefer-const -- the lane and the engine refer to each other
    let engine: IngestEngine | undefined;
    const deliver = (m: ToWorker): void => {
      if (this.#closed || !engine) return;
      try {
        engine.receive(m);
      } catch (err) {
        this.#fail(err, true); // as a worker that threw would
      }
    };
    const lane: Lane = {
      // files are queued at once, so that a hand-over takes all of them back; the rest comes later, as a worker's
      // messages would (the engine must not run inside the handler that answers it)
      send: (m) => (m.t === 'files' ? deliver(m) : setImmediate(deliver, m)),
      hold: () => undefined, // its pending reads and timers keep the process alive themselves
      stop: async () => undefined,
      jobs: 0,
      blobs: 0,
      bytes: 0,
      chain: Promise.resolve(),
    };
    engine = new IngestEngine({ ...this.#setup, budget: MAIN_BUDGET }, (m) => this.#receive(lane, m));
    this.#main = { engine, lane, stored: 0 };
    this.#lanes.push(lane);
  }

  #startThreads(): void {
    for (let i = 0; i < this.#workers; i++) {
      const worker = new Worker(new URL('./ingest-worker.js', import.meta.url), { workerData: this.#setup, resourceLimits: { maxYoungGenerationSizeMb: 4 } });
      const lane: Lane = {
        send: (m, transfer) => worker.postMessage(m, transfer),
        hold: (busy) => (busy ? worker.ref() : worker.unref()),
        stop: async () => void (await worker.terminate()),
        jobs: 0,
        blobs: 0,
        bytes: 0,
        chain: Promise.resolve(),
      };
      worker.on('message', (m: FromWorker) => this.#receive(lane, m));
      worker.on('error', (err) => this.#fail(err, true));
      worker.on('exit', (code) => {
        if (code !== 0 && this.#failure === undefined && this.#lanes.includes(lane)) this.#fail(new Error(`ingest worker exited with code ${code}`), true);
      });
      worker.unref();
      this.#lanes.push(lane);
      this.#threads++;
    }
  }

  #receive(lane: Lane, m: FromWorker): void {
    // an error here is the repository's (a failed pack write: disk full...), reported as it is
    lane.chain = lane.chain.then(() => this.#handle(lane, m)).catch((err: unknown) => this.#fail(err, false));
  }

  /**
   * Threads start once the main lane has done enough of the heavy kind of work, or `incoming` files would take its
   * backlog past the limit, or they are `heavy` (known new data). Its queue is spread over the lanes; unless it
   * stays, it takes no more files and retires once idle.
   * Decided before files are sent: a file stays on the lane that started it.
   */
  #escalate(incoming = 0, heavy = false): void {
    if (this.#workers === 0 || this.#threads > 0) return;
    const main = this.#main;
    const { stored, backlog } = this.#escalation;
    if (!heavy && (main?.stored ?? 0) < stored && (main?.lane.bytes ?? 0) + incoming < backlog) return;
    this.#startThreads();
    if (!main) return;
    const queued = main.engine.takeQueued();
    main.lane.jobs -= queued.length;
    for (const j of queued) main.lane.bytes -= this.#sizes.get(j.job) ?? 0;
    this.#retire();
    // spread over the lanes (the main lane among them when it stays), a batch at a time to the least loaded
    for (let i = 0; i < queued.length; i += SMALL_BATCH) this.#send(queued.slice(i, i + SMALL_BATCH));
  }

  /** Drops the main lane once threads run and it has nothing left in flight: its engine's memory goes with it. */
  #retire(): void {
    const main = this.#main;
    if (!main || this.#laneStays || this.#threads === 0 || main.lane.jobs + main.lane.blobs > 0) return;
    this.#main = undefined;
    this.#lanes.splice(this.#lanes.indexOf(main.lane), 1);
    // its ring and read buffer (~10 MiB) are garbage now; a full collection of this thread's heap takes ~10 ms
    dropReadBuffers();
    setImmediate(collectGarbage);
  }

  /** Threads running (none until the main lane hands over). */
  get threads(): number {
    return this.#threads;
  }

  /** Files the main lane has finished (for tests). */
  get mainLaneFiles(): number {
    return this.#mainLaneFiles;
  }

  /** Whether the engine on this thread is taking work (for tests). */
  get mainLane(): boolean {
    return this.#main !== undefined;
  }

  /** True once the pool has failed as a whole: job errors are then not the file's fault. */
  get failed(): boolean {
    return this.#failure !== undefined;
  }

  /**
   * Reads, chunks and stores one file; rejects with the file's error (ENOENT, EACCES...) when it cannot be read.
   * `fresh`: the file has no earlier version (in the parent snapshot), so its content is likely new.
   */
  ingest(path: string, size: number, fresh = false): Promise<IngestResult> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    const job = this.#next++;
    const p = new Promise<IngestResult>((resolve, reject) => this.#jobs.set(job, { resolve, reject }));
    const fj: FileJob = { job, path, size };
    if (size >= this.#repo.chunkerParams.minSize) this.#send([fj], fresh && size >= this.#escalation.stored);
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

  /** Stops the lanes; messages still queued from them are then ignored, and the ones being handled finish first. */
  async close(): Promise<void> {
    this.#closed = true; // a file sent after this fails instead of starting a lane
    this.#main = undefined;
    const lanes = this.#lanes.splice(0);
    await Promise.all(lanes.map((l) => l.stop()));
    await Promise.all(lanes.map((l) => l.chain));
  }

  #sendBatch(): void {
    this.#batchScheduled = false;
    const jobs = this.#batch;
    this.#batch = [];
    if (jobs.length > 0) this.#send(jobs);
  }

  /** Sends files to the lane with the least bytes to read; `heavy`: they are known to be new data. */
  #send(jobs: FileJob[], heavy = false): void {
    if (this.#failure !== undefined || this.#closed) {
      // failed or closed while these waited for their batch: they fail with the pool's error
      const err = this.#failure ?? new IngestFailure('the ingest lanes were stopped');
      for (const j of jobs) this.#jobs.get(j.job)?.reject(err);
      for (const j of jobs) this.#jobs.delete(j.job);
      return;
    }
    this.#escalate(jobs.reduce((n, j) => n + j.size, 0), heavy);
    if (this.#lanes.length === 0) this.#startMain();
    // once threads run, the main lane takes nothing new, unless it stays
    const lanes = this.#threads > 0 && !this.#laneStays ? this.#lanes.filter((l) => l !== this.#main?.lane) : this.#lanes;
    const lane = lanes.reduce((a, b) => (b.bytes < a.bytes ? b : a));
    lane.jobs += jobs.length;
    for (const j of jobs) {
      lane.bytes += j.size;
      this.#sizes.set(j.job, j.size);
    }
    lane.hold(true);
    lane.send({ t: 'files', jobs });
  }

  async #handle(lane: Lane, m: FromWorker): Promise<void> {
    if (this.#closed) return; // after an error the repository is being rolled back: nothing more goes into it
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
        lane.blobs += store.length;
        this.#settle(lane);
        lane.send({ t: 'verdict', store, drop });
        break;
      }
      case 'blobs': {
        let bytes = 0;
        const boxes: ArrayBuffer[] = [];
        for (const b of m.items) {
          const box = Buffer.from(b.box, 0, b.length);
          await this.#repo.saveRawBlob('data', b.id, box, b.rawLength, b.compressed);
          // the packer has copied it: the buffer goes back to the lane for a later box
          if (b.box.byteLength >= RECYCLE_MIN) boxes.push(b.box);
          this.#awaiting.delete(b.id);
          this.dataAdded += box.length;
          this.dataBlobs++;
          bytes += b.rawLength;
        }
        if (lane === this.#main?.lane) this.#main.stored += bytes;
        lane.blobs -= m.items.length;
        this.#settle(lane);
        lane.send({ t: 'ack', bytes, boxes }, boxes);
        this.#escalate();
        this.#wake();
        break;
      }
      case 'done': {
        if (lane === this.#main?.lane) this.#mainLaneFiles++;
        lane.jobs--;
        lane.bytes -= this.#sizes.get(m.job) ?? 0;
        this.#sizes.delete(m.job);
        this.#settle(lane);
        const j = this.#jobs.get(m.job);
        this.#jobs.delete(m.job);
        if (m.error) j?.reject(Object.assign(new Error(m.error.message), m.error.code ? { code: m.error.code } : {}));
        else j?.resolve({ ids: [...m.ids], size: m.size });
        this.#wake();
        break;
      }
    }
  }

  #settle(lane: Lane): void {
    const busy = lane.jobs + lane.blobs > 0;
    lane.hold(busy);
    if (!busy && lane === this.#main?.lane) this.#retire();
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
