import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, rename, rm, writeFile, open } from 'node:fs/promises';
import { join } from 'node:path';
import { hashTree, lastJson, listFiles, pseudoRandom, runCli, tempDir, writeTree } from './helpers.js';

/** A project with a config naming one repository on two local targets. */
async function mirrorProject(root: string, extra = ''): Promise<{ config: string; a: string; b: string; src: string }> {
  const a = join(root, 'target-a');
  const b = join(root, 'target-b');
  const src = join(root, 'src');
  await writeTree(src, { 'app/main.js': 'console.log(1)\n', 'data/big.bin': pseudoRandom(3 << 20, 7), 'conf/app.env': 'KEY=value\n' });
  const config = join(root, 'safepoint.yaml');
  await writeFile(config, `version: 1\nproject: t\nrepositories:\n  files:\n    targets: [ ${a}, ${b} ]\n${extra}sources:\n  - { name: app, type: files, repository: files, paths: [ ${src} ] }\n`);
  return { config, a, b, src };
}

const objects = async (dir: string): Promise<string[]> => (await listFiles(dir)).filter((f) => !f.startsWith('locks/') && !f.startsWith('lag/')).sort();

test('a repository with two targets: one pass writes both; each restores on its own; check reports each', async () => {
  const t = await tempDir();
  try {
    const p = await mirrorProject(t.path);
    assert.equal((await runCli(['init', '--config', p.config])).code, 0);
    const r = await runCli(['backup', '--config', p.config, '--source', 'app', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await objects(p.a), await objects(p.b));
    assert.ok((await objects(p.a)).some((f) => f.startsWith('data/')));
    // each target alone is a complete repository
    for (const target of [p.a, p.b]) {
      const out = join(t.path, `restore-${target.slice(-1)}`);
      const res = await runCli(['restore', 'latest', '--repo', target, '--target', out]);
      assert.equal(res.code, 0, res.stderr);
      assert.deepEqual(await hashTree(join(out, 'src')), await hashTree(p.src));
    }
    const check = await runCli(['check', '--config', p.config, '--json']);
    assert.equal(check.code, 0, check.stderr);
    const summaries = check.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>).filter((e) => e.message_type === 'summary');
    assert.deepEqual(summaries.map((s) => s.target), [p.a, p.b]);
  } finally {
    await t.cleanup();
  }
});

test('a target that is down: the default (all targets) fails and records nothing; min_targets 1 completes and sync catches up', async () => {
  const t = await tempDir();
  try {
    const p = await mirrorProject(t.path);
    assert.equal((await runCli(['init', '--config', p.config])).code, 0);
    assert.equal((await runCli(['backup', '--config', p.config, '--source', 'app'])).code, 0);
    await writeTree(p.src, { 'data/new.bin': pseudoRandom(1 << 20, 99) });
    // target b goes away: its folder is replaced by a file, so every write there fails
    await rename(p.b, `${p.b}.away`);
    await writeFile(p.b, 'not a folder');
    const failed = await runCli(['backup', '--config', p.config, '--source', 'app']);
    assert.notEqual(failed.code, 0);
    assert.match(failed.stderr, /on 1 of 2 targets, min_targets is 2: .*target-b/);
    assert.ok(!failed.stderr.includes('    at '), failed.stderr);
    assert.equal((await readdir(join(p.a, 'snapshots'))).length, 1, 'no snapshot recorded on the healthy target');

    const relaxed = await mirrorProject(t.path, '    min_targets: 1\n');
    const ok = await runCli(['backup', '--config', relaxed.config, '--source', 'app']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stderr, /target .*target-b is down .*run `safepoint sync`/);
    assert.equal((await readdir(join(p.a, 'snapshots'))).length, 2);
    assert.equal((await readdir(join(p.a, 'lag'))).length, 1, 'the lagging target is recorded on the healthy one');
    const lagging = await runCli(['check', '--repo', p.a]);
    assert.match(lagging.stderr, /target-b has been missing writes since/);
    // deleting while a target lags would let sync bring the deleted back, or leave it without the new index
    const forget = await runCli(['forget', '--config', relaxed.config, '--keep-last', '1']);
    assert.equal(forget.code, 2);
    assert.match(forget.stderr, /^error: forget needs every target up to date, and .*target-b has missed writes since .*run `safepoint sync` first/m);

    // back online: sync copies what it missed, and the lag record goes
    await rm(p.b);
    await rename(`${p.b}.away`, p.b);
    const dry = await runCli(['sync', '--config', relaxed.config, '--dry-run', '--json']);
    assert.equal(dry.code, 0, dry.stderr);
    const sync = await runCli(['sync', '--config', relaxed.config, '--json']);
    assert.equal(sync.code, 0, sync.stderr);
    const targets = sync.stdout.trim().split('\n').map((l) => JSON.parse(l) as { location: string; copied: number });
    assert.equal(targets.find((x) => x.location === p.b)?.copied !== 0, true);
    assert.deepEqual(await objects(p.a), await objects(p.b));
    assert.deepEqual(await readdir(join(p.a, 'lag')), []);
    assert.equal((await runCli(['check', '--config', relaxed.config, '--read-data'])).code, 0);
    const again = await runCli(['sync', '--config', relaxed.config]);
    assert.match(again.stdout, /target-b: up to date/);
  } finally {
    await t.cleanup();
  }
});

