import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile, mkdir } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LockedError } from '../util/errors.js';
import { Secret } from '../util/secret.js';
import { objectId } from './ids.js';
import { Lock, STALE_AFTER_MS, isStale, listLocks, withLock, type LockFile } from './lock.js';
import type { Repository } from './repository.js';
import { fastRepository } from './testing.js';

const PASSWORD = new Secret('lock test');
const MIN = 60 * 1000;

/** A repository with cheap scrypt parameters, opened again as a user would. */
const fastRepo = (dir: string): Promise<Repository> => fastRepository(dir, PASSWORD);

/** A pid that certainly ran on this host and no longer runs (its process has exited and been reaped). */
let dead: number | undefined;
function deadPid(): number {
  if (dead === undefined) {
    const r = spawnSync('true', { stdio: 'ignore' });
    const pid = r.error ? spawnSync(process.execPath, ['-e', ''], { stdio: 'ignore' }).pid : r.pid;
    assert.ok(typeof pid === 'number' && pid > 0);
    dead = pid;
  }
  return dead;
}

const lockFile = (over: Partial<LockFile>): LockFile => ({
  time: new Date().toISOString(),
  exclusive: true,
  host: 'some-other-host.example',
  pid: 4242,
  username: 'someone',
  operation: 'prune',
  ...over,
});

const isLocked = (pattern?: RegExp) => (err: unknown): boolean => err instanceof LockedError && err.exitCode === 11 && (pattern === undefined || pattern.test(err.message));

let dir: string;
let repo: Repository;
const lockFiles = async (): Promise<string[]> => (await readdir(join(dir, 'locks')).catch(() => [])).sort();

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'safepoint-lock-test-'));
  repo = await fastRepo(dir);
});
after(async () => {
  await repo.close();
  await rm(dir, { recursive: true, force: true });
});
afterEach(async () => {
  await rm(join(dir, 'locks'), { recursive: true, force: true });
  await mkdir(join(dir, 'locks'));
});

