/**
 * A repository on a full disk: the repository lives on a small tmpfs mounted for the test (needs root; skipped
 * with the reason when mounting is not possible, failed when CI=true). A backup that does not fit must stop with
 * one clear `error: ... no space left on device ...` line, no stack trace, and leave a consistent repository from
 * which the space can be reclaimed and into which a smaller backup then succeeds.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, open, rm, stat, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { hashTree, lastJson, listFiles, randomData, runCliTimed, tempDir, type RunResult } from './helpers.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const CMD_TIMEOUT = 60_000;

const root = await tempDir('sp-diskfull-');
const mounted: string[] = [];

async function mountTmpfs(dir: string, size: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await run('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir], { timeout: 10_000 });
  mounted.push(dir);
}
async function unmount(dir: string): Promise<void> {
  try {
    await run('umount', [dir], { timeout: 10_000 });
  } catch {
    await run('umount', ['-l', dir], { timeout: 10_000 }).catch(() => undefined); // busy: detach lazily
  }
}
after(async () => {
  for (const dir of mounted.splice(0).reverse()) await unmount(dir);
  await root.cleanup();
});

// can this process mount at all? (root, and not in a container that forbids it)
let cannotMount: string | undefined;
try {
  const probe = join(root.path, 'probe');
  await mountTmpfs(probe, '1m');
  await unmount(probe);
  mounted.splice(mounted.indexOf(probe), 1);
} catch (err) {
  cannotMount = `cannot mount a tmpfs (${(err as Error).message.split('\n')[0]}): these tests need root and mount(8)`;
}
if (cannotMount !== undefined && process.env.CI === 'true') {
  test('a tmpfs can be mounted for the disk-full tests (required when CI=true)', () => assert.fail(cannotMount));
}
const skip = cannotMount ?? false;

const sp = (repo: string, ...args: string[]): Promise<RunResult> => runCliTimed(['--repo', repo, ...args], { timeoutMs: CMD_TIMEOUT });
const explain = (r: RunResult): string => `exit ${String(r.code)} signal ${String(r.signal)}\nstdout: ${r.stdout.slice(-3000)}\nstderr: ${r.stderr.slice(-3000)}`;

async function freeBytes(dir: string): Promise<number> {
  const s = await statfs(dir);
  return s.bavail * s.bsize;
}
async function repoBytes(repo: string): Promise<number> {
  let n = 0;
  for (const f of await listFiles(repo)) n += (await stat(join(repo, f))).size;
  return n;
}

/** The command failed because the disk is full, and said so in exactly one `error:` line, without a stack trace. */
function assertCleanNoSpace(r: RunResult, what: string): void {
  assert.notEqual(r.code, 0, `${what} succeeded on a full disk: ${explain(r)}`);
  assert.equal(r.code, 1, `${what}: ${explain(r)}`);
  assert.equal(r.signal, null);
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  const errors = lines.filter((l) => l.startsWith('error:'));
  assert.equal(errors.length, 1, `${what}: expected one error line: ${explain(r)}`);
  assert.match(errors[0] ?? '', /^error: .*no space left on device/i, `${what}: ${explain(r)}`);
  assert.doesNotMatch(r.stderr, /internal error/i, `${what}: ${explain(r)}`);
  assert.doesNotMatch(r.stderr, /^\s+at /m, `${what} printed a stack trace: ${explain(r)}`);
  assert.ok(lines.every((l) => /^(error|warning): /.test(l)), `${what}: unexpected stderr: ${explain(r)}`);
}

/** A source folder: the given large incompressible files and ten small ones. */
async function makeSource(dir: string, bigSizes: readonly number[], seed: number): Promise<void> {
  await mkdir(join(dir, 'docs'), { recursive: true });
  for (const [i, size] of bigSizes.entries()) await writeFile(join(dir, `big-${i}.bin`), randomData(size, seed + i));
  for (let i = 0; i < 10; i++) await writeFile(join(dir, 'docs', `note-${i}.txt`), `note ${i}\n`.repeat(50 + i));
}

async function assertRestores(repo: string, name: string, expected: Map<string, string>): Promise<void> {
  const target = join(root.path, `restore-${Math.random().toString(36).slice(2)}`);
  try {
    const r = await sp(repo, 'restore', 'latest', '--target', target, '--verify');
    assert.equal(r.code, 0, explain(r));
    assert.deepEqual(await hashTree(join(target, name)), expected);
  } finally {
    await rm(target, { recursive: true, force: true });
  }
}

/** Fills the file system of `dir` completely with one file; returns its path. */
async function fillDisk(dir: string): Promise<string> {
  const path = join(dir, 'filler');
  const fh = await open(path, 'w');
  try {
    for (const size of [MiB, 4096, 512, 1]) {
      const block = Buffer.alloc(size, 0xa5);
      for (;;) {
        try {
          await fh.write(block);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw err;
        }
      }
    }
  } finally {
    await fh.close();
  }
  return path;
}

