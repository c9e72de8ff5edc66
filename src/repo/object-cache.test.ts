import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalStorage } from '../storage/local/local-storage.js';
import { Secret } from '../util/secret.js';
import { ObjectCache, cacheRoot } from './object-cache.js';
import { Repository } from './repository.js';
import { loadSnapshots, saveSnapshot, type Snapshot } from './snapshot.js';
import { FAST_KDF } from './testing.js';

const PASSWORD = new Secret('cache test password');

/** A local folder that says it is remote and counts the snapshot files it is asked for. */
class CountingStorage extends LocalStorage {
  snapshotGets = 0;
  override properties(): ReturnType<LocalStorage['properties']> {
    return { ...super.properties(), kind: 's3' };
  }
  override get(name: string, o?: Parameters<LocalStorage['get']>[1]): Promise<Buffer> {
    if (name.startsWith('snapshots/')) this.snapshotGets++;
    return super.get(name, o);
  }
}

function snapshot(n: number): Snapshot {
  return { version: 1, time: new Date(Date.UTC(2026, 10, 29, 12, n)).toISOString(), host: 'h', username: 'u', uid: 0, gid: 0, paths: ['/srv'], tags: [], source: 'app', type: 'full', parent: null, tree: 'a'.repeat(64), excludes: [], complete: true, warnings: [], program_version: '0', summary: { files_new: 0, files_changed: 0, files_unmodified: 0, dirs_new: 0, dirs_changed: 0, dirs_unmodified: 0, data_blobs: 0, tree_blobs: 0, data_added: 0, total_files_processed: 0, total_bytes_processed: 0, backup_start: '', backup_end: '', total_duration: 0 } } as Snapshot;
}

test('cacheRoot: SAFEPOINT_CACHE_DIR, else XDG_CACHE_HOME/safepoint, else ~/.cache/safepoint', () => {
  assert.equal(cacheRoot({ SAFEPOINT_CACHE_DIR: '/c' }), '/c');
  assert.equal(cacheRoot({ XDG_CACHE_HOME: '/x' }), '/x/safepoint');
  assert.match(cacheRoot({}), /\/\.cache\/safepoint$/);
});

test('a remote repository\'s snapshot files are read once: later listings read the local copy; a forgotten or damaged copy goes', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sp-cache-'));
  try {
    await (await Repository.init(new LocalStorage(join(dir, 'repo')), PASSWORD, { kdf: FAST_KDF })).close();
    const storage = new CountingStorage(join(dir, 'repo'));
    const repo = await Repository.open(storage, PASSWORD);
    repo.snapshotCache = new ObjectCache(join(dir, 'cache'), repo.config.id, 'snapshots');
    const ids = [await saveSnapshot(repo, snapshot(1)), await saveSnapshot(repo, snapshot(2)), await saveSnapshot(repo, snapshot(3))];
    const copies = join(dir, 'cache', repo.config.id, 'snapshots');
    assert.deepEqual((await readdir(copies)).sort(), [...ids].sort(), 'what this client writes is kept at once');
    assert.equal((await loadSnapshots(repo)).length, 3);
    assert.equal(storage.snapshotGets, 0, 'no request for a snapshot this client wrote');

    // another client's snapshot: read once, then from the copy
    const other = await Repository.open(new LocalStorage(join(dir, 'repo')), PASSWORD);
    const theirs = await saveSnapshot(other, snapshot(4));
    await other.close();
    assert.equal((await loadSnapshots(repo)).length, 4);
    assert.equal(storage.snapshotGets, 1);
    assert.equal((await loadSnapshots(repo)).length, 4);
    assert.equal(storage.snapshotGets, 1, 'the second listing reads nothing from storage');

    // a damaged copy is not believed: removed, the storage read instead
    await writeFile(join(copies, theirs), 'garbage');
    assert.deepEqual((await loadSnapshots(repo)).map((s) => s.time), [1, 2, 3, 4].map((n) => snapshot(n).time));
    assert.equal(storage.snapshotGets, 2);

    // forgotten here, or by another client: the copy goes too
    await repo.removeJson('snapshots', ids[0]!);
    const elsewhere = new LocalStorage(join(dir, 'repo'));
    await elsewhere.remove(`snapshots/${ids[1]!}`);
    assert.equal((await loadSnapshots(repo)).length, 2);
    assert.deepEqual((await readdir(copies)).sort(), [ids[2]!, theirs].sort());
    await repo.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
