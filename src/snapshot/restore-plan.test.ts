import { test } from 'node:test';
import assert from 'node:assert/strict';
import { link, lstat, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fastRepository } from '../repo/testing.js';
import type { Repository } from '../repo/repository.js';
import { loadSnapshots } from '../repo/snapshot.js';
import { Secret } from '../util/secret.js';
import { backup } from './archiver.js';
import { RestorePlan, type PlanRepo } from './restore-plan.js';

const PASSWORD = new Secret('restore plan test');

async function withSnapshot(fn: (repo: Repository, tree: string, src: string) => Promise<void>): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'sp-plan-'));
  try {
    const src = join(root, 'src');
    await mkdir(join(src, 'a', 'deep'), { recursive: true });
    await mkdir(join(src, 'skip'), { recursive: true });
    await writeFile(join(src, 'a', 'x.txt'), 'x'.repeat(100));
    await writeFile(join(src, 'a', 'deep', 'y.txt'), 'y'.repeat(200));
    await writeFile(join(src, 'skip', 'z.txt'), 'z');
    await writeFile(join(src, 'dup1'), 'the same bytes');
    await writeFile(join(src, 'dup2'), 'the same bytes');
    await writeFile(join(src, 'h1'), 'hard linked');
    await link(join(src, 'h1'), join(src, 'h2'));
    await writeFile(join(src, 'empty'), '');
    await symlink('a/x.txt', join(src, 'ln'));
    const repo = await fastRepository(join(root, 'repo'), PASSWORD);
    try {
      await backup(repo, { paths: [src] });
      const [sn] = await loadSnapshots(repo);
      await fn(repo, sn!.tree, src);
    } finally {
      await repo.close();
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

const rels = (plan: RestorePlan): string[] => Array.from({ length: plan.count }, (_, e) => plan.rel(e));
const entry = (plan: RestorePlan, rel: string): number => rels(plan).findIndex((r) => r.endsWith(`/${rel}`) || r === rel);

test('a plan lists the selected entries parents first, drops folders with nothing selected, and pairs hard links', async () => {
  await withSnapshot(async (repo, tree) => {
    const plan = await RestorePlan.build(repo, tree, { exclude: ['**/skip/z.txt'], include: ['**/a/deep/**', '**/dup*', '**/h*', '**/empty', '**/ln', '**/skip/**'] });
    const all = rels(plan);
    const under = (r: string): string => r.slice(r.indexOf('src/'));
    assert.deepEqual(all.filter((r) => r.includes('src/')).map(under).sort(), ['src/a', 'src/a/deep', 'src/a/deep/y.txt', 'src/dup1', 'src/dup2', 'src/empty', 'src/h1', 'src/h2', 'src/ln', 'src/skip'].sort());
    for (let e = 0; e < plan.count; e++) {
      const parent = plan.rel(e).split('/').slice(0, -1).join('/');
      if (parent !== '') assert.ok(all.indexOf(parent) < e, `${plan.rel(e)} comes after its folder`);
    }
    assert.equal(all.some((r) => r.endsWith('a/x.txt')), false, 'a/x.txt is not selected, its folder is kept for a/deep');
    assert.deepEqual(plan.laterLinks, [[entry(plan, 'h2'), entry(plan, 'h1')]]);
    assert.equal(plan.chunks(entry(plan, 'h2')), 0, 'a later link is not written');
    assert.equal(plan.chunks(entry(plan, 'empty')), 0);
    const ln = plan.meta(entry(plan, 'ln'));
    assert.equal(ln.type, 'symlink');
    assert.equal(ln.target, 'a/x.txt');
    assert.deepEqual(plan.failures, []);
  });
});

test('a plan reads each blob once, with every place it goes, pack by pack in offset order', async () => {
  await withSnapshot(async (repo, tree, src) => {
    const plan = await RestorePlan.build(repo, tree);
    const seen = new Map<string, string[]>();
    for (const { pack, blobs } of plan.packs()) {
      let last = -1;
      for (const b of blobs()) {
        assert.equal(b.loc.pack, pack);
        assert.ok(b.loc.offset > last, 'blobs in offset order, each once');
        last = b.loc.offset;
        assert.equal(seen.has(b.id), false);
        seen.set(b.id, b.targets.map((t) => plan.rel(t.file).split('/').at(-1)!).sort());
        assert.deepEqual(repo.locate(b.id)[0], { ...b.loc });
      }
    }
    const dup = plan.fileChunks(entry(plan, 'dup1')).next().value!;
    assert.deepEqual(seen.get(dup.id), ['dup1', 'dup2'], 'one read for two files with the same bytes');
    assert.deepEqual([...plan.fileChunks(entry(plan, 'dup2'))], [dup]);
    const y = entry(plan, 'a/deep/y.txt');
    const meta = plan.meta(y);
    const st = await lstat(join(src, 'a', 'deep', 'y.txt'));
    assert.equal(meta.size, 200);
    assert.equal(meta.mode, st.mode & 0o7777);
    assert.ok(Math.abs(meta.mtime - st.mtimeMs / 1000) < 1e-3, 'mtime in seconds');
  });
});

test('a file with a blob the index lacks is a planning failure; the other files are planned', async () => {
  await withSnapshot(async (repo, tree) => {
    const full = await RestorePlan.build(repo, tree);
    const lost = full.fileChunks(entry(full, 'a/x.txt')).next().value!.id;
    const damaged: PlanRepo = { loadBlob: (t, id) => repo.loadBlob(t, id), hasBlob: (id) => repo.hasBlob(id), locate: (id) => (id === lost ? [] : repo.locate(id)) };
    const plan = await RestorePlan.build(damaged, tree);
    const x = entry(plan, 'a/x.txt');
    assert.equal(plan.failures.length, 1);
    assert.equal(plan.failures[0]![0], x);
    assert.match(plan.failures[0]![1], /missing from the repository/);
    assert.equal(plan.chunks(x), 0);
    assert.equal(plan.chunks(entry(plan, 'a/deep/y.txt')), 1);
    let chunks = 0;
    for (const { blobs } of plan.packs()) for (const b of blobs()) chunks += b.targets.length;
    assert.equal(chunks, [...Array(plan.count).keys()].reduce((n, e) => n + plan.chunks(e), 0));
  });
});

test('a plan grows past its first 1,024 entries and chunk rows and keeps every row', async () => {
  const root = await mkdtemp(join(tmpdir(), 'sp-plan-'));
  try {
    const src = join(root, 'many');
    await mkdir(src);
    for (let i = 0; i < 1500; i++) await writeFile(join(src, `f${i}`), `file number ${i}\n`);
    const repo = await fastRepository(join(root, 'repo'), PASSWORD);
    try {
      await backup(repo, { paths: [src] });
      const [sn] = await loadSnapshots(repo);
      const plan = await RestorePlan.build(repo, sn!.tree);
      assert.equal(plan.count, 1501);
      let rows = 0;
      for (const { blobs } of plan.packs()) for (const b of blobs()) rows += b.targets.length;
      assert.equal(rows, 1500);
      for (const i of [0, 1023, 1024, 1499]) {
        const e = entry(plan, `many/f${i}`);
        assert.equal(plan.rel(e), `many/f${i}`);
        const [c] = [...plan.fileChunks(e)];
        assert.equal(c!.id, repo.blobId(Buffer.from(`file number ${i}\n`)));
        assert.equal(plan.size(e), `file number ${i}\n`.length);
      }
    } finally {
      await repo.close();
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
