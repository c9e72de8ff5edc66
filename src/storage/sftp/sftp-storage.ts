import { randomBytes } from 'node:crypto';
import { homedir } from 'node:os';
import { posix } from 'node:path';
import type { FileEntryWithStats, Stats } from 'ssh2';
import { errorMessage, isErrno, PermanentError, UserError } from '../../util/errors.js';
import type { BackendOptions, GetOptions, ObjectInfo, PutOptions, Storage, StorageProperties } from '../storage.js';
import { openSession, SftpConnectionError, Slots, type Session } from './sftp-session.js';
import { parseSftpUrl, type SftpTarget } from './sftp-url.js';

export { SftpConnectionError } from './sftp-session.js';

/** SFTP status codes (protocol version 3, plus the disk-full codes of later versions). */
const NO_SUCH_FILE = 2;
const PERMISSION_DENIED = 3;
const FAILURE = 4;
const BAD_MESSAGE = 5;
const OP_UNSUPPORTED = 8;
const NO_SPACE = 14;
const QUOTA_EXCEEDED = 15;

/** Bytes per READ/WRITE request; the session caps the requests in flight (see `Session.requests`). */
const CHUNK = 128 * 1024;

/** The registry's factory for `sftp:` URLs. Connects on first use. */
export function openSftp(rest: string, _url: string, options: BackendOptions): Storage {
  return new SftpStorage(parseSftpUrl(rest), options);
}

/** An SFTP status reply for one request; `status` is the SFTP status code (2 no such file, 3 permission denied...). */
export class SftpStatusError extends Error {
  readonly status: number;
  constructor(message: string, status: number, cause: unknown) {
    super(message, { cause });
    this.status = status;
  }
}

/**
 * A repository in a folder of an SFTP server (OpenSSH's or any SFTP v3 server), reached with the user's SSH setup:
 * host keys from known_hosts (unknown or changed keys are refused), keys from `keyFile`, else ssh-agent and
 * ~/.ssh/id_ed25519, id_ecdsa, id_rsa. One connection, opened on the first call and reopened on the call after a
 * drop, carries up to `connections` operations at once, pipelining their reads and writes (up to 1 MiB in flight).
 *
 * put = write `.tmp-<random>` in the target folder, fsync (`fsync@openssh.com`), then rename: a plain SFTP rename,
 * which refuses an existing target (create-only), or `posix-rename@openssh.com` when overwriting; then the folder
 * is fsynced (opened read-only, `fsync@openssh.com`) so the rename is durable. Servers without the fsync extension
 * get no fsync: their puts are atomic but durable only as far as the server makes them.
 */
export class SftpStorage implements Storage {
  readonly #target: SftpTarget;
  readonly #options: BackendOptions;
  readonly #home: string;
  readonly #slots: Slots;
  readonly #madeDirs = new Set<string>();
  #session: Promise<Session> | undefined;

  constructor(target: SftpTarget, options: BackendOptions = {}) {
    this.#target = target;
    this.#options = options;
    this.#home = options.env?.HOME ?? homedir();
    this.#slots = new Slots(Math.max(1, options.connections ?? 4));
  }

