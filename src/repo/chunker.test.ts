import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, createHash } from 'node:crypto';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { DEFAULT_CHUNKER_PARAMS, chunkFile, chunkStream, gearTable, nextBoundary, type ChunkerParams } from './chunker.js';

const SMALL: ChunkerParams = { minSize: 2048, avgSize: 8192, maxSize: 65536 };
const TINY: ChunkerParams = { minSize: 64, avgSize: 256, maxSize: 1024 }; // many read-buffer refills
const KiB = 1024;
const MiB = 1024 * 1024;

/** Deterministic pseudo-random bytes (AES-256-CTR keystream keyed by the seed). */
function bytes(seed: number | string, length: number): Buffer {
  const key = createHash('sha256').update(`chunker test ${seed}`).digest();
  return createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(length));
}
const seed = (n: number): Buffer => createHash('sha256').update(`seed ${n}`).digest();
const digest = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const GEAR = gearTable(seed(1));

/** Reference chunking: nextBoundary over the whole input. */
function reference(data: Uint8Array, gear = GEAR, params = SMALL): Buffer[] {
  const out: Buffer[] = [];
  for (let start = 0; start < data.length; ) {
    const n = nextBoundary(gear, params, data, start, data.length, true);
    out.push(Buffer.from(data.subarray(start, start + n)));
    start += n;
  }
  return out;
}

async function* pieces(data: Uint8Array, cuts: readonly number[]): AsyncGenerator<Uint8Array> {
  let at = 0;
  for (const cut of [...cuts, data.length]) {
    yield data.subarray(at, cut);
    at = cut;
  }
}

async function collect(chunks: AsyncIterable<Buffer>): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const c of chunks) out.push(c);
  return out;
}

/** End offsets of the chunks. */
const ends = (chunks: readonly Uint8Array[]): number[] => chunks.reduce<number[]>((acc, c) => [...acc, (acc.at(-1) ?? 0) + c.length], []);

function assertSizes(chunks: readonly Uint8Array[], p: ChunkerParams): void {
  chunks.forEach((c, i) => {
    assert.ok(c.length <= p.maxSize, `chunk ${i} has ${c.length} > max bytes`);
    if (i < chunks.length - 1) assert.ok(c.length >= p.minSize, `chunk ${i} has ${c.length} < min bytes`);
    else assert.ok(c.length > 0);
  });
}

describe('gearTable', () => {
  it('is 256 uint32 derived deterministically from the seed', () => {
    const t = gearTable(seed(1));
    assert.equal(t.length, 256);
    assert.deepEqual(gearTable(seed(1)), t);
    assert.notDeepEqual(gearTable(seed(2)), t);
    assert.ok(new Set(t).size > 250);
  });

  it('is pinned (format §5.1: changing it breaks deduplication against existing repositories)', () => {
    const t = gearTable(new Uint8Array(32));
    assert.deepEqual([t[0], t[1], t[255]], [237000170, 2197825670, 2360683604]);
    assert.equal(digest(Buffer.from(t.buffer)), 'f43d5d0eb37179a76d0da34552384b96e83473463913fc2edc24cfbcf018d5fa'); // little-endian host
  });

  it('rejects a seed that is not 32 bytes', () => {
    assert.throws(() => gearTable(new Uint8Array(31)), RangeError);
  });
});

describe('nextBoundary', () => {
  const zeros = new Uint8Array(200 * KiB);

  it('needs more data until a boundary or maxSize is reached, unless final', () => {
    const data = bytes('nb', 10 * KiB);
    assert.equal(nextBoundary(GEAR, SMALL, data, 0, 1000, false), -1);
    assert.equal(nextBoundary(GEAR, SMALL, data, 0, 1000, true), 1000);
    assert.equal(nextBoundary(GEAR, SMALL, data, 5, 5, true), 0);
    assert.equal(nextBoundary(GEAR, SMALL, zeros, 0, 65535, false), -1);
    assert.equal(nextBoundary(GEAR, SMALL, zeros, 0, 65535, true), 65535);
  });

  it('cuts a run of zeros at maxSize, and never returns more than maxSize', () => {
    assert.equal(nextBoundary(GEAR, SMALL, zeros, 0, zeros.length, false), SMALL.maxSize);
    assert.equal(nextBoundary(GEAR, SMALL, zeros, 7, zeros.length, true), SMALL.maxSize);
    assert.equal(nextBoundary(GEAR, SMALL, zeros, 0, SMALL.maxSize, false), SMALL.maxSize);
  });

  it('finds the same boundary with or without extra data after it', () => {
    const data = bytes('nb2', 256 * KiB);
    const n = nextBoundary(GEAR, SMALL, data, 100, data.length, false);
    assert.ok(n >= SMALL.minSize && n < SMALL.maxSize);
    assert.equal(nextBoundary(GEAR, SMALL, data, 100, 100 + n, false), n);
    assert.equal(nextBoundary(GEAR, SMALL, data, 100, 100 + n - 1, false), -1);
  });

  it('rejects bad ranges and params', () => {
    assert.throws(() => nextBoundary(GEAR, SMALL, zeros, 10, 5, true), RangeError);
    assert.throws(() => nextBoundary(GEAR, SMALL, zeros, 0, zeros.length + 1, true), RangeError);
    for (const bad of [{ minSize: 4096, avgSize: 2048, maxSize: 65536 }, { minSize: 2048, avgSize: 8192, maxSize: 4096 }, { minSize: 0, avgSize: 8192, maxSize: 65536 }, { minSize: 2048, avgSize: 8192.5, maxSize: 65536 }]) {
      assert.throws(() => nextBoundary(GEAR, bad, zeros, 0, 10, true), RangeError);
    }
  });
});