test('restore reads from the healthy target when a pack on the first is damaged; check names the damaged target', async () => {
  const t = await tempDir();
  try {
    const p = await mirrorProject(t.path);
    assert.equal((await runCli(['init', '--config', p.config])).code, 0);
    assert.equal((await runCli(['backup', '--config', p.config, '--source', 'app'])).code, 0);
    // flip a byte in the middle of every pack of target a
    for (const f of (await listFiles(p.a)).filter((x) => x.startsWith('data/'))) {
      const fh = await open(join(p.a, f), 'r+');
      const { size } = await fh.stat();
      const b = Buffer.alloc(1);
      await fh.read(b, 0, 1, Math.floor(size / 3));
      b[0] = b[0]! ^ 0xff;
      await fh.write(b, 0, 1, Math.floor(size / 3));
      await fh.close();
    }
    const out = join(t.path, 'restored');
    const res = await runCli(['restore', 'latest', '--config', p.config, '--target', out]);
    assert.equal(res.code, 0, res.stderr);
    assert.deepEqual(await hashTree(join(out, 'src')), await hashTree(p.src));
    const check = await runCli(['check', '--config', p.config, '--read-data']);
    assert.notEqual(check.code, 0);
    assert.match(check.stderr, new RegExp(`error: ${p.a}: pack `));
    assert.ok(!check.stderr.includes(`error: ${p.b}:`), check.stderr);
    assert.match(check.stdout, new RegExp(`${p.b}: checked 1 snapshots, .*: no errors`));
  } finally {
    await t.cleanup();
  }
});

test('append-only: the config or an append-only key can add snapshots, never forget, prune or remove keys', async () => {
  const t = await tempDir();
  try {
    const p = await mirrorProject(t.path, '    append_only: true\n');
    assert.equal((await runCli(['init', '--config', p.config])).code, 0);
    assert.equal((await runCli(['backup', '--config', p.config, '--source', 'app'])).code, 0);
    const forget = await runCli(['forget', '--config', p.config, '--keep-last', '1']);
    assert.notEqual(forget.code, 0);
    assert.match(forget.stderr, /^error: forget deletes data, and this client is append-only/m);
    assert.notEqual((await runCli(['prune', '--config', p.config])).code, 0);

    // the admin adds an append-only key for a client machine
    const repo = p.a;
    await writeFile(join(t.path, 'client.pw'), 'client-password');
    const add = await runCli(['key', 'add', '--repo', repo, '--append-only', '--new-password-file', join(t.path, 'client.pw')]);
    assert.equal(add.code, 0, add.stderr);
    const client = { SAFEPOINT_PASSWORD: 'client-password' };
    assert.equal((await runCli(['backup', '--repo', repo, p.src], { env: client })).code, 0);
    const denied = await runCli(['forget', '--repo', repo, '--keep-last', '1'], { env: client });
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr, /append-only/);
    const keys = JSON.parse((await runCli(['key', 'list', '--repo', repo, '--json'])).stdout) as { id: string; append_only: boolean }[];
    const admin = keys.find((k) => !k.append_only)!;
    const rm2 = await runCli(['key', 'remove', '--repo', repo, admin.id], { env: client });
    assert.match(rm2.stderr, /key remove deletes data, and this client is append-only/);
    // a key added by an append-only client is append-only too
    await writeFile(join(t.path, 'other.pw'), 'other');
    assert.equal((await runCli(['key', 'add', '--repo', repo, '--new-password-file', join(t.path, 'other.pw')], { env: client })).code, 0);
    const after = JSON.parse((await runCli(['key', 'list', '--repo', repo, '--json'])).stdout) as { append_only: boolean }[];
    assert.equal(after.filter((k) => k.append_only).length, 2);
    // the admin key on a client without append_only may forget
    const adminForget = await runCli(['forget', '--repo', repo, '--keep-last', '1', '--prune']);
    assert.equal(adminForget.code, 0, adminForget.stderr);
  } finally {
    await t.cleanup();
  }
});

