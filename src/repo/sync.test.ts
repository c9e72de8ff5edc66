import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalStorage } from '../storage/local/local-storage.js';
import { syncTargets } from './sync.js';

const named = (prefix: string, body: string): [string, Buffer] => {
  const data = Buffer.from(body);
  return [`${prefix}${createHash('sha256').update(data).digest('hex')}`, data];
};

test('sync copies what a target lacks, verified, data first; a pack with no intact copy stops that target before its index and snapshots', async () => {
  const dirs = await Promise.all([0, 1].map(() => mkdtemp(join(tmpdir(), 'sp-sync-'))));
  const [a, b] = dirs.map((d) => new LocalStorage(d)) as [LocalStorage, LocalStorage];
  try {
    const [pack, packData] = named('data/', 'pack bytes');
    const [index, indexData] = named('index/', 'index naming the pack');
    const [snap, snapData] = named('snapshots/', 'snapshot');
    await a.put('config', Buffer.from('config'));
    await a.put(pack.replace('data/', 'data/00/'), packData);
    await a.put(index, indexData);
    await a.put(snap, snapData);
    // the pack on a is damaged: its bytes no longer match its name, and b has no copy
    await a.put(pack.replace('data/', 'data/00/'), Buffer.from('tampered'), { overwrite: true });
    const [ra, rb] = await syncTargets([a, b]);
    assert.equal(ra!.copied, 0);
    assert.deepEqual(rb!.failed.map((f) => f.name), [pack.replace('data/', 'data/00/')]);
    for (const name of [index, snap]) await assert.rejects(b.stat(name), (e) => b.isNotFound(e), `${name} must not reach b without its data`);

    // repaired on a: the next sync brings b fully up to date
    await a.put(pack.replace('data/', 'data/00/'), packData, { overwrite: true });
    const [, again] = await syncTargets([a, b]);
    assert.deepEqual(again!.failed, []);
    assert.equal(again!.copied, 4);
    assert.ok((await b.get(snap)).equals(snapData));
  } finally {
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  }
});
