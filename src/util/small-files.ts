import { closeSync, openSync, readSync } from 'node:fs';

/**
 * Reads up to `size` bytes of a file into `buf` (or a fresh buffer) with blocking calls: for a small file in the page
 * cache, a thread-pool round trip per call costs more than the call. Returns the bytes read (fewer if it shrank).
 */
export function readSmallSync(path: string, size: number, buf: Buffer = Buffer.allocUnsafeSlow(size)): Buffer {
  const fd = openSync(path, 'r');
  try {
    let got = 0;
    for (let n = -1; got < size && n !== 0; got += n) n = readSync(fd, buf, got, size - got, got);
    return got === size ? buf : buf.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

const HOLE = 64 * 1024;
const ZERO = Buffer.alloc(HOLE);

/**
 * The runs of `data` worth writing: 64 KiB pieces that are all zeros are left out, so they stay holes in a freshly
 * created file (sparse files stay sparse, at the cost of one memcmp per piece).
 */
export function dataRuns(data: Buffer): [start: number, end: number][] {
  const isHole = (at: number): boolean => at + HOLE <= data.length && data.subarray(at, at + HOLE).equals(ZERO);
  const runs: [number, number][] = [];
  for (let start = 0; start < data.length; ) {
    while (isHole(start)) start += HOLE;
    let end = start;
    while (end < data.length && !isHole(end)) end += HOLE;
    end = Math.min(end, data.length);
    if (end > start) runs.push([start, end]);
    start = end;
  }
  return runs;
}

/**
 * Node's utimes takes seconds as a double, which libuv truncates to a timespec: we keep microseconds (a double holds
 * ~0.24 µs at today's epoch) and add half a microsecond so the truncation lands on the right one. Nanoseconds are
 * lost; diff and verify compare times at microsecond resolution for that reason.
 */
export function nsToSeconds(ns: string): number {
  return Number(BigInt(ns) / 1000n) / 1e6 + 5e-7;
}
