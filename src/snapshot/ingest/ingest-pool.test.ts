import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_CHUNKER_PARAMS, gearTable } from '../../repo/chunker.js';
import { blobId, open } from '../../repo/crypto.js';
import { withTempDir } from '../../util/testing.js';
import { IngestFailure, IngestPool, type Escalation, type IngestRepo } from './ingest-pool.js';

function fakeRepo(encKey: Buffer): IngestRepo & { stored: Map<string, Buffer> } {
  const claimed = new Set<string>();
  const stored = new Map<string, Buffer>();
  return {
    gear: gearTable(Buffer.alloc(32, 7)),
    chunkerParams: DEFAULT_CHUNKER_PARAMS,
    key: { macKey: Buffer.alloc(32, 1), encKey },
    config: { compression: 'auto' },
    claimBlob: (id) => (claimed.has(id) ? false : (claimed.add(id), true)),
    saveRawBlob: async (_t, id, box) => {
      stored.set(id, Buffer.from(box)); // a copy, as the packer takes: the box's buffer goes back to its lane
    },
    stored,
  };
}

/** Thresholds that hand over to threads with the first file. */
const THREADS_AT_ONCE = { stored: 0, backlog: 0 };
const LANE_ONLY = { stored: Infinity, backlog: Infinity };

for (const [mode, escalation] of [['the main lane', LANE_ONLY], ['threads', THREADS_AT_ONCE]] as const) {
  test(`the pool names, deduplicates and stores the chunks of real files (${mode})`, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sp-ingest-'));
    const encKey = randomBytes(32);
    const repo = fakeRepo(encKey);
    const pool = new IngestPool(repo, 2, escalation);
    try {
      const small = Buffer.from('hello ingest');
      const big = randomBytes(3 * 1024 * 1024);
      await writeFile(join(dir, 'a'), small);
      await writeFile(join(dir, 'b'), small); // same content: stored once
      await writeFile(join(dir, 'big'), big);
      const [a, b, c] = await Promise.all([pool.ingest(join(dir, 'a'), small.length), pool.ingest(join(dir, 'b'), small.length), pool.ingest(join(dir, 'big'), big.length)]);
      await pool.drain();
      assert.deepEqual(a.ids, [blobId(Buffer.alloc(32, 1), small)]);
      assert.deepEqual(b.ids, a.ids);
      assert.equal(c.size, big.length);
      assert.ok(c.ids.length >= 1);
      assert.equal(repo.stored.size, 1 + new Set(c.ids).size);
      // random data is stored raw: each box opens to a plaintext with its id
      for (const [id, box] of repo.stored) assert.equal(blobId(Buffer.alloc(32, 1), open(encKey, box)), id);
      assert.equal(pool.threads, escalation === LANE_ONLY ? 0 : 2);
      await assert.rejects(pool.ingest(join(dir, 'missing'), 10), (err: NodeJS.ErrnoException) => err.code === 'ENOENT' && !(err instanceof IngestFailure));
    } finally {
      await pool.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  test(`a broken lane fails every job with IngestFailure, also jobs waiting in a batch, without crashing (${mode})`, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sp-ingest-'));
    const pool = new IngestPool(fakeRepo(Buffer.alloc(5)), 1, escalation); // an AES key of the wrong length: encoding throws
    try {
      const data = randomBytes(100_000);
      await writeFile(join(dir, 'f'), data);
      // the file's result may arrive before its chunk is encoded; the failure then surfaces at drain, which every
      // backup awaits before it writes an index or a snapshot
      await pool.ingest(join(dir, 'f'), data.length).catch(() => undefined);
      await assert.rejects(pool.drain(), IngestFailure);
      assert.equal(pool.failed, true);
      await assert.rejects(pool.ingest(join(dir, 'f'), data.length), IngestFailure);
      await assert.rejects(pool.ingest(join(dir, 'g'), 10), IngestFailure); // a small file, queued for a batch
    } finally {
      await pool.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
}

/** Writes `n` files of `size` random bytes; returns their paths and contents. */
async function randomFiles(dir: string, n: number, size: number): Promise<{ path: string; data: Buffer }[]> {
  const files = Array.from({ length: n }, (_, i) => ({ path: join(dir, `f${i}`), data: randomBytes(size) }));
  await Promise.all(files.map((f) => writeFile(f.path, f.data)));
  return files;
}

test('work starts on the main lane and stays there while it is light: no thread starts', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sp-ingest-'));
  const repo = fakeRepo(randomBytes(32));
  const pool = new IngestPool(repo, 2, { stored: 1024 * 1024, backlog: 64 * 1024 * 1024 });
  try {
    const files = await randomFiles(dir, 20, 10_000); // 200 kB of new data: under the threshold
    const results = await Promise.all(files.map((f) => pool.ingest(f.path, f.data.length)));
    await pool.drain();
    assert.deepEqual(results.map((r) => r.ids), files.map((f) => [blobId(Buffer.alloc(32, 1), f.data)]));
    assert.equal(pool.threads, 0);
    assert.equal(pool.mainLane, true);
  } finally {
    await pool.close();
    await rm(dir, { recursive: true, force: true });
  }
});

const inTempDir = (fn: (dir: string) => Promise<void>): Promise<void> => withTempDir('sp-ingest-', fn);

/** Runs `fn` with a new pool over a fresh fake repository, closed afterwards. */
async function withPool(workers: number, escalation: Escalation, fn: (pool: IngestPool, repo: ReturnType<typeof fakeRepo>) => Promise<void>, laneStays = false): Promise<void> {
  const repo = fakeRepo(randomBytes(32));
  const pool = new IngestPool(repo, workers, escalation, laneStays);
  try {
    await fn(pool, repo);
  } finally {
    await pool.close();
  }
}

test('new data past the threshold starts threads and spreads the main lane\'s queue; the main lane retires, or stays', () =>
  inTempDir(async (dir) => {
    const files = await randomFiles(dir, 200, 20_000); // 4 MB of new data, queued at once on the main lane
    for (const stays of [false, true]) {
      const threads = stays ? 1 : 2;
      await withPool(
        threads,
        { stored: 256 * 1024, backlog: Infinity },
        async (pool, repo) => {
          const results = await Promise.all(files.map((f) => pool.ingest(f.path, f.data.length)));
          await pool.drain();
          assert.deepEqual(results.map((r) => r.ids), files.map((f) => [blobId(Buffer.alloc(32, 1), f.data)]));
          assert.equal(repo.stored.size, files.length);
          assert.equal(pool.threads, threads);
          assert.equal(pool.mainLane, stays, stays ? 'the main lane kept working' : 'the main lane retired once idle');
          // the threshold is reached within the first batch (~13 files): a retiring lane finishes the files it had
          // started (~50), one that stays gets its share of the rest too (~120)
          const n = pool.mainLaneFiles;
          assert.ok(stays ? n > 80 && n < 160 : n < 80, `the main lane did ${n} of 200 files`);
        },
        stays,
      );
    }
  }));

test('a backlog past the threshold starts threads even when nothing is new; with no threads allowed the main lane does it all', () =>
  inTempDir(async (dir) => {
    const data = randomBytes(2 * 1024 * 1024);
    const paths = [join(dir, 'a'), join(dir, 'b'), join(dir, 'c')];
    await Promise.all(paths.map((p) => writeFile(p, data))); // the same content: stored once
    for (const workers of [2, 0]) {
      await withPool(workers, { stored: Infinity, backlog: 3 * 1024 * 1024 }, async (pool, repo) => {
        const results = await Promise.all(paths.map((p) => pool.ingest(p, data.length)));
        await pool.drain();
        assert.deepEqual(results[1], results[0]);
        assert.deepEqual(results[2], results[0]);
        assert.equal(repo.stored.size, new Set(results[0]!.ids).size);
        assert.equal(pool.threads, workers);
      });
    }
  }));

test('a large file with no earlier version goes to the threads from the start; a changed one stays on the main lane', () =>
  inTempDir(async (dir) => {
    const data = randomBytes(2 * 1024 * 1024);
    await writeFile(join(dir, 'big'), data);
    for (const fresh of [false, true]) {
      await withPool(2, { stored: 1024 * 1024, backlog: Infinity }, async (pool, repo) => {
        const started = pool.ingest(join(dir, 'big'), data.length, fresh);
        assert.equal(pool.threads, fresh ? 2 : 0, 'decided before the file starts');
        assert.equal(pool.mainLane, !fresh);
        const r = await started;
        await pool.drain();
        assert.equal(r.size, data.length);
        assert.equal(repo.stored.size, new Set(r.ids).size);
      });
    }
  }));

test('the pool starts nothing before the first file, and nothing once closed', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sp-ingest-'));
  const idle = new IngestPool(fakeRepo(randomBytes(32)), 2, THREADS_AT_ONCE);
  const used = new IngestPool(fakeRepo(randomBytes(32)), 2, THREADS_AT_ONCE);
  try {
    await idle.drain();
    assert.equal(idle.threads, 0);
    assert.equal(idle.mainLane, false);
    await idle.close();
    await writeFile(join(dir, 'f'), 'x');
    await assert.rejects(idle.ingest(join(dir, 'f'), 1), /stopped/, 'a closed pool that never started does not start now');
    assert.equal(idle.threads, 0);
    assert.equal(used.threads, 0);
    await used.ingest(join(dir, 'f'), 1);
    assert.equal(used.threads, 2);
  } finally {
    await used.close();
    await rm(dir, { recursive: true, force: true });
  }
});