  properties(): StorageProperties {
    return { location: this.#target.location, kind: 'sftp', parallelism: this.#options.connections ?? 4 };
  }

  async put(name: string, data: Uint8Array | readonly Uint8Array[], options: PutOptions = {}): Promise<void> {
    const parts = data instanceof Uint8Array ? [data] : data;
    const path = this.#path(name);
    await this.#run(options.signal, 'put', name, (s) => this.#put(s, name, path, parts, options.overwrite === true, options.signal));
  }

  async get(name: string, options: GetOptions = {}): Promise<Buffer> {
    const path = this.#path(name);
    return this.#run(options.signal, 'get', name, async (s) => {
      const handle = await s.call<Buffer>((cb) => s.sftp.open(path, 'r', cb));
      try {
        const offset = options.offset ?? 0;
        const length = options.length ?? Math.max(0, ((await s.call<Stats>((cb) => s.sftp.fstat(handle, cb))).size ?? 0) - offset);
        return await readRange(s, handle, offset, length, options.signal);
      } finally {
        await s.call((cb) => s.sftp.close(handle, cb)).catch(() => undefined);
      }
    });
  }

  async stat(name: string, options: { signal?: AbortSignal } = {}): Promise<ObjectInfo> {
    const path = this.#path(name);
    const st = await this.#run(options.signal, 'stat', name, (s) => s.call<Stats>((cb) => s.sftp.stat(path, cb)));
    return { name, size: st.size, modified: new Date(st.mtime * 1000) };
  }

  async *list(prefix: string, options: { signal?: AbortSignal } = {}): AsyncIterable<ObjectInfo> {
    // prefixes are folder-aligned in our layout ("data/", "snapshots/"): walk the folder part
    const base = prefix.slice(0, prefix.lastIndexOf('/') + 1).replace(/\/$/, '');
    for await (const f of this.#walk(base, false, options.signal)) {
      if (f.name.startsWith(prefix)) yield { name: f.name, size: f.size, modified: new Date(f.mtime * 1000) };
    }
  }

  async remove(name: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    const path = this.#path(name);
    await this.#run(options.signal, 'remove', name, async (s) => {
      try {
        await s.call((cb) => s.sftp.unlink(path, cb));
      } catch (err) {
        if (!isStatus(err, NO_SUCH_FILE)) throw err;
      }
    });
  }

  /** Removes `.tmp-*` files (of puts that never finished) last modified before `olderThan`, anywhere below the root. */
  async removeTemporaries(olderThan: Date): Promise<number> {
    let removed = 0;
    for await (const f of this.#walk('', true)) {
      if (f.mtime * 1000 >= olderThan.getTime()) continue;
      await this.remove(f.name);
      removed++;
    }
    return removed;
  }

  /** Creates the repository folder and its parents (succeeds when it exists). */
  async create(options: { signal?: AbortSignal } = {}): Promise<void> {
    await this.#run(options.signal, 'create', '', (s) => this.#mkdirs(s, this.#target.path || '.'));
  }

  isNotFound(err: unknown): boolean {
    return isStatus(err, NO_SUCH_FILE);
  }

  /** Refused host keys and logins, permission denied, disk full, unsupported requests; not dropped connections. */
  isPermanent(err: unknown): boolean {
    if (err instanceof UserError || err instanceof PermanentError) return true;
    if (isStatus(err, NO_SUCH_FILE, PERMISSION_DENIED, BAD_MESSAGE, OP_UNSUPPORTED, NO_SPACE, QUOTA_EXCEEDED)) return true;
    if (isStatus(err, FAILURE)) return /no space|quota|read-only/i.test(errorMessage(err));
    return isErrno(err, 'ENOTFOUND');
  }

  async close(): Promise<void> {
    const session = this.#session;
    this.#session = undefined;
    const s = await session?.catch(() => undefined);
    await s?.end();
  }

  #path(name: string): string {
    if (name === '' || name.startsWith('/') || name.split('/').some((p) => p === '..' || p === '.' || p === '')) throw new Error(`invalid object name ${name}`);
    return posix.join(this.#target.path || '.', name);
  }

  /**
   * Runs one operation in a slot on a live session; rejects as soon as `signal` aborts. Adds context to SFTP errors.
   * A timeout (an abort whose reason is a TimeoutError, as the retry wrapper's) drops the connection: a request
   * without an answer for that long means it hangs, and the next attempt should not queue behind it.
   */
  #run<T>(signal: AbortSignal | undefined, op: string, name: string, fn: (s: Session) => Promise<T>): Promise<T> {
    let session: Session | undefined;
    const onAbort = (): void => {
      if ((signal?.reason as Error | undefined)?.name === 'TimeoutError') session?.drop(new SftpConnectionError(`${this.#target.location}: ${op} ${name}: no answer, connection dropped`));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const work = (async (): Promise<T> => {
      signal?.throwIfAborted();
      const release = await this.#slots.acquire();
      try {
        signal?.throwIfAborted();
        session = await this.#connect();
        return await fn(session);
      } catch (err) {
        throw this.#explain(err, op, name);
      } finally {
        release();
        signal?.removeEventListener('abort', onAbort);
      }
    })();
    return abortable(work, signal);
  }

  /** SFTP status replies and ssh2's "No response from server" (the connection dropped) get the location and the object. */
  #explain(err: unknown, op: string, name: string): unknown {
    if (!(err instanceof Error) || err instanceof SftpStatusError) return err;
    const status = (err as { code?: unknown }).code;
    const where = `${this.#target.location}: ${op} ${name}`;
    if (typeof status === 'number') return new SftpStatusError(`${where}: ${err.message}`, status, err);
    if (err.message === 'No response from server') {
      return new SftpConnectionError(`${where}: the connection was lost`, { cause: err });
    }
    return err;
  }

  async #put(s: Session, name: string, path: string, parts: readonly Uint8Array[], overwrite: boolean, signal?: AbortSignal): Promise<void> {
    const dir = posix.dirname(path);
    await this.#mkdirs(s, dir);
    const tmp = `${dir}/.tmp-${randomBytes(8).toString('hex')}`;
    const create = (): Promise<Buffer> => s.call<Buffer>((cb) => s.sftp.open(tmp, 'wx', { mode: 0o600 }, cb));
    let handle: Buffer | undefined = await create().catch(async (err: unknown) => {
      if (!isStatus(err, NO_SUCH_FILE)) throw err;
      this.#madeDirs.clear(); // removed behind our back: make it again
      await this.#mkdirs(s, dir);
      return create();
    });
    try {
      try {
        await writeParts(s, handle, parts, signal);
        if (s.fsync) await s.call((cb) => s.sftp.ext_openssh_fsync(handle as Buffer, cb));
        await s.call((cb) => s.sftp.close(handle as Buffer, cb));
        handle = undefined;
      } catch (err) {
        if (isStatus(err, FAILURE) && (await diskFull(s, dir))) throw new PermanentError(`${this.#target.location}: put ${name}: no space left on the server's disk`, { cause: err });
        throw err;
      }
      signal?.throwIfAborted();
      if (overwrite && s.posixRename) {
        await s.call((cb) => s.sftp.ext_openssh_rename(tmp, path, cb));
      } else {
        if (overwrite) await s.call((cb) => s.sftp.unlink(path, cb)).catch(() => undefined); // not atomic: the server lacks posix-rename
        await s.call((cb) => s.sftp.rename(tmp, path, cb)).catch(async (err: unknown) => {
          const exists = await s.call((cb) => s.sftp.lstat(path, cb)).then(() => true, () => false);
          throw exists ? new PermanentError(`${this.#target.location}: put ${name}: the object already exists`, { cause: err }) : err;
        });
      }
    } catch (err) {
      if (handle) await s.call((cb) => s.sftp.close(handle as Buffer, cb)).catch(() => undefined);
      await s.call((cb) => s.sftp.unlink(tmp, cb)).catch(() => undefined);
      throw err;
    }
    if (s.fsync) await syncDir(s, dir);
  }

  /** mkdir -p, remembering the folders that exist. */
  async #mkdirs(s: Session, dir: string): Promise<void> {
    if (dir === '.' || dir === '/' || this.#madeDirs.has(dir)) return;
    const isDir = (): Promise<boolean> => s.call<Stats>((cb) => s.sftp.stat(dir, cb)).then((st) => st.isDirectory(), (err: unknown) => (isStatus(err, NO_SUCH_FILE) ? false : Promise.reject(err)));
    if (!(await isDir())) {
      await this.#mkdirs(s, posix.dirname(dir));
      try {
        await s.call((cb) => s.sftp.mkdir(dir, cb));
      } catch (err) {
        if (!(await isDir())) throw err; // FAILURE when another writer made it first
      }
    }
    this.#madeDirs.add(dir);
  }

  /** Regular files below `base` (relative to the root), level by level, each level's folders read in parallel. */
  async *#walk(base: string, temporaries: boolean, signal?: AbortSignal): AsyncIterable<{ name: string; size: number; mtime: number }> {
    let level = [base];
    while (level.length > 0) {
      const listings = await Promise.all(
        level.map((dir) =>
          this.#run(signal, 'list', dir || '.', (s) => s.call<FileEntryWithStats[]>((cb) => s.sftp.readdir(dir ? this.#path(dir) : this.#target.path || '.', cb))).then(
            (entries) => ({ dir, entries }),
            (err: unknown) => (isStatus(err, NO_SUCH_FILE) ? { dir, entries: [] } : Promise.reject(err)),
          ),
        ),
      );
      level = [];
      for (const { dir, entries } of listings) {
        for (const e of entries) {
          const name = dir ? `${dir}/${e.filename}` : e.filename;
          if (e.attrs.isDirectory()) level.push(name);
          else if (e.attrs.isFile() && e.filename.startsWith('.tmp-') === temporaries) yield { name, size: e.attrs.size, mtime: e.attrs.mtime };
        }
      }
    }
  }

  /** The live session, connecting when there is none (one connection attempt shared by concurrent callers). */
  #connect(): Promise<Session> {
    if (this.#session) return this.#session;
    const session: Promise<Session> = openSession(this.#target, this.#options, this.#home, () => {
      if (this.#session === session) this.#session = undefined;
    }).catch((err: unknown) => {
      if (this.#session === session) this.#session = undefined;
      throw err;
    });
    this.#session = session;
    return session;
  }
}

