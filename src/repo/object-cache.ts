/**
 * A local copy of a remote repository's snapshot files, as restic keeps one: listing the snapshots of an S3 or
 * SFTP repository otherwise costs one request per snapshot, every time (a backup looking for its parent, `status`,
 * and `pg archive-push` for every WAL segment, whose entries are snapshots too: thousands after a few days).
 *
 * What is kept is the encrypted object itself, named by its id: nothing readable without the key lands on the
 * local disk, and a copy is used only when it still hashes to its name (objects are content-addressed and never
 * rewritten, so a copy is either the object or damaged, never stale). A snapshot the repository no longer lists
 * (forgotten) is dropped from the copy when the listing shows it. Every failure here costs a request, never a
 * result: the repository is read as if there were no copy.
 *
 * Folder: $SAFEPOINT_CACHE_DIR, else $XDG_CACHE_HOME/safepoint, else ~/.cache/safepoint; then the repository id
 * and `snapshots/`. `check` reads the storage itself and never this copy.
 */
import { mkdir, readFile, readdir, rename, unlink, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { isId, objectId } from './ids.js';

export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SAFEPOINT_CACHE_DIR) return env.SAFEPOINT_CACHE_DIR;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'safepoint');
}

export class ObjectCache {
  readonly #dir: string;
  #made = false;

  /** Objects of one kind of one repository. */
  constructor(root: string, repositoryId: string, kind: string) {
    this.#dir = join(root, repositoryId, kind);
  }

  /** The object, when a copy is here and hashes to its id; else null (a damaged copy is removed). */
  async get(id: string): Promise<Buffer | null> {
    let box: Buffer;
    try {
      box = await readFile(join(this.#dir, id));
    } catch {
      return null;
    }
    if (objectId(box) === id) return box;
    await unlink(join(this.#dir, id)).catch(() => undefined);
    return null;
  }

  /** Keeps a copy (written whole: a crash leaves a temporary file, never half an object under the id). */
  async put(id: string, box: Buffer): Promise<void> {
    try {
      if (!this.#made) {
        await mkdir(this.#dir, { recursive: true, mode: 0o700 });
        this.#made = true;
      }
      // hosts may share a cache volume: a process id alone could collide
      const tmp = join(this.#dir, `.${id}.${randomBytes(6).toString('hex')}`);
      await writeFile(tmp, box, { mode: 0o600 });
      await rename(tmp, join(this.#dir, id));
    } catch {
      // a full or read-only disk: no copy, the storage is read next time
    }
  }

  async remove(id: string): Promise<void> {
    await unlink(join(this.#dir, id)).catch(() => undefined);
  }

  /** Drops the copies of objects the repository no longer holds (`listed`: every id a full listing returned). */
  async keepOnly(listed: ReadonlySet<string>): Promise<void> {
    let names: string[];
    try {
      names = await readdir(this.#dir);
    } catch {
      return;
    }
    for (const n of names) if (isId(n) && !listed.has(n)) await unlink(join(this.#dir, n)).catch(() => undefined);
  }
}
