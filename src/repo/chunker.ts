/**
 * Content-defined chunking (format §5.1): a FastCDC-style gear hash `h = (h << 1) + gear[byte]` (32-bit),
 * normalized chunking level 2 (a mask 2 bits stricter than the average before `avgSize`, 2 bits looser
 * after it) and the first `minSize` bytes of every chunk skipped without hashing. The mask bits are the
 * top bits of the hash, which depend on the last 32 bytes (the low bits only see the last few bytes).
 */
import { createHmac } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';

/** Chunk size bounds in bytes: every chunk but the last of a stream is within [minSize, maxSize]. */
export interface ChunkerParams {
  readonly minSize: number;
  readonly avgSize: number;
  readonly maxSize: number;
}

/** The default for new repositories (format §4.2 `config.chunker`, §5.1): 512 KiB / 1 MiB / 4 MiB. */
export const DEFAULT_CHUNKER_PARAMS: ChunkerParams = Object.freeze({ minSize: 512 * 1024, avgSize: 1024 * 1024, maxSize: 4 * 1024 * 1024 });

/**
 * The 256 x uint32 gear table for a 32-byte secret seed: entry `8k+j` is the j-th little-endian uint32 of
 * block k (0..31) where block k = HMAC-SHA-256(seed, "safepoint gear table v1" | uint32be k).
 */
export function gearTable(seed: Uint8Array): Uint32Array {
  if (seed.length !== 32) throw new RangeError(`chunker seed must be 32 bytes, got ${seed.length}`);
  const table = new Uint32Array(256);
  const label = Buffer.from('safepoint gear table v1', 'utf8');
  const counter = Buffer.alloc(4);
  for (let k = 0; k < 32; k++) {
    counter.writeUInt32BE(k, 0);
    const block = createHmac('sha256', seed).update(label).update(counter).digest();
    for (let j = 0; j < 8; j++) table[k * 8 + j] = block.readUInt32LE(j * 4);
  }
  return table;
}

/** Validated params with the two masks (int32, bits at the top of the hash). */
interface Plan { readonly min: number; readonly avg: number; readonly max: number; readonly maskS: number; readonly maskL: number }

function plan(gear: Uint32Array, p: ChunkerParams): Plan {
  if (gear.length !== 256) throw new RangeError('gear table must have 256 entries');
  const { minSize: min, avgSize: avg, maxSize: max } = p;
  if (!Number.isSafeInteger(min) || !Number.isSafeInteger(avg) || !Number.isSafeInteger(max) || min < 64 || min > avg || avg > max || max > 2 ** 30) {
    throw new RangeError(`invalid chunker params: min ${min}, avg ${avg}, max ${max} (need 64 <= min <= avg <= max <= 1 GiB)`);
  }
  const bits = Math.round(Math.log2(avg)); // 20 for 1 MiB; min >= 64 keeps bits - 2 >= 4
  return { min, avg, max, maskS: -1 << (32 - Math.min(bits + 2, 31)), maskL: -1 << (32 - (bits - 2)) };
}

/** Hash state left by the last `scan` that returned -1 (JS is single-threaded and `scan` is synchronous). */
let lastHash = 0;

/**
 * The hot loop. Scans data[i..end) of a chunk of which `n` bytes precede data[i] (with hash state `h`).
 * Returns the index just after the cut, or -1 if data ran out first (state in `lastHash`).
 */
function scan(gear: Uint32Array, pl: Plan, data: Uint8Array, i: number, end: number, n: number, h: number): number {
  const base = i - n; // index of the chunk's first byte (may be virtual, before this buffer)
  const limit = base + pl.max;
  const maskS = pl.maskS;
  const maskL = pl.maskL;
  if (n < pl.min) i = Math.min(base + pl.min, end);
  let stop = Math.min(base + pl.avg, end);
  for (; i < stop; i++) {
    h = ((h << 1) + gear[data[i]!]!) | 0;
    if ((h & maskS) === 0) return i + 1;
  }
  stop = Math.min(limit, end);
  for (; i < stop; i++) {
    h = ((h << 1) + gear[data[i]!]!) | 0;
    if ((h & maskL) === 0) return i + 1;
  }
  if (i === limit) return i;
  lastHash = h;
  return -1;
}

// Give every exit of `scan` type feedback up front: otherwise V8 optimizes it on-stack inside the first
// loop and then deoptimizes at the untried exits again and again (measured: 1000 deopts per 64 MiB).
for (const [maskS, maskL, end] of [[0, 0, 2048], [-1, 0, 2048], [-1, -1, 2048], [-1, -1, 512]] as const) {
  scan(new Uint32Array(256).fill(0x9e3779b9), { min: 64, avg: 256, max: 1024, maskS, maskL }, Buffer.alloc(end, 1), 0, end, 0, 0);
}

/**
 * Length of the chunk starting at data[start], given data[start..end). Returns -1 when more data is
 * needed (`final` false, no boundary yet and fewer than maxSize bytes); with `final`, the rest is the
 * last chunk. Never more than maxSize.
 */
export function nextBoundary(gear: Uint32Array, params: ChunkerParams, data: Uint8Array, start: number, end: number, final: boolean): number {
  if (!(start >= 0 && start <= end && end <= data.length)) throw new RangeError(`bad range [${start}, ${end}) of ${data.length}`);
  const cut = scan(gear, plan(gear, params), data, start, end, 0, 0);
  if (cut >= 0) return cut - start;
  return final ? end - start : -1;
}