/** Writes the parts one after the other at consecutive offsets, pipelined within the session's request budget. */
async function writeParts(s: Session, handle: Buffer, parts: readonly Uint8Array[], signal?: AbortSignal): Promise<void> {
  const pending: Promise<void>[] = [];
  let failure: unknown;
  let position = 0;
  for (const part of parts) {
    const buf = Buffer.from(part.buffer, part.byteOffset, part.byteLength);
    for (let off = 0; off < buf.length && failure === undefined && !signal?.aborted; off += CHUNK) {
      const release = await s.requests.acquire();
      const [at, len] = [position, Math.min(CHUNK, buf.length - off)];
      pending.push(
        s
          .call((cb) => s.sftp.write(handle, buf, off, len, at, cb))
          .then(
            () => undefined,
            (err: unknown) => void (failure ??= err),
          )
          .finally(release),
      );
      position += len;
    }
  }
  await Promise.all(pending);
  if (failure !== undefined) throw failure;
  signal?.throwIfAborted();
}

/** Reads `length` bytes at `offset`, pipelined within the session's request budget; fewer when the file ends first. */
async function readRange(s: Session, handle: Buffer, offset: number, length: number, signal?: AbortSignal): Promise<Buffer> {
  const buf = Buffer.allocUnsafeSlow(length);
  let end = length; // where the file ended, relative to offset
  const readChunk = async (start: number): Promise<void> => {
    const want = Math.min(CHUNK, length - start);
    for (let got = 0; got < want; ) {
      const n = await s.call<number>((cb) => s.sftp.read(handle, buf, start + got, want - got, offset + start + got, cb));
      if (n === 0) return void (end = Math.min(end, start + got)); // end of file
      got += n;
    }
  };
  const pending: Promise<void>[] = [];
  let failure: unknown;
  for (let start = 0; start < length && start < end && failure === undefined && !signal?.aborted; start += CHUNK) {
    const release = await s.requests.acquire();
    pending.push(
      readChunk(start)
        .catch((err: unknown) => void (failure ??= err))
        .finally(release),
    );
  }
  await Promise.all(pending);
  if (failure !== undefined) throw failure;
  signal?.throwIfAborted();
  return end === length ? buf : buf.subarray(0, end);
}

