import { UserError } from '../util/errors.js';
import type { GetOptions, ObjectInfo, ObjectWriter, PutOptions, Storage, StorageProperties } from './storage.js';

/** The client is append-only and was asked to delete or replace something. */
export class AppendOnlyError extends UserError {}

/** Objects an append-only client still replaces and removes: its own lock files and mirror lag records. */
const SCRATCH = /^(locks|lag)\//;

/**
 * A client-side guard for an append-only repository or credential: new objects can be added, but nothing that
 * holds data (packs, index, snapshots, keys, config) can be removed or replaced through it. It stops mistakes and
 * a casual attacker using safepoint itself; pair it with storage that enforces the same server-side (an S3 policy
 * without s3:DeleteObject, Object Lock, an SFTP account on `chattr +a` folders): docs/storage.md.
 */
export class AppendOnlyStorage implements Storage {
  readonly inner: Storage;
  constructor(inner: Storage) {
    this.inner = inner;
  }

  properties(): StorageProperties {
    return this.inner.properties();
  }

  async put(name: string, data: Uint8Array | readonly Uint8Array[], options: PutOptions = {}): Promise<void> {
    if (options.overwrite && !SCRATCH.test(name)) throw refused('replace', name);
    await this.inner.put(name, data, options);
  }

  /** Writers only create (commit is create-only): allowed, when the storage under the guard has them. */
  get openWriter(): (() => Promise<ObjectWriter>) | undefined {
    const inner = this.inner;
    return inner.openWriter ? () => inner.openWriter!() : undefined;
  }

  get(name: string, options?: GetOptions): Promise<Buffer> {
    return this.inner.get(name, options);
  }

  stat(name: string, options?: { signal?: AbortSignal }): Promise<ObjectInfo> {
    return this.inner.stat(name, options);
  }

  list(prefix: string, options?: { signal?: AbortSignal }): AsyncIterable<ObjectInfo> {
    return this.inner.list(prefix, options);
  }

  async remove(name: string, options?: { signal?: AbortSignal }): Promise<void> {
    if (!SCRATCH.test(name)) throw refused('delete', name);
    await this.inner.remove(name, options);
  }

  isNotFound(err: unknown): boolean {
    return this.inner.isNotFound(err);
  }

  isPermanent(err: unknown): boolean {
    return err instanceof AppendOnlyError || this.inner.isPermanent(err);
  }

  async create(options?: { signal?: AbortSignal }): Promise<void> {
    await this.inner.create?.(options);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

function refused(what: string, name: string): AppendOnlyError {
  return new AppendOnlyError(`refusing to ${what} ${name}: this client is append-only (append_only in the config, or an append-only key); use the admin key on a client without append_only`);
}
