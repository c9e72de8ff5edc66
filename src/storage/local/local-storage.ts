import { mkdir, open, readdir, rename, stat as fsStat, unlink, link } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname, join, relative, sep } from 'node:path';
import { isErrno } from '../../util/errors.js';
import type { GetOptions, ObjectInfo, Storage, StorageProperties } from '../storage.js';

/**
 * A repository in a folder of a local or mounted file system (NFS and SMB mounts need nothing else).
 * put = write to a temporary name, fsync, rename (or link when not overwriting), fsync the folder.
 */
export class LocalStorage implements Storage {
  readonly #root: string;
  readonly #madeDirs = new Set<string>();

  constructor(root: string) {
    this.#root = root;
  }

  properties(): StorageProperties {
    return { location: this.#root, kind: 'local' };
  }

  #path(name: string): string {
    if (name.includes('..') || name.startsWith('/')) throw new Error(`invalid object name ${name}`);
    return join(this.#root, ...name.split('/'));
  }

  async #ensureDir(dir: string): Promise<void> {
    if (this.#madeDirs.has(dir)) return;
    await mkdir(dir, { recursive: true });
    this.#madeDirs.add(dir);
  }

  async put(name: string, data: Uint8Array, options: { overwrite?: boolean } = {}): Promise<void> {
    const path = this.#path(name);
    const dir = dirname(path);
    await this.#ensureDir(dir);
    const tmp = join(dir, `.tmp-${randomBytes(8).toString('hex')}`);
    const fh = await open(tmp, 'wx', 0o600);
    try {
      let written = 0;
      while (written < data.length) {
        const { bytesWritten } = await fh.write(data, written, data.length - written);
        written += bytesWritten;
      }
      await fh.sync();
    } catch (err) {
      await fh.close().catch(() => undefined);
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
    await fh.close();
    try {
      if (options.overwrite) {
        await rename(tmp, path);
      } else {
        // link() fails with EEXIST instead of replacing: create-only semantics without a race.
        await link(tmp, path);
        await unlink(tmp);
      }
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
    await syncDir(dir);
  }

  async get(name: string, options: GetOptions = {}): Promise<Buffer> {
    const fh = await open(this.#path(name), 'r');
    try {
      const offset = options.offset ?? 0;
      let length = options.length;
      if (length === undefined) length = Math.max(0, (await fh.stat()).size - offset);
      const buf = Buffer.allocUnsafe(length);
      let got = 0;
      while (got < length) {
        const { bytesRead } = await fh.read(buf, got, length - got, offset + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      return got === length ? buf : buf.subarray(0, got);
    } finally {
      await fh.close();
    }
  }

  async stat(name: string): Promise<ObjectInfo> {
    const st = await fsStat(this.#path(name));
    return { name, size: st.size };
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    // Prefixes are folder-aligned in our layout ("data/", "snapshots/"); walk the folder part.
    const slash = prefix.lastIndexOf('/');
    const base = slash >= 0 ? prefix.slice(0, slash) : '';
    const start = join(this.#root, ...base.split('/').filter(Boolean));
    for await (const file of walk(start)) {
      const name = relative(this.#root, file.path).split(sep).join('/');
      if (name.startsWith(prefix)) yield { name, size: file.size };
    }
  }

  async remove(name: string): Promise<void> {
    try {
      await unlink(this.#path(name));
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
    }
  }

  isNotFound(err: unknown): boolean {
    return isErrno(err, 'ENOENT');
  }

  isPermanent(err: unknown): boolean {
    return isErrno(err, 'EACCES', 'EPERM', 'ENOSPC', 'EROFS', 'EDQUOT', 'ENOENT', 'EEXIST', 'ENOTDIR');
  }

  async close(): Promise<void> {}
}

async function* walk(dir: string): AsyncIterable<{ path: string; size: number }> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if (isErrno(err, 'ENOENT', 'ENOTDIR')) return;
    throw err;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* walk(p);
    else if (e.isFile() && !e.name.startsWith('.tmp-')) yield { path: p, size: (await fsStat(p)).size };
  }
}

/** fsync a folder so a rename in it is durable. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
