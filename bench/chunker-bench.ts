/**
 * Chunker throughput: `node dist/bench/chunker-bench.js [MiB]` (default 256 MiB of random data, default
 * params). Reports MB/s of nextBoundary (the hot loop), chunkStream and chunkFile, by wall clock and per
 * CPU second (steadier on a busy machine), and the mean chunk size. The first round of each pays for
 * first-touch memory.
 */
import { randomBytes, randomFillSync } from 'node:crypto';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_CHUNKER_PARAMS, chunkFile, chunkStream, gearTable, nextBoundary } from '../src/repo/chunker.js';

const mib = Number(process.argv[2] ?? 256);
const data = randomFillSync(Buffer.allocUnsafeSlow(mib * 1024 * 1024));
const gear = gearTable(randomBytes(32));

async function time(label: string, run: () => Promise<number> | number): Promise<void> {
  const [t0, cpu0] = [process.hrtime.bigint(), process.cpuUsage()];
  const chunks = await run();
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const rate = (s: number): string => (data.length / 1e6 / s).toFixed(0);
  console.log(`${label}: ${rate(wall)} MB/s (${rate((cpu.user + cpu.system) / 1e6)} MB/s of CPU time), ${chunks} chunks, mean ${(data.length / chunks / 1048576).toFixed(3)} MiB`);
}

function boundaries(): number {
  let chunks = 0;
  for (let start = 0; start < data.length; chunks++) start += nextBoundary(gear, DEFAULT_CHUNKER_PARAMS, data, start, data.length, true);
  return chunks;
}

async function* pieces(size: number): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < data.length; at += size) yield data.subarray(at, Math.min(at + size, data.length));
}

async function count(chunks: AsyncIterable<Buffer>): Promise<number> {
  let n = 0;
  for await (const _chunk of chunks) n++;
  return n;
}

for (let round = 0; round < 4; round++) await time('nextBoundary', boundaries);
for (const size of [64 * 1024, 64 * 1024, 16 * 1024 * 1024, 16 * 1024 * 1024]) await time(`chunkStream (${size / 1024} KiB pieces)`, () => count(chunkStream(pieces(size), gear)));
const dir = await mkdtemp(join(tmpdir(), 'chunker-bench-'));
try {
  await writeFile(join(dir, 'data'), data);
  const handle = await open(join(dir, 'data'), 'r');
  for (let round = 0; round < 3; round++) await time('chunkFile (page cache)', () => count(chunkFile(handle, gear)));
  await handle.close();
} finally {
  await rm(dir, { recursive: true, force: true });
}
