/**
 * SQLite's write-ahead log file format (https://www.sqlite.org/fileformat2.html#walformat): a 32-byte header, then
 * frames of a 24-byte header and one page. A frame belongs to the current WAL when its salts equal the header's and
 * its cumulative checksum is right; a frame whose "database size" field is non-zero commits a transaction.
 */

export const WAL_HEADER = 32;
export const FRAME_HEADER = 24;
const MAGIC_LE = 0x377f0682;
const MAGIC_BE = 0x377f0683;

export interface WalHeader {
  readonly bigEndian: boolean;
  readonly pageSize: number;
  readonly checkpointSeq: number;
  readonly salt1: number;
  readonly salt2: number;
  /** The running checksum after the header: where the first frame's checksum starts. */
  readonly checksum: [number, number];
}

/** The header of a WAL file, or null when the bytes are not a valid one (empty, truncated, bad checksum). */
export function parseWalHeader(b: Buffer): WalHeader | null {
  if (b.length < WAL_HEADER) return null;
  const magic = b.readUInt32BE(0);
  if (magic !== MAGIC_LE && magic !== MAGIC_BE) return null;
  const bigEndian = magic === MAGIC_BE;
  const raw = b.readUInt32BE(8);
  const pageSize = raw === 1 ? 65536 : raw;
  if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) return null;
  const checksum = walChecksum(bigEndian, b.subarray(0, 24), [0, 0]);
  if (checksum[0] !== b.readUInt32BE(24) || checksum[1] !== b.readUInt32BE(28)) return null;
  return { bigEndian, pageSize, checkpointSeq: b.readUInt32BE(12), salt1: b.readUInt32BE(16), salt2: b.readUInt32BE(20), checksum };
}

/** SQLite's WAL checksum of `data` (a multiple of 8 bytes), continuing from `s`. */
export function walChecksum(bigEndian: boolean, data: Buffer, s: readonly [number, number]): [number, number] {
  let s0 = s[0];
  let s1 = s[1];
  for (let i = 0; i + 8 <= data.length; i += 8) {
    const x0 = bigEndian ? data.readUInt32BE(i) : data.readUInt32LE(i);
    const x1 = bigEndian ? data.readUInt32BE(i + 4) : data.readUInt32LE(i + 4);
    s0 = (s0 + x0 + s1) >>> 0;
    s1 = (s1 + x1 + s0) >>> 0;
  }
  return [s0, s1];
}

export interface FrameScan {
  /** Bytes from the scan's start to the end of the last valid commit frame (0: no complete transaction). */
  readonly committedBytes: number;
  /** Frames and transactions in those bytes. */
  readonly frames: number;
  readonly commits: number;
  /** The running checksum at the end of the last commit frame. */
  readonly checksum: [number, number];
}

/**
 * Walks the frames in `b` (which starts at a frame boundary, `checksum` being the running checksum before it) and
 * returns how far the committed transactions reach. Stops at the first frame that does not belong (salt or
 * checksum wrong: left over from before a WAL restart) or is incomplete.
 */
export function scanFrames(h: WalHeader, b: Buffer, checksum: readonly [number, number]): FrameScan {
  const size = FRAME_HEADER + h.pageSize;
  let s: [number, number] = [checksum[0], checksum[1]];
  let committed: FrameScan = { committedBytes: 0, frames: 0, commits: 0, checksum: s };
  let frames = 0;
  let commits = 0;
  for (let at = 0; at + size <= b.length; at += size) {
    if (b.readUInt32BE(at + 8) !== h.salt1 || b.readUInt32BE(at + 12) !== h.salt2) break;
    s = walChecksum(h.bigEndian, b.subarray(at, at + 8), s);
    s = walChecksum(h.bigEndian, b.subarray(at + FRAME_HEADER, at + size), s);
    if (s[0] !== b.readUInt32BE(at + 16) || s[1] !== b.readUInt32BE(at + 20)) break;
    frames++;
    if (b.readUInt32BE(at + 4) !== 0) {
      commits++;
      committed = { committedBytes: at + size, frames, commits, checksum: s };
    }
  }
  return committed;
}

/**
 * Applies frames (as scanFrames accepted them) to a database image: each page is written at its place; a commit
 * frame sets the database size. `write(offset, page)` and `truncate(bytes)` do the file work.
 */
export async function applyFrames(pageSize: number, frames: Buffer, write: (offset: number, page: Buffer) => Promise<void>, truncate: (bytes: number) => Promise<void>): Promise<number> {
  const size = FRAME_HEADER + pageSize;
  if (frames.length % size !== 0) throw new Error(`WAL frames of ${frames.length} bytes are not whole ${size}-byte frames`);
  let n = 0;
  for (let at = 0; at < frames.length; at += size) {
    const pgno = frames.readUInt32BE(at);
    const dbPages = frames.readUInt32BE(at + 4);
    await write((pgno - 1) * pageSize, frames.subarray(at + FRAME_HEADER, at + size));
    if (dbPages !== 0) await truncate(dbPages * pageSize);
    n++;
  }
  return n;
}
