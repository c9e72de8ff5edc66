/**
 * Several processes on one repository (format §6, §9): concurrent backups (of different trees, and of the same
 * tree twice) both succeed and stay restorable; prune and backup exclude each other through the lock files; a
 * dead process's lock is stale and `unlock` removes it. Real processes, real signals: SIGSTOP keeps a process
 * alive while it holds its lock, SIGKILL leaves a lock whose pid no longer runs.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hashTree, lastJson, listFiles, randomData, runCliTimed, spawnCli, tempDir, waitUntil, type CliProcess, type RunResult } from './helpers.js';

const MiB = 1024 * 1024;
const CMD_TIMEOUT = 60_000;

const root = await tempDir('sp-concurrency-');
const stopped = new Set<CliProcess>();
after(async () => {
  // never leave a stopped child behind, whatever failed
  for (const p of stopped) {
    p.kill('SIGCONT');
    p.kill('SIGKILL');
  }
  await root.cleanup();
});

const sp = (repo: string, ...args: string[]): Promise<RunResult> => runCliTimed(['--repo', repo, ...args], { timeoutMs: CMD_TIMEOUT });
const explain = (r: RunResult): string => `exit ${String(r.code)} signal ${String(r.signal)}\nstdout: ${r.stdout.slice(-3000)}\nstderr: ${r.stderr.slice(-3000)}`;
const lockIds = async (repo: string): Promise<string[]> => (await listFiles(join(repo, 'locks'))).filter((f) => /^[0-9a-f]{64}$/.test(f));

async function dataBytes(repo: string): Promise<number> {
  let n = 0;
  for (const f of await listFiles(join(repo, 'data'))) n += (await stat(join(repo, 'data', f))).size;
  return n;
}

/** A tree of three 8 MiB pseudo-random files and 20 small ones, all depending on `seed`. */
async function makeTree(dir: string, seed: number): Promise<Map<string, string>> {
  for (let i = 0; i < 3; i++) await writeTreeFile(join(dir, 'big', `f${i}.bin`), randomData(8 * MiB, seed * 10 + i));
  for (let i = 0; i < 20; i++) await writeTreeFile(join(dir, `sub${i % 3}`, `note-${i}.txt`), `tree ${seed}, note ${i}\n`.repeat(1 + i * 13));
  return hashTree(dir);
}
async function writeTreeFile(path: string, data: string | Buffer): Promise<void> {
  await mkdir(join(path, '..'), { recursive: true });
  await writeFile(path, data);
}

async function newRepo(name: string): Promise<string> {
  const repo = join(root.path, name);
  const r = await sp(repo, 'init');
  assert.equal(r.code, 0, explain(r));
  return repo;
}

/** Restores with --verify into a fresh folder; the restored `name` folder must hash exactly like `expected`. */
async function assertRestores(repo: string, snapshot: string, name: string, expected: Map<string, string>): Promise<void> {
  const target = join(root.path, `restore-${Math.random().toString(36).slice(2)}`);
  try {
    const r = await sp(repo, 'restore', snapshot, '--target', target, '--verify');
    assert.equal(r.code, 0, `restore ${snapshot}: ${explain(r)}`);
    assert.deepEqual(await hashTree(join(target, name)), expected, `snapshot ${snapshot} does not restore ${name} byte for byte`);
  } finally {
    await rm(target, { recursive: true, force: true });
  }
}

interface Summary {
  snapshot_id: string;
  backup_start: string;
  backup_end: string;
}
/**
 * Runs two backups at once; both must succeed and their runs must overlap in time. Started together, a backup of a
 * small tree could finish before the other process was even up (0.2 s, on a loaded machine), so the first is paused
 * while it holds its lock until the second holds one too.
 */
async function concurrentBackups(repo: string, paths: readonly [string, string]): Promise<Summary[]> {
  const spawn = (path: string): CliProcess => spawnCli(['--repo', repo, '--json', 'backup', path], { timeoutMs: CMD_TIMEOUT });
  const before = await lockIds(repo);
  const first = spawn(paths[0]);
  const held = await stopWhileLocked(first, repo, before);
  const withFirst = await lockIds(repo);
  const second = spawn(paths[1]);
  if (held) {
    await waitUntil(async () => !second.running || (await lockIds(repo)).some((id) => !withFirst.includes(id)), 'the second backup to lock', CMD_TIMEOUT, 1);
    void resume(first);
  }
  const results = await Promise.all([first.exited, second.exited]);
  for (const r of results) assert.equal(r.code, 0, `a concurrent backup failed: ${explain(r)}`);
  const sums = results.map((r) => lastJson(r.stdout) as unknown as Summary);
  const [a, b] = sums;
  assert.ok(a && b);
  // the test is only meaningful if both were storing data at the same time
  assert.ok(a.backup_start < b.backup_end && b.backup_start < a.backup_end, `the backups did not overlap: ${JSON.stringify(sums)}`);
  return sums;
}