test('a backup larger than the disk fails with one clear error; the repository stays consistent and a smaller backup then succeeds', { skip, timeout: 120_000 }, async (t) => {
  const mnt = join(root.path, 'small-disk');
  await mountTmpfs(mnt, '12m');
  const repo = join(mnt, 'repo');
  const src = join(root.path, 'site');
  const init = await sp(repo, 'init');
  assert.equal(init.code, 0, explain(init));
  const big = [5 * MiB, 5 * MiB, 5 * MiB, 5 * MiB, 5 * MiB, 5 * MiB];
  await makeSource(src, big, 100);

  const failed = await sp(repo, 'backup', src);
  assertCleanNoSpace(failed, 'backup of 30 MiB into 12 MiB');
  assert.doesNotMatch(failed.stdout, /snapshot .* saved/);
  t.diagnostic(`backup on a full disk: ${failed.stderr.trim().replaceAll('\n', ' | ')}; ${await freeBytes(mnt)} bytes free afterwards, repository ${await repoBytes(repo)} bytes`);

  // the same failure, a few more times: always one clean `error:` line that blames the full disk, not the files
  await t.test('the failure is always one `error: ... no space left on device ...` line that does not blame the source files, without a stack trace', async () => {
    const outputs = [failed];
    for (let i = 0; i < 5; i++) outputs.push(await sp(repo, 'backup', src));
    for (const [i, r] of outputs.entries()) {
      assertCleanNoSpace(r, `backup attempt ${i + 1} on a full disk`);
      assert.equal(r.stderr.trim().split('\n').length, 1, `attempt ${i + 1}: stderr is not one line: ${explain(r)}`);
      assert.doesNotMatch(r.stderr, /reading|site\/big-/, `attempt ${i + 1}: a full repository disk is reported as a problem with the source files: ${explain(r)}`);
    }
    assert.deepEqual(await listFiles(join(repo, 'locks')), [], 'a failed backup did not release its lock');
  });

  const list = await sp(repo, '--json', 'snapshots');
  assert.equal(list.code, 0, explain(list));
  assert.deepEqual(JSON.parse(list.stdout), [], 'no snapshot may be written by a failed backup');
  const check = await sp(repo, 'check');
  assert.equal(check.code, 0, `check after a backup failed for lack of space: ${explain(check)}`);

  // reclaim what the failed backup left, then a backup that fits succeeds
  const prune = await sp(repo, '--json', 'prune');
  assert.equal(prune.code, 0, explain(prune));
  t.diagnostic(`prune after the failed backup: ${JSON.stringify(lastJson(prune.stdout))}; ${await freeBytes(mnt)} bytes free`);
  for (const i of big.keys()) await rm(join(src, `big-${i}.bin`));
  await writeFile(join(src, 'medium.bin'), randomData(3 * MiB, 7));
  const expected = await hashTree(src);
  const ok = await sp(repo, '--json', 'backup', src);
  assert.equal(ok.code, 0, `a backup that fits, after a failed one: ${explain(ok)}`);
  const check2 = await sp(repo, 'check', '--read-data');
  assert.equal(check2.code, 0, explain(check2));
  assert.doesNotMatch(check2.stderr, /not in any index/);
  await assertRestores(repo, 'site', expected);
});

test('packs left by a failed backup fill the disk: prune reclaims them once there is room for its lock', { skip, timeout: 120_000 }, async (t) => {
  const mnt = join(root.path, 'medium-disk');
  await mountTmpfs(mnt, '40m');
  const repo = join(mnt, 'repo');
  const src = join(root.path, 'media');
  const init = await sp(repo, 'init');
  assert.equal(init.code, 0, explain(init));
  await makeSource(src, [15 * MiB, 15 * MiB, 15 * MiB, 15 * MiB], 200);

  // 60 MiB into 40 MiB: some 16 MiB packs are written before a write fails
  const failed = await sp(repo, 'backup', src);
  assertCleanNoSpace(failed, 'backup of 60 MiB into 40 MiB');
  const leftover = await repoBytes(repo);
  t.diagnostic(`the failed backup left ${leftover} bytes in the repository; ${await freeBytes(mnt)} bytes free`);
  const check = await sp(repo, 'check');
  assert.equal(check.code, 0, explain(check));
  if (leftover > MiB) assert.match(check.stderr, /packs are not in any index/);

  // now the disk is full to the last byte
  const filler = await fillDisk(mnt);
  assert.equal(await freeBytes(mnt), 0);
  const pruneFull = await sp(repo, 'prune');
  const checkFull = await sp(repo, 'check');
  t.diagnostic(`on a 100% full disk: prune exit ${String(pruneFull.code)} (${pruneFull.stderr.trim()}), check exit ${String(checkFull.code)} (${checkFull.stderr.trim()})`);
  // whatever they do, they fail cleanly and change nothing
  if (pruneFull.code !== 0) assertCleanNoSpace(pruneFull, 'prune on a full disk');
  if (checkFull.code !== 0) assertCleanNoSpace(checkFull, 'check on a full disk');
  await t.test('prune and check work on a 100% full disk', () => {
    assert.equal(pruneFull.code, 0, `prune: ${explain(pruneFull)}`);
    assert.equal(checkFull.code, 0, `check: ${explain(checkFull)}`);
  });

  // with a little room (the filler gone) prune reclaims the failed backup's packs
  await rm(filler);
  const prune = await sp(repo, '--json', 'prune');
  assert.equal(prune.code, 0, explain(prune));
  t.diagnostic(`prune: ${JSON.stringify(lastJson(prune.stdout))}; repository now ${await repoBytes(repo)} bytes`);
  assert.ok((await repoBytes(repo)) < MiB, 'prune removed the packs of the failed backup');

  // a smaller backup (the big files gone but one) fits and restores
  for (const i of [1, 2, 3]) await rm(join(src, `big-${i}.bin`));
  const expected = await hashTree(src);
  const ok = await sp(repo, 'backup', src);
  assert.equal(ok.code, 0, explain(ok));
  const check2 = await sp(repo, 'check', '--read-data');
  assert.equal(check2.code, 0, explain(check2));
  assert.doesNotMatch(check2.stderr, /not in any index/);
  await assertRestores(repo, 'media', expected);
});
