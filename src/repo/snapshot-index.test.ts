import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalStorage } from '../storage/local/local-storage.js';
import { Secret } from '../util/secret.js';
import { Repository } from './repository.js';
import { loadSnapshots, saveSnapshot, type Snapshot } from './snapshot.js';
import { SnapshotIndex, cacheRoot } from './snapshot-index.js';
import { FAST_KDF } from './testing.js';

const PASSWORD = new Secret('index test password');

class CountingStorage extends LocalStorage {
  snapshotGets = 0;
  override get(name: string, o?: Parameters<LocalStorage['get']>[1]): Promise<Buffer> {
    if (name.startsWith('snapshots/')) this.snapshotGets++;
    return super.get(name, o);
  }
}

function snapshot(n: number): Snapshot {
  return { version: 1, time: new Date(Date.UTC(2026, 10, 29, 12, n)).toISOString(), host: 'h', username: 'u', uid: 0, gid: 0, paths: ['/srv'], tags: ['wal'], source: 'db', type: 'full', parent: null, tree: 'a'.repeat(64), excludes: [], complete: true, warnings: [], program_version: '0', meta: { file: String(n).padStart(24, '0') }, summary: { files_new: 0, files_changed: 0, files_unmodified: 0, dirs_new: 0, dirs_changed: 0, dirs_unmodified: 0, data_blobs: 0, tree_blobs: 0, data_added: 0, total_files_processed: 0, total_bytes_processed: 0, backup_start: '', backup_end: '', total_duration: 0 } } as Snapshot;
}

test('a listing reads only the snapshots this host has not seen; the repository listing stays the truth', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sp-index-'));
  try {
    await (await Repository.init(new LocalStorage(join(dir, 'repo')), PASSWORD, { kdf: FAST_KDF })).close();
    const storage = new CountingStorage(join(dir, 'repo'));
    const repo = await Repository.open(storage, PASSWORD);
    repo.snapshotIndex = new SnapshotIndex(join(dir, 'cache'), repo.config.id, repo.key.encKey);
    const ids: string[] = [];
    for (let n = 1; n <= 20; n++) ids.push(await saveSnapshot(repo, snapshot(n)));
    assert.equal((await loadSnapshots(repo)).length, 20);
    assert.equal(storage.snapshotGets, 20, 'the first listing reads them all');
    const again = await loadSnapshots(repo, { tags: ['wal'] });
    assert.deepEqual(again.map((s) => (s.meta as { file: string }).file), Array.from({ length: 20 }, (_, i) => String(i + 1).padStart(24, '0')));
    assert.equal(storage.snapshotGets, 20, 'the second reads none');

    // another host adds one and forgets two: one read, and the forgotten are gone from the answer
    const other = await Repository.open(new LocalStorage(join(dir, 'repo')), PASSWORD);
    await saveSnapshot(other, snapshot(21));
    await other.removeJson('snapshots', ids[0]!);
    await other.removeJson('snapshots', ids[1]!);
    await other.close();
    assert.equal((await loadSnapshots(repo)).length, 19);
    assert.equal(storage.snapshotGets, 21);
    assert.equal((await loadSnapshots(repo)).length, 19);
    assert.equal(storage.snapshotGets, 21);

    // a damaged or foreign index is not believed: everything is read again
    await writeFile(join(dir, 'cache', repo.config.id, 'snapshots.index'), 'not sealed with this key');
    assert.equal((await loadSnapshots(repo)).length, 19);
    assert.equal(storage.snapshotGets, 40);
    await repo.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('cacheRoot: SAFEPOINT_CACHE_DIR, else XDG_CACHE_HOME/safepoint, else ~/.cache/safepoint', () => {
  assert.equal(cacheRoot({ SAFEPOINT_CACHE_DIR: '/c' }), '/c');
  assert.equal(cacheRoot({ XDG_CACHE_HOME: '/x' }), '/x/safepoint');
  assert.match(cacheRoot({}), /\/\.cache\/safepoint$/);
});