test('copy moves snapshots to a repository with other keys; a second copy skips them', async () => {
  const t = await tempDir();
  try {
    const src = join(t.path, 'data');
    await writeTree(src, { 'a.txt': 'alpha\n', 'big.bin': pseudoRandom(2 << 20, 3), 'sub/b.txt': 'beta\n' });
    const from = join(t.path, 'from');
    const to = join(t.path, 'to');
    assert.equal((await runCli(['init', '--repo', from])).code, 0);
    assert.equal((await runCli(['init', '--repo', to], { env: { SAFEPOINT_PASSWORD: 'other-password' } })).code, 0);
    assert.equal((await runCli(['backup', '--repo', from, src, '--tag', 'one'])).code, 0);
    await writeTree(src, { 'a.txt': 'alpha 2\n' });
    assert.equal((await runCli(['backup', '--repo', from, src, '--tag', 'two'])).code, 0);
    const env = { SAFEPOINT_TO_PASSWORD: 'other-password' };
    const c1 = await runCli(['copy', '--from', from, '--to', to, '--json'], { env });
    assert.equal(c1.code, 0, c1.stderr);
    assert.equal(lastJson(c1.stdout).copied, 2);
    const c2 = await runCli(['copy', '--from', from, '--to', to, '--json'], { env });
    assert.equal(lastJson(c2.stdout).copied, 0);
    assert.equal(lastJson(c2.stdout).skipped, 2);
    const out = join(t.path, 'out');
    const res = await runCli(['restore', 'latest', '--repo', to, '--target', out], { env: { SAFEPOINT_PASSWORD: 'other-password' } });
    assert.equal(res.code, 0, res.stderr);
    assert.deepEqual(await hashTree(join(out, 'data')), await hashTree(src));
    assert.equal((await readFile(join(out, 'data', 'a.txt'))).toString(), 'alpha 2\n');
    assert.equal((await runCli(['check', '--repo', to, '--read-data'], { env: { SAFEPOINT_PASSWORD: 'other-password' } })).code, 0);
    const wrong = await runCli(['copy', '--from', from, '--to', to]);
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /^error: wrong password/m);
  } finally {
    await t.cleanup();
  }
});

test('prune on a mirror repacks from the intact copy, and a damaged config on the first target is read from the second', async () => {
  const t = await tempDir();
  try {
    const p = await mirrorProject(t.path);
    assert.equal((await runCli(['init', '--config', p.config])).code, 0);
    assert.equal((await runCli(['backup', '--config', p.config, '--source', 'app'])).code, 0);
    await writeTree(p.src, { 'data/big.bin': pseudoRandom(3 << 20, 8) });
    assert.equal((await runCli(['backup', '--config', p.config, '--source', 'app'])).code, 0);
    // every blob of every pack of target a altered in place (a byte in every 64), and its config too
    for (const f of (await listFiles(p.a)).filter((x) => x.startsWith('data/') || x === 'config')) {
      const bytes = await readFile(join(p.a, f));
      for (let at = 0; at < bytes.length; at += 64) bytes[at] = bytes[at]! ^ 0x40;
      await writeFile(join(p.a, f), bytes);
    }
    const snaps = await runCli(['snapshots', '--config', p.config, '--json']);
    assert.equal(snaps.code, 0, snaps.stderr);
    const forget = await runCli(['forget', '--config', p.config, '--keep-last', '1', '--prune', '--max-unused', '0%']);
    assert.equal(forget.code, 0, forget.stderr);
    // the second target must hold only intact data: nothing damaged was copied into the new packs
    const check = await runCli(['check', '--repo', p.b, '--read-data']);
    assert.equal(check.code, 0, check.stdout + check.stderr);
    const out = join(t.path, 'out');
    const r = await runCli(['restore', 'latest', '--repo', p.b, '--target', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await hashTree(join(out, 'src')), await hashTree(p.src));
    const both = await runCli(['check', '--config', p.config]);
    assert.notEqual(both.code, 0);
    assert.match(both.stderr, new RegExp(`error: ${p.a}: cannot be opened`));
    assert.match(both.stdout, new RegExp(`${p.b}: checked 1 snapshots`));
  } finally {
    await t.cleanup();
  }
});

test('repair revert: refused on an append-only client, and on targets that keep no versions', async () => {
  const t = await tempDir();
  try {
    const ao = await mirrorProject(t.path, '    append_only: true\n');
    const refused = await runCli(['repair', 'revert', '--config', ao.config, '--to', '2h']);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /^error: repair revert deletes object versions, and this client is append-only/m);
    const p = await mirrorProject(t.path);
    assert.equal((await runCli(['init', '--config', p.config])).code, 0);
    const local = await runCli(['repair', 'revert', '--config', p.config, '--to', '2026-11-29T00:00:00Z']);
    assert.equal(local.code, 2);
    assert.match(local.stderr, /^error: no target of this repository keeps versions/m);
    const bad = await runCli(['repair', 'revert', '--config', p.config, '--to', 'yesterday']);
    assert.match(bad.stderr, /^error: yesterday: expected a date and time .* or a duration ago/m);
  } finally {
    await t.cleanup();
  }
});
