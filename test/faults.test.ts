/**
 * Fault injection on mirrored repositories (issue 3): a target that vanishes mid-backup, failed writes, damaged
 * objects. Properties proved: no snapshot ever references data missing from a required target; check detects every
 * injected corruption; restore succeeds from the healthy mirror when one target is corrupted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Repository } from '../src/repo/repository.js';
import { FAST_KDF } from '../src/repo/testing.js';
import { loadSnapshots } from '../src/repo/snapshot.js';
import { LocalStorage } from '../src/storage/local/local-storage.js';
import { MirrorStorage } from '../src/storage/mirror.js';
import { RetryingStorage } from '../src/storage/retry.js';
import { FaultyStorage } from '../src/storage/testing/faulty.js';
import { backup } from '../src/snapshot/archiver.js';
import { restoreTree } from '../src/snapshot/restorer.js';
import { checkRepository } from '../src/verify/check.js';
import { Secret } from '../src/util/secret.js';
import { hashTree, pseudoRandom, tempDir, writeTree } from './helpers.js';

const pw = new Secret('fault-password');

async function setup(root: string): Promise<{ src: string; a: string; b: string }> {
  const src = join(root, 'src');
  const files: Record<string, Buffer | string> = {};
  for (let i = 0; i < 6; i++) files[`big-${i}.bin`] = pseudoRandom(3 << 20, i + 1);
  for (let i = 0; i < 40; i++) files[`small/${i}.txt`] = `file ${i}\n`.repeat(i + 1);
  await writeTree(src, files);
  const a = join(root, 'a');
  const b = join(root, 'b');
  await (await Repository.init(new MirrorStorage([new LocalStorage(a), new LocalStorage(b)]), pw, { kdf: FAST_KDF })).close();
  return { src, a, b };
}

/** Every snapshot a target holds is complete on that target: its check finds no problem. */
async function assertConsistent(dir: string): Promise<number> {
  const repo = await Repository.open(new LocalStorage(dir), pw);
  try {
    const r = await checkRepository(repo, { readData: 1 });
    assert.deepEqual(r.problems, [], `${dir}: ${r.problems.map((p) => p.message).join('; ')}`);
    return r.snapshots;
  } finally {
    await repo.close();
  }
}

test('a target vanishing mid-backup: with min_targets = all, the backup fails and neither target records a snapshot', async () => {
  const t = await tempDir();
  try {
    const { src, a, b } = await setup(t.path);
    const flaky = new FaultyStorage(new LocalStorage(b), [{ op: 'put', match: /^data\//, after: 1, effect: 'vanish' }]);
    const repo = await Repository.open(new MirrorStorage([new LocalStorage(a), new RetryingStorage(flaky, { retries: 2, baseDelayMs: 1 })]), pw);
    await assert.rejects(backup(repo, { paths: [src] }), /min_targets is 2/);
    await repo.abort();
    await repo.close();
    assert.equal(await assertConsistent(a), 0);
    flaky.heal();
    assert.equal(await assertConsistent(b), 0);
  } finally {
    await t.cleanup();
  }
});

test('a target vanishing mid-backup: with min_targets 1, the snapshot is complete on the target that stayed', async () => {
  const t = await tempDir();
  try {
    const { src, a, b } = await setup(t.path);
    const flaky = new FaultyStorage(new LocalStorage(b), [{ op: 'put', match: /^data\//, after: 1, effect: 'vanish' }]);
    const mirror = new MirrorStorage([new LocalStorage(a), flaky], { minTargets: 1 });
    const repo = await Repository.open(mirror, pw);
    await backup(repo, { paths: [src] });
    await repo.close();
    assert.deepEqual(mirror.lagging().map((l) => l.location), [b]);
    assert.equal(await assertConsistent(a), 1);
    flaky.heal();
    assert.equal(await assertConsistent(b), 0, 'the lagging target holds no snapshot that points at what it missed');
  } finally {
    await t.cleanup();
  }
});

test('every injected corruption is found by check, and restore succeeds from the healthy mirror', async () => {
  const t = await tempDir();
  try {
    const { src, a, b } = await setup(t.path);
    // target a stores some packs truncated, one with a flipped bit, and one snapshot damaged
    const damaging = new FaultyStorage(new LocalStorage(a), [
      { op: 'put', match: /^data\//, after: 0, times: 1, effect: 'truncate' },
      { op: 'put', match: /^data\//, after: 2, times: 1, effect: 'flip' },
    ]);
    const mirror = new MirrorStorage([damaging, new LocalStorage(b)]);
    const repo = await Repository.open(mirror, pw);
    const { snapshotId } = await backup(repo, { paths: [src] });
    await repo.close();
    assert.equal(damaging.damaged.size, 2);

    const onA = await Repository.open(new LocalStorage(a), pw);
    const report = await checkRepository(onA, { readData: 1 });
    await onA.close();
    for (const name of damaging.damaged) {
      const id = name.slice(name.lastIndexOf('/') + 1);
      assert.ok(report.problems.some((p) => p.id === id), `check missed the damage to ${name}`);
    }
    assert.equal(await assertConsistent(b), 1);

    // restore through the mirror: damaged ranges on a are read again from b
    const reader = await Repository.open(new MirrorStorage([new LocalStorage(a), new LocalStorage(b)]), pw);
    await reader.loadIndex();
    const sn = (await loadSnapshots(reader)).find((s) => s.id === snapshotId)!;
    const out = join(t.path, 'out');
    const r = await restoreTree(reader, sn.tree, { target: out, verify: true });
    await reader.close();
    assert.deepEqual(r.errors, []);
    assert.deepEqual(await hashTree(join(out, 'src')), await hashTree(src));
  } finally {
    await t.cleanup();
  }
});