/** fsync a folder so the rename in it is durable: OpenSSH's sftp-server opens a folder read-only like a file. Best effort. */
async function syncDir(s: Session, dir: string): Promise<void> {
  const handle = await s.call<Buffer>((cb) => s.sftp.open(dir, 'r', cb)).catch(() => undefined);
  if (!handle) return;
  await s.call((cb) => s.sftp.ext_openssh_fsync(handle, cb)).catch(() => undefined);
  await s.call((cb) => s.sftp.close(handle, cb)).catch(() => undefined);
}

/** After an unspecific FAILURE of a write: is the server's file system full? (SFTP v3 has no disk-full status.) */
async function diskFull(s: Session, dir: string): Promise<boolean> {
  type Count = number | bigint | undefined;
  const info = await s.call<{ f_bavail?: Count; f_frsize?: Count }>((cb) => s.sftp.ext_openssh_statvfs(dir, cb)).catch(() => undefined);
  if (info?.f_bavail === undefined) return false;
  return Number(info.f_bavail) * Number(info.f_frsize ?? 1) < 1024 * 1024;
}

function isStatus(err: unknown, ...codes: number[]): boolean {
  if (err instanceof SftpStatusError) return codes.includes(err.status);
  const code = (err as { code?: unknown } | null)?.code;
  return err instanceof Error && typeof code === 'number' && codes.includes(code);
}

/** Rejects with the signal's reason as soon as it aborts; the operation may finish in the background. */
function abortable<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  work.catch(() => undefined);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