/** Stops `p` (SIGSTOP) as soon as it holds a lock in `repo` that was not there before; false if it finished first. */
async function stopWhileLocked(p: CliProcess, repo: string, before: readonly string[]): Promise<boolean> {
  await waitUntil(async () => !p.running || (await lockIds(repo)).some((id) => !before.includes(id)), 'a new lock', CMD_TIMEOUT, 1);
  if (!p.kill('SIGSTOP')) return false;
  stopped.add(p);
  // still alive and still holding its lock?
  return p.running && (await lockIds(repo)).some((id) => !before.includes(id));
}

async function resume(p: CliProcess): Promise<RunResult> {
  p.kill('SIGCONT');
  const r = await p.exited;
  stopped.delete(p);
  return r;
}

test('two concurrent backups of different trees both succeed and both restore byte-exact', { timeout: 120_000 }, async () => {
  const repo = await newRepo('repo-two-trees');
  const alpha = join(root.path, 'alpha');
  const beta = join(root.path, 'beta');
  const expectedAlpha = await makeTree(alpha, 1);
  const expectedBeta = await makeTree(beta, 2);

  const [sa, sb] = await concurrentBackups(repo, [alpha, beta]);
  assert.ok(sa && sb);
  const list = await sp(repo, '--json', 'snapshots');
  assert.equal(list.code, 0, explain(list));
  const snaps = JSON.parse(list.stdout) as { id: string; paths: string[]; complete: boolean }[];
  assert.deepEqual(snaps.map((s) => s.id).sort(), [sa.snapshot_id, sb.snapshot_id].sort());
  assert.deepEqual(snaps.find((s) => s.id === sa.snapshot_id)?.paths, [alpha]);
  assert.deepEqual(snaps.find((s) => s.id === sb.snapshot_id)?.paths, [beta]);
  assert.ok(snaps.every((s) => s.complete));

  const check = await sp(repo, 'check', '--read-data');
  assert.equal(check.code, 0, explain(check));
  await Promise.all([assertRestores(repo, sa.snapshot_id, 'alpha', expectedAlpha), assertRestores(repo, sb.snapshot_id, 'beta', expectedBeta)]);
});

test('the same tree backed up twice at once: both snapshots restore, prune drops the duplicate copies', { timeout: 120_000 }, async (t) => {
  const repo = await newRepo('repo-same-tree');
  const gamma = join(root.path, 'gamma');
  const expected = await makeTree(gamma, 3);

  const [s1, s2] = await concurrentBackups(repo, [gamma, gamma]);
  assert.ok(s1 && s2);
  assert.notEqual(s1.snapshot_id, s2.snapshot_id);
  const list = await sp(repo, '--json', 'snapshots');
  const snaps = JSON.parse(list.stdout) as { id: string; tree: string }[];
  assert.equal(snaps.length, 2);
  assert.equal(snaps[0]?.tree, snaps[1]?.tree, 'the same unchanged tree gives the same tree id');

  // both processes stored every blob: the index lists each blob in two packs, which is allowed (§6)
  const check = await sp(repo, 'check', '--read-data');
  assert.equal(check.code, 0, explain(check));
  await Promise.all([assertRestores(repo, s1.snapshot_id, 'gamma', expected), assertRestores(repo, s2.snapshot_id, 'gamma', expected)]);

  const before = await dataBytes(repo);
  const prune = await sp(repo, '--json', 'prune');
  assert.equal(prune.code, 0, explain(prune));
  const afterBytes = await dataBytes(repo);
  t.diagnostic(`prune of duplicate copies: ${JSON.stringify(lastJson(prune.stdout))}; data ${before} -> ${afterBytes} bytes`);
  assert.ok(before > 2 * 24 * MiB, `both backups stored the data (${before} bytes)`);
  assert.ok(afterBytes < 0.6 * before, `prune kept more than one copy of the blobs: ${before} -> ${afterBytes} bytes`);
  const check2 = await sp(repo, 'check', '--read-data');
  assert.equal(check2.code, 0, explain(check2));
  await assertRestores(repo, s2.snapshot_id, 'gamma', expected);
});

