import { test } from 'node:test';
import assert from 'node:assert/strict';
import { open, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pseudoRandom, runCli, tempDir, writeTree } from './helpers.js';

async function packFiles(repo: string): Promise<string[]> {
  const out: string[] = [];
  for (const d of await readdir(join(repo, 'data'))) for (const f of await readdir(join(repo, 'data', d))) out.push(join(repo, 'data', d, f));
  return out;
}

async function flipByte(file: string, at: number): Promise<void> {
  const fh = await open(file, 'r+');
  const b = Buffer.alloc(1);
  await fh.read(b, 0, 1, at);
  b[0] = b[0]! ^ 0x40;
  await fh.write(b, 0, 1, at);
  await fh.close();
}

test('a flipped byte in a pack is found by check --read-data, naming the pack and the snapshots; other files still restore', async () => {
  const t = await tempDir();
  try {
    const repo = join(t.path, 'repo');
    await runCli(['init', '--repo', repo]);
    await writeTree(t.path, { 'a/one.bin': pseudoRandom(100_000, 1) });
    await runCli(['backup', '--repo', repo, join(t.path, 'a')]);
    const first = new Set(await packFiles(repo));
    await writeTree(t.path, { 'b/two.bin': pseudoRandom(100_000, 2) });
    await runCli(['backup', '--repo', repo, join(t.path, 'b')]);
    // the data pack of the second backup
    const second = [];
    for (const p of await packFiles(repo)) if (!first.has(p) && (await stat(p)).size > 90_000) second.push(p);
    assert.equal(second.length, 1);
    const damaged = second[0]!;
    assert.equal((await runCli(['check', '--repo', repo])).code, 0, 'structure alone cannot see a flipped data byte');
    await flipByte(damaged, 5000);
    const c = await runCli(['check', '--repo', repo, '--read-data', '--json']);
    assert.equal(c.code, 1);
    const packId = damaged.split('/').at(-1)!;
    assert.match(c.stderr, new RegExp(`pack ${packId.slice(0, 8)}`));
    const snaps = JSON.parse((await runCli(['snapshots', '--repo', repo, '--json'])).stdout) as { id: string; paths: string[] }[];
    const hurt = snaps.find((s) => s.paths[0]!.endsWith('/b'))!;
    const healthy = snaps.find((s) => s.paths[0]!.endsWith('/a'))!;
    assert.match(c.stderr, new RegExp(`affects snapshots .*${hurt.id.slice(0, 8)}`));
    assert.doesNotMatch(c.stderr, new RegExp(healthy.id.slice(0, 8)));
    const ok = await runCli(['restore', healthy.id, '--repo', repo, '--target', join(t.path, 'out-a')]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual(await readFile(join(t.path, 'out-a/a/one.bin')), pseudoRandom(100_000, 1));
    const bad = await runCli(['restore', hurt.id, '--repo', repo, '--target', join(t.path, 'out-b')]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /two\.bin.*authentication failed|could not be restored/);
  } finally {
    await t.cleanup();
  }
});

test('a damaged index is reported by check and does not stop restores', async () => {
  const t = await tempDir();
  try {
    const repo = join(t.path, 'repo');
    await runCli(['init', '--repo', repo]);
    await writeTree(t.path, { 'a/x.txt': 'x'.repeat(5000) });
    await runCli(['backup', '--repo', repo, join(t.path, 'a')]);
    const [idx] = await readdir(join(repo, 'index'));
    await writeFile(join(repo, 'index', idx!), 'garbage');
    const c = await runCli(['check', '--repo', repo]);
    assert.equal(c.code, 1);
    assert.match(c.stderr, new RegExp(`index ${idx!.slice(0, 8)}`));
    const r = await runCli(['restore', 'latest', '--repo', repo, '--target', join(t.path, 'out')]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await readFile(join(t.path, 'out/a/x.txt'), 'utf8'), 'x'.repeat(5000));
  } finally {
    await t.cleanup();
  }
});

test('a snapshot file changed in storage is detected (names are content hashes)', async () => {
  const t = await tempDir();
  try {
    const repo = join(t.path, 'repo');
    await runCli(['init', '--repo', repo]);
    await writeTree(t.path, { 'a/x.txt': 'x' });
    await runCli(['backup', '--repo', repo, join(t.path, 'a')]);
    const [sn] = await readdir(join(repo, 'snapshots'));
    await flipByte(join(repo, 'snapshots', sn!), 40);
    const c = await runCli(['check', '--repo', repo]);
    assert.notEqual(c.code, 0);
    assert.match(c.stderr, /does not match its name|changed or damaged/);
  } finally {
    await t.cleanup();
  }
});

test('repair index rebuilds a lost index from the pack headers', async () => {
  const t = await tempDir();
  try {
    const repo = join(t.path, 'repo');
    await runCli(['init', '--repo', repo]);
    await writeTree(t.path, { 'a/x.bin': pseudoRandom(300_000, 9), 'a/y.txt': 'y' });
    await runCli(['backup', '--repo', repo, join(t.path, 'a')]);
    const { rm } = await import('node:fs/promises');
    for (const f of await readdir(join(repo, 'index'))) await rm(join(repo, 'index', f));
    assert.notEqual((await runCli(['check', '--repo', repo])).code, 0, 'a lost index is an error');
    const r = await runCli(['repair', 'index', '--repo', repo]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await runCli(['check', '--repo', repo, '--read-data'])).code, 0);
    assert.equal((await runCli(['restore', 'latest', '--repo', repo, '--target', join(t.path, 'out')])).code, 0);
    assert.deepEqual(await readFile(join(t.path, 'out/a/x.bin')), pseudoRandom(300_000, 9));
  } finally {
    await t.cleanup();
  }
});