describe('chunkStream', () => {
  const data = bytes('stream', 3 * MiB + 12345);

  it('cuts chunks within [min, max] (but the last) that concatenate to the input', async () => {
    const chunks = await collect(chunkStream(pieces(data, []), GEAR, SMALL));
    assertSizes(chunks, SMALL);
    assert.ok(Buffer.concat(chunks).equals(data));
    assert.deepEqual(chunks, reference(data));
    const mean = data.length / chunks.length;
    assert.ok(mean > 0.6 * SMALL.avgSize && mean < 1.6 * SMALL.avgSize, `mean ${mean}`);
  });

  it('is deterministic for a seed, and another seed moves the boundaries', async () => {
    const a = ends(await collect(chunkStream(pieces(data, [1000, 70000]), GEAR, SMALL)));
    assert.deepEqual(ends(await collect(chunkStream(pieces(data, []), gearTable(seed(1)), SMALL))), a);
    const b = ends(await collect(chunkStream(pieces(data, []), gearTable(seed(2)), SMALL)));
    const shared = b.filter((e) => a.includes(e)).length;
    assert.ok(shared < 0.1 * a.length, `${shared} of ${a.length} boundaries shared`);
  });

  it('yields nothing for an empty input and one chunk for a short one', async () => {
    assert.deepEqual(await collect(chunkStream(pieces(new Uint8Array(0), [0, 0]), GEAR, SMALL)), []);
    const short = await collect(chunkStream(pieces(data.subarray(0, 100), [50]), GEAR, SMALL));
    assert.deepEqual(short, [data.subarray(0, 100)]);
  });

  it('pins the boundaries for a fixed seed and input (format §5.1)', async () => {
    const chunks = await collect(chunkStream(pieces(bytes('pinned', 256 * KiB), []), gearTable(new Uint8Array(32)), SMALL));
    // Cross-checked against an independent straightforward implementation (Python, HMAC gear table).
    const lengths = [8211, 9343, 11454, 9241, 11035, 15297, 8756, 8946, 9161, 8801, 9260, 9754, 9391, 9494, 8561, 8804, 10824, 9234, 8417, 11087, 9539, 3551, 8438, 10514, 10806, 8268, 3979, 8741, 3237];
    assert.deepEqual(chunks.map((c) => c.length), lengths);
  });

  it('yields independent buffers that own their memory', async () => {
    const chunks = await collect(chunkStream(pieces(data.subarray(0, 300 * KiB), [1, 9000, 9001, 40000]), GEAR, SMALL));
    for (const c of chunks) assert.ok(c.byteOffset === 0 && c.buffer.byteLength === c.length);
  });

  it('gives the same chunks however the input is split into buffers (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 1e6 }), fc.integer({ min: 1, max: 400 * KiB }), fc.array(fc.nat(), { maxLength: 40 }), async (s, length, raw) => {
        const input = bytes(s, length);
        const cuts = raw.map((r) => r % (length + 1)).sort((x, y) => x - y);
        const chunks = await collect(chunkStream(pieces(input, cuts), GEAR, SMALL));
        assert.deepEqual(chunks, reference(input));
      }),
      { numRuns: 60 },
    );
  });

  it('resynchronises after an insertion or deletion: only chunks around the edit change (property)', async () => {
    const changed: number[] = [];
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 1e6 }),
        fc.integer({ min: 256 * KiB, max: 512 * KiB }),
        fc.double({ min: 0.3, max: 0.6, noNaN: true }),
        fc.integer({ min: 1, max: 16 }),
        fc.boolean(),
        async (s, length, where, k, insert) => {
          const a = bytes(s, length);
          const at = Math.floor(length * where);
          const b = insert ? Buffer.concat([a.subarray(0, at), bytes(-s, k), a.subarray(at)]) : Buffer.concat([a.subarray(0, at), a.subarray(at + k)]);
          const A = (await collect(chunkStream(pieces(a, []), GEAR, SMALL))).map(digest);
          const B = (await collect(chunkStream(pieces(b, []), GEAR, SMALL))).map(digest);
          const before = ends(reference(a)).filter((e) => e <= at).length; // chunks that end before the edit
          assert.deepEqual(B.slice(0, before), A.slice(0, before));
          let prefix = 0;
          while (prefix < Math.min(A.length, B.length) && A[prefix] === B[prefix]) prefix++;
          let suffix = 0;
          while (suffix < Math.min(A.length, B.length) - prefix && A.at(-1 - suffix) === B.at(-1 - suffix)) suffix++;
          const lost = A.length - prefix - suffix;
          const added = B.length - prefix - suffix;
          // A cascade is possible (a shifted start skips an old boundary inside its minimum size), but short:
          // over 20,000 edits 98.9% changed exactly one chunk, 0.4% more than 3, the worst 10.
          assert.ok(lost <= 12 && added <= 12, `${lost} chunks replaced by ${added}`);
          changed.push(Math.max(lost, added));
        },
      ),
      { numRuns: 100 },
    );
    assert.ok(changed.filter((n) => n <= 3).length >= 0.95 * changed.length, `changed chunks per edit: ${changed.join(' ')}`);
  });
});

