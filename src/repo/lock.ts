import { hostname, userInfo } from 'node:os';
import { LockedError, errorMessage, isErrno } from '../util/errors.js';
import type { Repository } from './repository.js';

/** A lock file (format §9). */
export interface LockFile {
  time: string;
  exclusive: boolean;
  host: string;
  pid: number;
  username: string;
  operation: string;
}

export const STALE_AFTER_MS = 30 * 60 * 1000;
const REFRESH_EVERY_MS = 5 * 60 * 1000;

export function isStale(l: LockFile, now = Date.now()): boolean {
  if (now - Date.parse(l.time) > STALE_AFTER_MS) return true;
  if (l.host === hostname() && !pidAlive(l.pid)) return true;
  return false;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function listLocks(repo: Repository): Promise<{ id: string; lock: LockFile | null }[]> {
  const out: { id: string; lock: LockFile | null }[] = [];
  for await (const id of repo.listIds('locks')) {
    try {
      out.push({ id, lock: await repo.loadJson<LockFile>('locks', id) });
    } catch (err) {
      if (repo.storage.isNotFound(err)) continue; // removed while we listed
      out.push({ id, lock: null }); // unreadable: treated as stale
    }
  }
  return out;
}

/** A held lock; refreshed in the background until released. */
export class Lock {
  #id: string | null;
  #refreshedAt = Date.now();
  readonly #repo: Repository;
  readonly #data: Omit<LockFile, 'time'>;
  readonly #timer: NodeJS.Timeout;
  #released = false;
  #refreshing: Promise<void> = Promise.resolve();
  #refreshError: unknown;

  private constructor(repo: Repository, id: string | null, data: Omit<LockFile, 'time'>) {
    this.#repo = repo;
    this.#id = id;
    this.#data = data;
    this.#timer = setInterval(() => void this.#refresh(), REFRESH_EVERY_MS);
    this.#timer.unref();
  }

  /** Takes a shared or exclusive lock, or throws LockedError naming the holder. */
  static async acquire(repo: Repository, operation: string, exclusive: boolean, onWarning?: (m: string) => void): Promise<Lock> {
    const data = { exclusive, host: hostname(), pid: process.pid, username: userName(), operation };
    let id: string | null;
    try {
      id = await repo.saveJson('locks', { ...data, time: new Date().toISOString() } satisfies LockFile);
    } catch (err) {
      // A full disk must not stop the commands that free space or only read: go on without a lock file when
      // nobody else holds one (nothing can write to a full disk anyway), and say so.
      if (!isErrno(err, 'ENOSPC', 'EDQUOT')) throw err;
      id = null;
      onWarning?.('no space left for a lock file: going on without one (no other process holds a lock)');
    }
    for (const other of await listLocks(repo)) {
      if (other.id === id || !other.lock || isStale(other.lock)) continue;
      if (exclusive || other.lock.exclusive) {
        if (id === null) throw new LockedError(`repository is locked by ${other.lock.operation} (pid ${other.lock.pid} on ${other.lock.host}) and the disk is full`);
        await repo.removeJson('locks', id);
        const l = other.lock;
        throw new LockedError(
          `repository is locked ${l.exclusive ? 'exclusively' : ''} by ${l.operation} (pid ${l.pid} on ${l.host}, since ${l.time}): wait for it, or run \`safepoint unlock\` if it is dead`.replace('  ', ' '),
        );
      }
    }
    const lock = new Lock(repo, id, data);
    repo.lockGuard = () => lock.#check();
    return lock;
  }

  /** Throws when the lock can no longer be trusted: a refresh failed, or it has not been refreshed for too long. */
  #check(): void {
    if (this.#refreshError !== undefined) throw new LockedError(`the repository lock could not be refreshed (${errorMessage(this.#refreshError)}): stopping before recording anything`);
    if (this.#id !== null && Date.now() - this.#refreshedAt > STALE_AFTER_MS - 60_000) throw new LockedError('the repository lock went stale (this process was suspended too long): stopping before recording anything; run the command again');
  }

  /** Writes a fresh lock file, then removes the previous one. A failure is kept and raised by release(). */
  #refresh(): Promise<void> {
    this.#refreshing = (async () => {
      if (this.#released || this.#id === null) return;
      const old = this.#id;
      const at = Date.now();
      this.#id = await this.#repo.saveJson('locks', { ...this.#data, time: new Date(at).toISOString() } satisfies LockFile);
      this.#refreshedAt = at;
      await this.#repo.removeJson('locks', old);
    })().catch((err: unknown) => {
      this.#refreshError ??= err;
    });
    return this.#refreshing;
  }

  /** Removes the lock file (after a refresh in progress, so its new file is the one removed). */
  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    clearInterval(this.#timer);
    await this.#refreshing;
    this.#repo.lockGuard = undefined;
    if (this.#id !== null) await this.#repo.removeJson('locks', this.#id);
    if (this.#refreshError !== undefined) throw this.#refreshError;
  }
}

/** Runs fn under a lock, releasing it afterwards whatever happens. */
export async function withLock<T>(repo: Repository, operation: string, exclusive: boolean, fn: () => Promise<T>, onWarning?: (m: string) => void): Promise<T> {
  const lock = await Lock.acquire(repo, operation, exclusive, onWarning);
  try {
    return await fn();
  } finally {
    await lock.release().catch(() => undefined);
  }
}

function userName(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}