describe('Lock (format §9)', () => {
  it('writes a lock file describing the holder, and release removes it', async () => {
    const lock = await Lock.acquire(repo, 'backup', false);
    const locks = await listLocks(repo);
    assert.equal(locks.length, 1);
    const l = locks[0]!.lock;
    assert.ok(l);
    assert.equal(l.exclusive, false);
    assert.equal(l.host, hostname());
    assert.equal(l.pid, process.pid);
    assert.equal(l.operation, 'backup');
    assert.ok(Math.abs(Date.parse(l.time) - Date.now()) < MIN);
    assert.deepEqual(await lockFiles(), [locks[0]!.id]);
    await lock.release();
    assert.deepEqual(await lockFiles(), []);
    await lock.release(); // twice is fine
  });

  it('lets two shared locks coexist', async () => {
    const a = await Lock.acquire(repo, 'backup', false);
    const b = await Lock.acquire(repo, 'restore', false);
    assert.equal((await lockFiles()).length, 2);
    await a.release();
    assert.equal((await lockFiles()).length, 1);
    await b.release();
    assert.deepEqual(await lockFiles(), []);
  });

  it('refuses an exclusive lock while a shared one is held (LockedError, exit code 11), removing its own file', async () => {
    const shared = await Lock.acquire(repo, 'backup', false);
    const held = await lockFiles();
    await assert.rejects(Lock.acquire(repo, 'prune', true), isLocked(new RegExp(`by backup \\(pid ${process.pid} on ${hostname().replace(/\./g, '\\.')}, since `)));
    assert.deepEqual(await lockFiles(), held, 'the refused lock left nothing behind');
    await shared.release();
    const ex = await Lock.acquire(repo, 'prune', true);
    await ex.release();
  });

  it('refuses shared and exclusive locks while an exclusive one is held', async () => {
    const ex = await Lock.acquire(repo, 'prune', true);
    await assert.rejects(Lock.acquire(repo, 'backup', false), isLocked(/locked exclusively by prune/));
    await assert.rejects(Lock.acquire(repo, 'prune', true), isLocked());
    assert.equal((await lockFiles()).length, 1);
    await ex.release();
  });

  it('is blocked by a live lock of another host, whatever its pid', async () => {
    await repo.saveJson('locks', lockFile({ pid: deadPid(), operation: 'check' }));
    await assert.rejects(Lock.acquire(repo, 'prune', true), isLocked(/by check \(pid \d+ on some-other-host\.example/));
    const shared = await Lock.acquire(repo, 'backup', false).catch(() => null);
    assert.equal(shared, null, 'an exclusive lock of another host blocks a shared one too');
  });

  it('is not blocked by a lock older than 30 minutes', async () => {
    await repo.saveJson('locks', lockFile({ time: new Date(Date.now() - 31 * MIN).toISOString() }));
    const lock = await Lock.acquire(repo, 'prune', true);
    await lock.release();
    assert.equal((await lockFiles()).length, 1, 'stale locks are left for `safepoint unlock`');
  });

  it('is still blocked by a lock 29 minutes old', async () => {
    await repo.saveJson('locks', lockFile({ time: new Date(Date.now() - 29 * MIN).toISOString() }));
    await assert.rejects(Lock.acquire(repo, 'backup', false), isLocked());
  });

  it('is not blocked by a lock of a dead process on this host', async () => {
    await repo.saveJson('locks', lockFile({ host: hostname(), pid: deadPid() }));
    const lock = await Lock.acquire(repo, 'prune', true);
    await lock.release();
  });

  it('is blocked by a lock of a live process on this host', async () => {
    await repo.saveJson('locks', lockFile({ host: hostname(), pid: process.ppid }));
    await assert.rejects(Lock.acquire(repo, 'backup', false), isLocked());
  });

  it('is not blocked by an unreadable lock file', async () => {
    const junk = randomBytes(100);
    await writeFile(join(dir, 'locks', objectId(junk)), junk);
    const locks = await listLocks(repo);
    assert.deepEqual(locks, [{ id: objectId(junk), lock: null }]);
    const lock = await Lock.acquire(repo, 'prune', true);
    await lock.release();
  });

  it('withLock releases the lock after the function, also when it throws', async () => {
    assert.equal(await withLock(repo, 'check', false, async () => (await lockFiles()).length), 1);
    assert.deepEqual(await lockFiles(), []);
    await assert.rejects(
      withLock(repo, 'prune', true, async () => {
        throw new Error('boom');
      }),
      /boom/,
    );
    assert.deepEqual(await lockFiles(), []);
  });

  it('refreshes every 5 minutes: a new lock file replaces the old one', async (t) => {
    t.mock.timers.enable({ apis: ['setInterval'] });
    const lock = await Lock.acquire(repo, 'backup', false);
    const [first] = await lockFiles();
    t.mock.timers.tick(5 * MIN - 1);
    await sleep(50);
    assert.deepEqual(await lockFiles(), [first]);
    t.mock.timers.tick(1);
    let now = await lockFiles();
    for (let i = 0; i < 100 && (now.length !== 1 || now[0] === first); i++) {
      await sleep(10);
      now = await lockFiles();
    }
    assert.equal(now.length, 1);
    assert.notEqual(now[0], first);
    const [l] = await listLocks(repo);
    assert.equal(l?.lock?.operation, 'backup');
    await lock.release();
    assert.deepEqual(await lockFiles(), []);
  });

  it('leaves no lock file when released while a refresh is being written', async (t) => {
    t.mock.timers.enable({ apis: ['setInterval'] });
    const lock = await Lock.acquire(repo, 'backup', false);
    t.mock.timers.tick(5 * MIN); // the refresh starts writing a new lock file
    await lock.release();
    await sleep(200); // let the refresh finish
    assert.deepEqual(await lockFiles(), []);
  });

  it('survives a refresh that fails (storage briefly unavailable)', async (t) => {
    t.mock.timers.enable({ apis: ['setInterval'] });
    const lock = await Lock.acquire(repo, 'backup', false);
    // The locks folder is replaced by a file: the refresh cannot write (ENOTDIR).
    await rm(join(dir, 'locks'), { recursive: true });
    await writeFile(join(dir, 'locks'), 'not a folder');
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      t.mock.timers.tick(5 * MIN);
      await sleep(200);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      await lock.release().catch(() => undefined);
    }
    assert.deepEqual(unhandled, []);
  });

  it('after a failed refresh, index and snapshot writes are refused (nothing is recorded under a lost lock)', async (t) => {
    t.mock.timers.enable({ apis: ['setInterval'] });
    const lock = await Lock.acquire(repo, 'backup', false);
    await rm(join(dir, 'locks'), { recursive: true });
    await writeFile(join(dir, 'locks'), 'not a folder');
    try {
      t.mock.timers.tick(5 * MIN);
      await sleep(200);
      await assert.rejects(repo.saveJson('snapshots', { x: 1 }), LockedError);
      await assert.rejects(repo.saveJson('index', { x: 1 }), LockedError);
    } finally {
      await lock.release().catch(() => undefined);
      await rm(join(dir, 'locks'), { force: true });
    }
    assert.equal(repo.lockGuard, undefined, 'released: the guard is gone');
  });
});

describe('isStale', () => {
  const base = Date.parse('2026-11-24T09:00:00.000Z');
  it('uses a 30-minute limit on the lock time', () => {
    assert.equal(STALE_AFTER_MS, 30 * MIN);
    const l = lockFile({ time: new Date(base).toISOString() });
    assert.equal(isStale(l, base), false);
    assert.equal(isStale(l, base + 30 * MIN), false);
    assert.equal(isStale(l, base + 30 * MIN + 1), true);
  });

  it('checks the pid only for locks of this host', () => {
    const now = Date.now();
    const time = new Date(now).toISOString();
    const dead = deadPid();
    assert.equal(isStale(lockFile({ time, host: hostname(), pid: dead }), now), true);
    assert.equal(isStale(lockFile({ time, host: hostname(), pid: process.pid }), now), false);
    assert.equal(isStale(lockFile({ time, host: 'elsewhere', pid: dead }), now), false);
  });
});