describe('chunkFile', () => {
  it('equals chunkStream over the file bytes, with fresh chunks while the read buffer is reused', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'safepoint-chunker-'));
    try {
      for (const [name, params, length] of [['empty', SMALL, 0], ['short', SMALL, 100], ['small', SMALL, 700 * KiB + 3], ['tiny', TINY, 300 * KiB], ['default', DEFAULT_CHUNKER_PARAMS, 40 * MiB + 5]] as const) {
        const data = bytes(name, length);
        const path = join(dir, name);
        await writeFile(path, data);
        const handle = await open(path, 'r');
        try {
          const chunks = await collect(chunkFile(handle, GEAR, params));
          assert.deepEqual(chunks.map(digest), (await collect(chunkStream(pieces(data, [12345]), GEAR, params))).map(digest), name);
          assert.ok(Buffer.concat(chunks).equals(data), name);
          assertSizes(chunks, params);
        } finally {
          await handle.close();
        }
      }
      // Zeros never match the boundary mask: every chunk is maxSize, longer than the read buffer starts, so it grows.
      for (const [name, params, length] of [['zeros-small', SMALL, 20 * SMALL.maxSize + 7], ['zeros-default', DEFAULT_CHUNKER_PARAMS, 3 * DEFAULT_CHUNKER_PARAMS.maxSize + 11]] as const) {
        const data = Buffer.alloc(length);
        const path = join(dir, name);
        await writeFile(path, data);
        const handle = await open(path, 'r');
        try {
          const chunks = await collect(chunkFile(handle, GEAR, params));
          assert.deepEqual(chunks.map((c) => c.length), [...Array<number>(Math.floor(length / params.maxSize)).fill(params.maxSize), length % params.maxSize], name);
          assert.ok(Buffer.concat(chunks).equals(data), name);
        } finally {
          await handle.close();
        }
      }
      // Two files chunked in interleaved steps do not share a read buffer.
      const x = bytes('x', 500 * KiB);
      const y = bytes('y', 500 * KiB);
      await writeFile(join(dir, 'x'), x);
      await writeFile(join(dir, 'y'), y);
      const [hx, hy] = [await open(join(dir, 'x'), 'r'), await open(join(dir, 'y'), 'r')];
      try {
        const [gx, gy] = [chunkFile(hx, GEAR, SMALL), chunkFile(hy, GEAR, SMALL)];
        const cx: Buffer[] = [];
        const cy: Buffer[] = [];
        for (;;) {
          const [rx, ry] = [await gx.next(), await gy.next()];
          if (!rx.done) cx.push(rx.value);
          if (!ry.done) cy.push(ry.value);
          if (rx.done && ry.done) break;
        }
        assert.deepEqual(cx, reference(x));
        assert.deepEqual(cy, reference(y));
      } finally {
        await hx.close();
        await hy.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('default parameters', () => {
  it('average about 1 MiB on 64 MiB of random data', async (t) => {
    const data = bytes('default', 64 * MiB);
    const chunks = await collect(chunkStream(pieces(data, [1, 3 * MiB, 10 * MiB + 1]), gearTable(seed(3))));
    assertSizes(chunks, DEFAULT_CHUNKER_PARAMS);
    assert.ok(Buffer.concat(chunks).equals(data));
    const mean = data.length / chunks.length;
    t.diagnostic(`${chunks.length} chunks, mean ${(mean / MiB).toFixed(3)} MiB`);
    assert.ok(mean >= 0.6 * MiB && mean <= 1.6 * MiB, `mean ${mean}`);
  });
});
