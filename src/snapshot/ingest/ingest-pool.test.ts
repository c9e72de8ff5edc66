import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_CHUNKER_PARAMS, gearTable } from '../../repo/chunker.js';
import { blobId } from '../../repo/crypto.js';
import { IngestFailure, IngestPool, type IngestRepo } from './ingest-pool.js';

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
      stored.set(id, box);
    },
    stored,
  };
}

test('the pool names, deduplicates and stores the chunks of real files', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sp-ingest-'));
  const repo = fakeRepo(randomBytes(32));
  const pool = new IngestPool(repo, 2);
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
    await assert.rejects(pool.ingest(join(dir, 'missing'), 10), (err: NodeJS.ErrnoException) => err.code === 'ENOENT' && !(err instanceof IngestFailure));
  } finally {
    await pool.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('a broken worker fails every job with IngestFailure, also jobs waiting in a batch, without crashing', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sp-ingest-'));
  const pool = new IngestPool(fakeRepo(Buffer.alloc(5)), 1); // an AES key of the wrong length: encoding throws in the worker
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

test('the pool starts its threads with the first file: a backup that reads nothing starts none', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sp-ingest-'));
  const idle = new IngestPool(fakeRepo(randomBytes(32)), 2);
  const used = new IngestPool(fakeRepo(randomBytes(32)), 2);
  try {
    await idle.drain();
    assert.equal(idle.threads, 0);
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
