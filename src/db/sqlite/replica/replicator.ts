/**
 * Continuous replication of a SQLite database in WAL mode (like Litestream): every tick, the transactions committed
 * to the WAL since the last tick are read from the -wal file (salts and checksums checked, cut at the last commit)
 * and stored as one segment; a generation is a base copy of the database file plus the segments that follow it.
 *
 * Nothing may be lost between two reads, so safepoint controls when the WAL restarts:
 * - connection R holds a read transaction at all times. While it does, no checkpoint can complete, so no writer
 *   restarts the WAL: frames are only appended, and every one is read;
 * - a new generation (at start, then every `generationMs` or when the WAL outgrows `generationBytes`) takes the
 *   write lock on connection W (writers wait, a few milliseconds), reads the last frames, lets R go, checkpoints
 *   everything into the database file, and pins it again with R. R's new read transaction then reads the database
 *   file only (the WAL is fully copied), which keeps any checkpoint from writing to that file: it stays exactly as
 *   the checkpoint left it while it is copied as the generation's base, writers going on in the WAL meanwhile.
 * A WAL restart safepoint did not expect (replication was stopped, or something else reset the WAL) starts a new
 * generation: a gap is never papered over.
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import Database from 'better-sqlite3';
import type { SqliteSource } from '../../../config/schema-sources.js';
import type { Repository } from '../../../repo/repository.js';
import { backupStreams } from '../../../snapshot/stream-backup.js';
import { UserError, errorMessage } from '../../../util/errors.js';
import { BUSY_TIMEOUT_MS } from '../sqlite-tasks.js';
import { WAL_HEADER, parseWalHeader, scanFrames, type WalHeader } from './wal-format.js';

/** The tag of replication entries (generation bases and segments). */
export const REPLICA_TAG = 'replica';
/** The file of a segment snapshot: the frames, as they were in the WAL. */
export const FRAMES_STREAM = 'frames';
/** The file of a base snapshot: the database file. */
export const BASE_STREAM = 'database.sqlite';

export interface ReplicaBaseMeta {
  readonly kind: 'sqlite';
  readonly mode: 'replica-base';
  readonly generation: string;
  readonly page_size: number;
  /** The WAL when the base was taken: every frame up to `offset` is in the base. */
  readonly wal: { readonly salt1: number; readonly salt2: number; readonly offset: number } | null;
}

export interface ReplicaSegmentMeta {
  readonly kind: 'sqlite';
  readonly mode: 'replica-wal';
  readonly generation: string;
  /** 0, 1, 2... within the generation: a missing number is a gap. */
  readonly seq: number;
  readonly salt1: number;
  readonly salt2: number;
  /** Where the frames were in the WAL file: [start, end). */
  readonly start: number;
  readonly end: number;
  readonly frames: number;
  readonly commits: number;
  readonly page_size: number;
  /** When the frames were read: every transaction in them had committed by then. */
  readonly time: string;
}

export interface ReplicaEvent {
  readonly kind: 'generation' | 'segment' | 'warning';
  readonly generation: string;
  readonly detail: string;
  readonly bytes?: number;
  readonly commits?: number;
  /** Seconds from the segment's read to its being stored in every target. */
  readonly seconds?: number;
}

export interface ReplicatorOptions {
  readonly intervalMs?: number;
  readonly generationMs?: number;
  readonly generationBytes?: number;
  readonly onEvent?: (e: ReplicaEvent) => void;
}

interface Generation {
  readonly id: string;
  readonly started: number;
  seq: number;
  header: WalHeader | null;
  offset: number;
  checksum: [number, number];
  /** Before the first segment, the WAL may restart once (after the checkpoint that made the base). */
  expectRestart: boolean;
}

export class Replicator {
  readonly #repo: Repository;
  readonly #source: SqliteSource;
  readonly #path: string;
  readonly #o: Required<Omit<ReplicatorOptions, 'onEvent'>> & Pick<ReplicatorOptions, 'onEvent'>;
  #r: Database.Database | null = null;
  #w: Database.Database | null = null;
  #gen: Generation | null = null;

  constructor(repo: Repository, source: SqliteSource, o: ReplicatorOptions = {}) {
    this.#repo = repo;
    this.#source = source;
    this.#path = resolve(source.path);
    this.#o = { intervalMs: o.intervalMs ?? 1000, generationMs: o.generationMs ?? 5 * 60_000, generationBytes: o.generationBytes ?? 32 << 20, onEvent: o.onEvent };
  }

  get generation(): string | null {
    return this.#gen?.id ?? null;
  }