test('prune fails with exit code 11 while a backup holds its lock, and backup while prune holds its lock', { timeout: 120_000 }, async () => {
  const repo = await newRepo('repo-locked');
  const delta = join(root.path, 'delta');
  const expected = await makeTree(delta, 4);

  // a backup, stopped while it holds its shared lock
  const backup = spawnCli(['--repo', repo, '--json', 'backup', delta], { timeoutMs: CMD_TIMEOUT });
  assert.ok(await stopWhileLocked(backup, repo, []), `the backup finished before it could be stopped: ${backup.stderr()}`);
  try {
    const prune = await sp(repo, 'prune');
    assert.equal(prune.code, 11, `prune during a backup: ${explain(prune)}`);
    assert.match(prune.stderr, /^error: repository is locked by backup \(pid (\d+) on [^)]+\)/m);
    assert.match(prune.stderr, new RegExp(`pid ${backup.pid} `));
    assert.doesNotMatch(prune.stderr, /internal error|\n\s+at /);
    // the live lock is not stale: unlock leaves it
    const unlock = await sp(repo, '--json', 'unlock');
    assert.equal(unlock.code, 0, explain(unlock));
    assert.equal(lastJson(unlock.stdout).removed, 0);
    assert.equal((await lockIds(repo)).length, 1, 'prune removed its own lock and left the backup lock');
  } finally {
    const r = await resume(backup);
    assert.equal(r.code, 0, `the backup, resumed: ${explain(r)}`);
  }
  assert.equal((await lockIds(repo)).length, 0);
  const snapshotId = String(lastJson(backup.stdout()).snapshot_id);

  // a prune, stopped while it holds its exclusive lock; it may finish before the stop lands, then try again
  let prune: CliProcess | undefined;
  for (let attempt = 0; attempt < 5 && !prune; attempt++) {
    const p = spawnCli(['--repo', repo, 'prune'], { timeoutMs: CMD_TIMEOUT });
    if (await stopWhileLocked(p, repo, [])) prune = p;
    else assert.equal((await p.exited).code, 0);
  }
  assert.ok(prune, 'prune always finished before it could be stopped');
  try {
    const b = await sp(repo, 'backup', delta);
    assert.equal(b.code, 11, `backup during a prune: ${explain(b)}`);
    assert.match(b.stderr, /^error: repository is locked exclusively by prune \(pid \d+ on [^)]+\)/m);
    assert.match(b.stderr, new RegExp(`pid ${prune.pid} `));
    const c = await sp(repo, 'check');
    assert.equal(c.code, 11, `check during a prune: ${explain(c)}`);
  } finally {
    const r = await resume(prune);
    assert.equal(r.code, 0, `prune, resumed: ${explain(r)}`);
  }
  assert.equal((await lockIds(repo)).length, 0, 'the refused backup and check removed their own locks');
  const check = await sp(repo, 'check', '--read-data');
  assert.equal(check.code, 0, explain(check));
  await assertRestores(repo, snapshotId, 'delta', expected);
});

test('a SIGKILLed backup leaves a stale lock that blocks nobody; unlock removes it', { timeout: 120_000 }, async () => {
  const repo = await newRepo('repo-stale');
  const epsilon = join(root.path, 'epsilon');
  const expected = await makeTree(epsilon, 5);

  const backup = spawnCli(['--repo', repo, '--json', 'backup', epsilon], { timeoutMs: CMD_TIMEOUT });
  await waitUntil(async () => !backup.running || (await lockIds(repo)).length > 0, 'the backup lock', CMD_TIMEOUT, 1);
  assert.ok(backup.kill('SIGKILL'), 'the backup finished before it could be killed');
  const killed = await backup.exited;
  assert.equal(killed.signal, 'SIGKILL');
  const stale = await lockIds(repo);
  assert.equal(stale.length, 1, 'the killed backup left its lock');

  // the pid in the lock is dead on this host: an exclusive prune is not blocked, and leaves that lock alone
  const prune = await sp(repo, 'prune');
  assert.equal(prune.code, 0, `prune with a stale lock present: ${explain(prune)}`);
  assert.deepEqual(await lockIds(repo), stale);

  const unlock = await sp(repo, '--json', 'unlock');
  assert.equal(unlock.code, 0, explain(unlock));
  assert.equal(lastJson(unlock.stdout).removed, 1);
  assert.deepEqual(await lockIds(repo), []);

  const b = await sp(repo, '--json', 'backup', epsilon);
  assert.equal(b.code, 0, explain(b));
  await assertRestores(repo, String(lastJson(b.stdout).snapshot_id), 'epsilon', expected);
});
