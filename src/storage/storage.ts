/**
 * The storage contract every backend implements. Names are slash-separated relative paths such as
 * `data/ab/ab12...` or `snapshots/<id>`; the repository layer decides them, backends never interpret them.
 */
export interface StorageProperties {
  /** Human-readable location without credentials, e.g. `/var/backups/repo` or `s3:https://host/bucket/prefix`. */
  readonly location: string;
  /** Backend kind: `local`, `s3`, `sftp`, `mirror`... */
  readonly kind: string;
}

export interface ObjectInfo {
  readonly name: string;
  readonly size: number;
}

export interface GetOptions {
  /** First byte to return (default 0). */
  readonly offset?: number;
  /** Number of bytes to return from offset (default: to the end). */
  readonly length?: number;
  readonly signal?: AbortSignal;
}

export interface Storage {
  properties(): StorageProperties;

  /**
   * Writes a whole object atomically: readers see either nothing or the complete object, even if the process
   * dies mid-write. When the promise resolves the object is durable (fsynced / acknowledged by the server) and
   * visible to `get`, `stat` and `list` (read-after-write). Writing an existing name replaces it only when
   * `overwrite` is set; otherwise it fails (the repository never rewrites an object). `data` may be given in parts
   * (a pack: its blobs, header and length), which are stored concatenated; backends write them without joining
   * them in memory where they can.
   */
  put(name: string, data: Uint8Array | readonly Uint8Array[], options?: { overwrite?: boolean; signal?: AbortSignal }): Promise<void>;

  /** Reads an object or a byte range of it. Throws an error for which `isNotFound` is true when it is absent. A range past the end returns fewer bytes (never more than asked). */
  get(name: string, options?: GetOptions): Promise<Buffer>;

  /** Size of an object; NotFound when absent. */
  stat(name: string, options?: { signal?: AbortSignal }): Promise<ObjectInfo>;

  /** Every object whose name starts with `prefix` (e.g. `snapshots/`), in no particular order. */
  list(prefix: string, options?: { signal?: AbortSignal }): AsyncIterable<ObjectInfo>;

  /** Removes an object. Removing an absent object is not an error. */
  remove(name: string, options?: { signal?: AbortSignal }): Promise<void>;

  /** True when the error means "no such object". */
  isNotFound(err: unknown): boolean;

  /** True when retrying cannot help (permission denied, disk full, missing bucket). */
  isPermanent(err: unknown): boolean;

  /**
   * Removes what interrupted writers left behind (temporary files of a killed `put`) older than `olderThan`;
   * returns how many. Optional: backends whose puts are atomic server-side have nothing to clean.
   */
  removeTemporaries?(olderThan: Date): Promise<number>;

  /** Releases connections and handles. */
  close(): Promise<void>;
}