/** A fresh, unpooled Buffer (own ArrayBuffer: independent, transferable) holding the parts in order. */
function join(parts: readonly Uint8Array[], total: number): Buffer {
  const out = Buffer.allocUnsafeSlow(total);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Chunking state between calls: `n` bytes of the current chunk seen so far, with hash `h`. */
interface State { n: number; h: number }

/**
 * All cuts in data[i..end) (indexes just after each boundary), updating `st` to the unfinished tail. A plain
 * function, so that the hot loop is not inlined into an async generator (measured 40% slower there).
 */
function cuts(gear: Uint32Array, pl: Plan, data: Uint8Array, i: number, end: number, st: State): number[] {
  const out: number[] = [];
  for (;;) {
    const cut = scan(gear, pl, data, i, end, st.n, st.h);
    if (cut < 0) {
      st.n += end - i;
      st.h = lastHash;
      return out;
    }
    out.push(cut);
    st.n = st.h = 0;
    i = cut;
  }
}

/**
 * Chunks a stream of buffers. Each chunk is copied once into a fresh Buffer of its own. The source must
 * not modify a buffer after yielding it (fs streams do not); at most maxSize bytes of it are retained.
 */
export async function* chunkStream(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, gear: Uint32Array, params: ChunkerParams = DEFAULT_CHUNKER_PARAMS): AsyncGenerator<Buffer> {
  const pl = plan(gear, params);
  const st: State = { n: 0, h: 0 };
  let parts: Uint8Array[] = []; // the current chunk's bytes from earlier buffers
  let held = 0;
  for await (const piece of source) {
    let i = 0;
    for (const cut of cuts(gear, pl, piece, 0, piece.length, st)) {
      parts.push(piece.subarray(i, cut));
      const chunk = join(parts, held + cut - i);
      parts = [];
      held = 0;
      i = cut;
      yield chunk;
    }
    if (i < piece.length) {
      parts.push(piece.subarray(i));
      held += piece.length - i;
    }
  }
  if (held > 0) yield join(parts, held);
}

/** Idle read buffers of finished chunkFile calls (never referenced by a yielded chunk). */
const readBuffers: Buffer[] = [];

/** Lets go of this thread's idle read buffer (up to `maxSize` plus a read), when it will chunk no more files for a while. */
export function dropReadBuffers(): void {
  readBuffers.length = 0;
}

/** Bytes asked of each read. */
const READ_SIZE = 1024 * 1024;

/**
 * Chunks an open file from offset 0 with positional reads into a reused buffer; the output equals chunkStream over
 * the file's bytes. Each chunk is a view of that buffer, valid until the generator goes on (or returns): a consumer
 * copies what it keeps, straight to where it keeps it (an ingest thread's ring), or only hashes it.
 *
 * The buffer starts at twice the average chunk plus a read and grows (up to maxSize plus a read) only when a chunk
 * runs longer than it: with normalized chunking, chunks past 2x the average are rare, and a buffer sized for the
 * largest possible chunk (9 MiB with 8 MiB chunks) was resident in every thread that had read one large file.
 */
export async function* chunkFileViews(handle: FileHandle, gear: Uint32Array, params: ChunkerParams = DEFAULT_CHUNKER_PARAMS): AsyncGenerator<Buffer> {
  const pl = plan(gear, params);
  const read = Math.min(pl.max, READ_SIZE);
  const largest = pl.max + read;
  let buf = readBuffers.pop() ?? Buffer.allocUnsafeSlow(Math.min(largest, 2 * params.avgSize + read));
  try {
    const st: State = { n: 0, h: 0 };
    let position = 0; // file offset of the next read
    let fill = 0; // valid bytes in buf
    let start = 0; // start of the current chunk in buf
    for (;;) {
      if (buf.length - fill < read) {
        // move the current chunk's bytes (< maxSize) to the front; grow when that still leaves no room for a read
        buf.copyWithin(0, start, fill);
        fill -= start;
        start = 0;
        if (buf.length - fill < read) {
          const bigger = Buffer.allocUnsafeSlow(Math.min(largest, Math.max(buf.length * 2, fill + read)));
          buf.copy(bigger, 0, 0, fill);
          buf = bigger;
        }
      }
      const { bytesRead } = await handle.read(buf, fill, buf.length - fill, position);
      if (bytesRead === 0) break;
      position += bytesRead;
      fill += bytesRead;
      for (const cut of cuts(gear, pl, buf, fill - bytesRead, fill, st)) {
        const chunk = buf.subarray(start, cut);
        start = cut;
        yield chunk;
      }
    }
    if (fill > start) yield buf.subarray(start, fill);
  } finally {
    if (readBuffers.length < 1) readBuffers.push(buf);
  }
}

/** chunkFileViews, each chunk copied into a fresh Buffer of its own. */
export async function* chunkFile(handle: FileHandle, gear: Uint32Array, params: ChunkerParams = DEFAULT_CHUNKER_PARAMS): AsyncGenerator<Buffer> {
  for await (const view of chunkFileViews(handle, gear, params)) yield join([view], view.length);
}