  /** Opens the connections and starts the first generation. */
  async start(): Promise<void> {
    const open = (): Database.Database => {
      try {
        return new Database(this.#path, { fileMustExist: true, timeout: BUSY_TIMEOUT_MS });
      } catch (err) {
        throw new UserError(`cannot open SQLite database ${this.#path} (source ${this.#source.name}): ${errorMessage(err)}`, { cause: err });
      }
    };
    this.#r = open();
    this.#w = open();
    const mode = this.#r.pragma('journal_mode', { simple: true }) as string;
    if (mode !== 'wal') {
      this.close();
      throw new UserError(`SQLite database ${this.#path} is in ${mode} journal mode: continuous replication reads the WAL; switch it once with PRAGMA journal_mode=WAL`);
    }
    for (const db of [this.#r, this.#w]) db.pragma('wal_autocheckpoint = 0');
    this.#pin();
    await this.#newGeneration();
  }

  /** Runs ticks until `signal` aborts; a final tick ships what was committed before the stop. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const next = Date.now() + this.#o.intervalMs;
      await this.tick();
      const wait = next - Date.now();
      if (wait > 0) await new Promise<void>((r) => {
        const t = setTimeout(r, wait);
        signal.addEventListener('abort', () => {
          clearTimeout(t);
          r();
        }, { once: true });
      });
    }
    await this.tick();
  }

  /** Ships what was committed since the last tick; starts a new generation when this one is due. */
  async tick(): Promise<void> {
    const g = this.#gen;
    if (!g) throw new Error('the replicator is not started');
    const shipped = await this.#ship(g);
    if (shipped === 'restarted') {
      this.#o.onEvent?.({ kind: 'warning', generation: g.id, detail: 'the WAL was reset outside safepoint (a checkpoint by another program?): starting a new generation' });
      await this.#newGeneration();
      return;
    }
    if (Date.now() - g.started >= this.#o.generationMs || g.offset >= this.#o.generationBytes) await this.#newGeneration();
  }

  close(): void {
    this.#r?.close();
    this.#w?.close();
    this.#r = this.#w = null;
  }

  /** R starts (or restarts) its read transaction: a read is what takes the lock. */
  #pin(): void {
    const r = this.#r!;
    if (r.inTransaction) r.exec('COMMIT');
    r.exec('BEGIN');
    r.prepare('SELECT count(*) FROM sqlite_schema').get();
  }

  /** Reads and stores the frames committed since `g.offset`; 'restarted' when the WAL is not the one we were reading. */
  async #ship(g: Generation): Promise<'ok' | 'restarted'> {
    const read = await this.#read(g);
    if (read === 'restarted') return read;
    if (read) await read.store();
    return 'ok';
  }

  /**
   * Reads the frames committed since `g.offset` and advances `g` past them; `store()` then saves them as the next
   * segment (separate, so that a new generation reads under the write lock and stores after releasing it).
   * null: nothing new; 'restarted': the WAL is not the one we were reading.
   */
  async #read(g: Generation): Promise<{ store: () => Promise<void> } | null | 'restarted'> {
    const started = Date.now();
    let fh;
    try {
      fh = await open(`${this.#path}-wal`, 'r');
    } catch {
      return null; // no WAL yet: nothing was written since the base
    }
    let frames: Buffer;
    let scanEnd: { checksum: [number, number]; frames: number; commits: number; committedBytes: number };
    try {
      const head = Buffer.alloc(WAL_HEADER);
      const { bytesRead } = await fh.read(head, 0, WAL_HEADER, 0);
      const h = bytesRead === WAL_HEADER ? parseWalHeader(head) : null;
      if (!h) return null; // empty or being created: nothing committed in it yet
      if (!g.header || h.salt1 !== g.header.salt1 || h.salt2 !== g.header.salt2) {
        if (!g.expectRestart) return 'restarted';
        // the first cycle after the base: the frames of the old one are all in the base
        g.header = h;
        g.offset = WAL_HEADER;
        g.checksum = h.checksum;
      }
      const size = (await fh.stat()).size;
      if (size <= g.offset) return null;
      const buf = Buffer.alloc(Math.min(size - g.offset, 256 << 20));
      const n = (await fh.read(buf, 0, buf.length, g.offset)).bytesRead;
      scanEnd = scanFrames(h, buf.subarray(0, n), g.checksum);
      if (scanEnd.committedBytes === 0) return null;
      frames = buf.subarray(0, scanEnd.committedBytes);
    } finally {
      await fh.close();
    }
    const h = g.header!;
    const meta: ReplicaSegmentMeta = {
      kind: 'sqlite', mode: 'replica-wal', generation: g.id, seq: g.seq, salt1: h.salt1, salt2: h.salt2,
      start: g.offset, end: g.offset + frames.length, frames: scanEnd.frames, commits: scanEnd.commits, page_size: h.pageSize, time: new Date(started).toISOString(),
    };
    g.seq++;
    g.offset += frames.length;
    g.checksum = scanEnd.checksum;
    g.expectRestart = false;
    const scanned = scanEnd;
    return {
      store: async () => {
        await backupStreams(this.#repo, [{ name: FRAMES_STREAM, data: [frames] }], { source: this.#source.name, tags: [REPLICA_TAG], meta: meta as unknown as Record<string, unknown>, paths: [this.#path] });
        this.#o.onEvent?.({ kind: 'segment', generation: g.id, detail: `${scanned.commits} transactions, ${scanned.frames} pages`, bytes: frames.length, commits: scanned.commits, seconds: (Date.now() - started) / 1000 });
      },
    };
  }

  /**
   * Ends the current generation (its last frames shipped under the write lock) and starts a new one from a
   * checkpointed copy of the database file. When the checkpoint cannot complete (a long reader elsewhere), the
   * current generation goes on and the next tick tries again.
   */
  async #newGeneration(): Promise<void> {
    const w = this.#w!;
    const r = this.#r!;
    w.exec('BEGIN IMMEDIATE');
    let wal: { salt1: number; salt2: number; offset: number; header: WalHeader; checksum: [number, number] } | null = null;
    let page = 0;
    let last: { store: () => Promise<void> } | null = null;
    let goOn = false;
    try {
      if (this.#gen) {
        // the last frames are read under the write lock (nothing can be added meanwhile) and stored after it
        const result = await this.#read(this.#gen);
        if (result === 'restarted') this.#gen.expectRestart = true; // nothing more can be read from it: the base covers it
        else last = result;
      }
      r.exec('COMMIT');
      const [res] = r.pragma('wal_checkpoint(PASSIVE)') as { busy: number; log: number; checkpointed: number }[];
      this.#pin();
      const complete = res !== undefined && res.busy === 0 && res.log === res.checkpointed;
      if (!complete) {
        if (this.#gen) {
          this.#o.onEvent?.({ kind: 'warning', generation: this.#gen.id, detail: `checkpoint incomplete (${res?.checkpointed ?? 0} of ${res?.log ?? 0} frames; another connection reads old data): the generation goes on` });
          goOn = true;
        } else {
          throw new UserError(`SQLite database ${this.#path}: the WAL could not be checkpointed to start replication (another connection holds an old read transaction); try again`);
        }
      }
      if (!goOn) {
        page = r.pragma('page_size', { simple: true }) as number;
        // where the WAL stands: every frame before `offset` is now in the database file
        const fh = await open(`${this.#path}-wal`, 'r').catch(() => null);
        if (fh) {
          try {
            const size = (await fh.stat()).size;
            const buf = Buffer.alloc(size);
            await fh.read(buf, 0, size, 0);
            const h = parseWalHeader(buf);
            if (h) {
              const scan = scanFrames(h, buf.subarray(WAL_HEADER), h.checksum);
              wal = { salt1: h.salt1, salt2: h.salt2, offset: WAL_HEADER + scan.committedBytes, header: h, checksum: scan.checksum };
            }
          } finally {
            await fh.close();
          }
        }
      }
    } finally {
      if (w.inTransaction) w.exec('COMMIT');
    }
    if (last) await last.store();
    if (goOn) return;
    // writers go on in the WAL; R reads only the database file, so no checkpoint touches it while it is copied
    const id = randomBytes(8).toString('hex');
    const meta: ReplicaBaseMeta = { kind: 'sqlite', mode: 'replica-base', generation: id, page_size: page, wal: wal ? { salt1: wal.salt1, salt2: wal.salt2, offset: wal.offset } : null };
    const started = Date.now();
    const { snapshot } = await backupStreams(this.#repo, [{ name: BASE_STREAM, data: createReadStream(this.#path, { highWaterMark: 1 << 20 }) }], {
      source: this.#source.name, tags: [REPLICA_TAG], meta: meta as unknown as Record<string, unknown>, paths: [this.#path],
    });
    this.#gen = { id, started, seq: 0, header: wal?.header ?? null, offset: wal?.offset ?? WAL_HEADER, checksum: wal?.checksum ?? [0, 0], expectRestart: true };
    this.#o.onEvent?.({ kind: 'generation', generation: id, detail: `base copy of ${(snapshot.summary.total_bytes_processed / 1048576).toFixed(1)} MiB`, bytes: snapshot.summary.data_added, seconds: (Date.now() - started) / 1000 });
  }
}

