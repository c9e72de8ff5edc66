import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { blobId, seal } from '../repo/crypto.js';
import type { WriteItem } from './restore-batch.js';
import { RestoreWriters } from './restore-writers.js';

const keys = { encKey: randomBytes(32), macKey: randomBytes(32) };

/** A batch of `n` small files, as a pack range: the boxes one after the other, and where each file goes. */
function batch(dir: string, tag: string, n: number, damage = false): { bytes: Buffer; items: WriteItem[]; contents: Map<string, Buffer> } {
  const boxes: Buffer[] = [];
  const items: WriteItem[] = [];
  const contents = new Map<string, Buffer>();
  let at = 0;
  for (let i = 0; i < n; i++) {
    const plain = Buffer.from(`${tag} file ${i} `.repeat(50 + i));
    const box = seal(keys.encKey, plain);
    if (damage && i === 0) box[box.length - 1]! ^= 1;
    const path = join(dir, `${tag}-${i}`);
    contents.set(path, plain);
    items.push({ id: blobId(keys.macKey, plain), at, length: box.length, compressed: false, rawLength: plain.length, files: [{ job: items.length, path, uid: process.getuid!(), gid: process.getgid!(), mode: 0o640, mtime: 1_700_000_000.5 }], writes: [] });
    boxes.push(box);
    at += box.length;
  }
  return { bytes: Buffer.concat(boxes), items, contents };
}

test('a writer thread and the lane on this thread share the batches; every file is written whole with its metadata', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sp-writers-'));
  const writers = new RestoreWriters(keys, 1);
  try {
    const batches = Array.from({ length: 8 }, (_, b) => batch(dir, `b${b}`, 5));
    const results = await Promise.all(batches.map((b) => writers.write(b.bytes, b.items)));
    for (const r of results) assert.deepEqual(r.map((x) => x.error), [undefined, undefined, undefined, undefined, undefined]);
    for (const b of batches) {
      for (const [path, plain] of b.contents) {
        assert.deepEqual(await readFile(path), plain);
        const st = await stat(path);
        assert.equal(st.mode & 0o777, 0o640);
        assert.equal(st.mtimeMs, 1_700_000_000_500);
      }
    }
    assert.ok(writers.handled.threads > 0, 'the thread wrote some batches');
    assert.ok(writers.handled.lane > 0, 'the lane wrote the batches that came while the thread was busy');
    assert.equal(writers.handled.threads + writers.handled.lane, 8);
  } finally {
    await writers.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('with no writer thread the lane writes everything, and reports a damaged blob for the caller to fetch again', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sp-writers-'));
  const writers = new RestoreWriters(keys, 0);
  try {
    const good = batch(dir, 'good', 3);
    const bad = batch(dir, 'bad', 2, true);
    const [r1, r2] = await Promise.all([writers.write(good.bytes, good.items), writers.write(bad.bytes, bad.items)]);
    assert.equal(r1!.length, 3);
    assert.deepEqual(r2!.map((r) => r.damaged), [bad.items[0]!.id, undefined]);
    assert.deepEqual(await readFile(join(dir, 'bad-1')), bad.contents.get(join(dir, 'bad-1')));
    await assert.rejects(stat(join(dir, 'bad-0')), { code: 'ENOENT' });
    assert.deepEqual(writers.handled, { lane: 2, threads: 0 });
  } finally {
    await writers.close();
    await rm(dir, { recursive: true, force: true });
  }
  await assert.rejects(writers.write(Buffer.alloc(0), []), /stopped/);
});

test('without the lane (a network restore, where this thread runs the storage client) the threads write every batch', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sp-writers-'));
  const writers = new RestoreWriters(keys, 1, false);
  try {
    const batches = Array.from({ length: 4 }, (_, b) => batch(dir, `n${b}`, 2));
    await Promise.all(batches.map((b) => writers.write(b.bytes, b.items)));
    for (const b of batches) for (const [path, plain] of b.contents) assert.deepEqual(await readFile(path), plain);
    assert.deepEqual(writers.handled, { lane: 0, threads: 4 });
  } finally {
    await writers.close();
    await rm(dir, { recursive: true, force: true });
  }
});
