/**
 * The storage contract every backend implements. Names are slash-separated relative paths such as
 * `data/ab/ab12...` or `snapshots/<id>`; the repository layer decides them, backends never interpret them.
 */
export interface StorageProperties {
  /** Human-readable location without credentials, e.g. `/var/backups/repo` or `s3:https://host/bucket/prefix`. */
  readonly location: string;
  /** Backend kind: `local`, `s3`, `sftp`, `mirror`... */
  readonly kind: string;
  /**
   * Server-side immutability in force for new objects (S3 Object Lock): each put gets a retention date `days`
   * ahead, and the server refuses to delete or replace the object before that date. Absent: none.
   */
  readonly objectLock?: ObjectLockPolicy;
  /**
   * How many large transfers (packs) in flight pay off: 1–2 for a local disk, more for a network target whose
   * latency hides behind parallel requests. Writers and restores use it to size their pipelines. Default 2.
   */
  readonly parallelism?: number;
}

export interface ObjectLockPolicy {
  readonly mode: 'compliance' | 'governance';
  readonly days: number;
}

export interface ObjectInfo {
  readonly name: string;
  readonly size: number;
  /** When the backend holds the object under a retention lock (S3 Object Lock): the date until which it cannot be deleted. Only `stat` fills it in. */
  readonly retainUntil?: Date;
  /** When the object was written, where the backend's listing tells it cheaply (S3, SFTP, local). */
  readonly modified?: Date;
}

/** Per-target settings from the config (`repositories.<name>.targets` entries) and the command line. */
export interface BackendOptions {
  /** Parallel connections / requests in flight (S3: requests; SFTP: operations at once on its one connection). */
  readonly connections?: number;
  /** S3 storage class for new objects (STANDARD, STANDARD_IA, ...). */
  readonly storageClass?: string;
  /** S3: force path-style addressing (automatic for IP addresses and localhost). */
  readonly pathStyle?: boolean;
  /** S3 region (default: from the AWS configuration, else us-east-1). */
  readonly region?: string;
  /** S3 named profile from the shared AWS config/credentials files. */
  readonly profile?: string;
  /** SFTP: private key file (default: ssh-agent, then ~/.ssh/id_ed25519, id_ecdsa, id_rsa). */
  readonly keyFile?: string;
  /** SFTP: known_hosts file (default ~/.ssh/known_hosts). */
  readonly knownHosts?: string;
  /** Object Lock retention for new objects (S3 only; needs a bucket with Object Lock enabled). */
  readonly objectLock?: ObjectLockPolicy;
  /** Environment to resolve credentials from (default process.env). */
  readonly env?: NodeJS.ProcessEnv;
}

export interface GetOptions {
  /** First byte to return (default 0). */
  readonly offset?: number;
  /** Number of bytes to return from offset (default: to the end). */
  readonly length?: number;
  readonly signal?: AbortSignal;
  /**
   * Checks the bytes before they are returned (the repository passes its authenticated decryption). A backend
   * holding one copy may ignore it (the caller checks again); a mirror calls it and, when it throws, reads the
   * next target instead.
   */
  readonly validate?: (data: Buffer) => void;
}

export interface PutOptions {
  /** Replace an existing object (only lock files are ever replaced); default: fail when it exists. */
  readonly overwrite?: boolean;
  /**
   * The hex SHA-256 of the data, when the caller has it (a pack's name is the hash of its bytes): a backend that
   * can have the server check the upload with it does so instead of hashing the data again (S3: the signed
   * x-amz-content-sha256, in place of a Content-MD5).
   */
  readonly sha256?: string;
  readonly signal?: AbortSignal;
}

/**
 * An object written piece by piece and named once complete (a pack: its name is the hash of its bytes). Nothing is
 * visible under any name before `commit`; a writer that is aborted, or whose process dies, leaves only what
 * `removeTemporaries` cleans.
 */
export interface ObjectWriter {
  /** Appends the parts, in order. */
  write(parts: readonly Uint8Array[]): Promise<void>;
  /** Makes the bytes durable and gives them their name, with `put`'s guarantees (create-only). */
  commit(name: string): Promise<void>;
  /** Throws the bytes away. */
  abort(): Promise<void>;
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
  put(name: string, data: Uint8Array | readonly Uint8Array[], options?: PutOptions): Promise<void>;

  /**
   * Starts an object to be written in pieces (see ObjectWriter), so a pack need not be held in memory until it is
   * complete. Optional: where it is missing, packs are assembled in memory and written with `put`.
   */
  openWriter?(): Promise<ObjectWriter>;

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

  /**
   * Makes the target ready to hold a new repository (`safepoint init`): creates the folder or the bucket (with
   * Object Lock enabled when the policy asks for it). Succeeds when it already exists. Optional.
   */
  create?(options?: { signal?: AbortSignal }): Promise<void>;

  /**
   * Object Lock: moves the retention date of an existing object to `until` (never shortens it). Optional: only
   * backends whose properties have `objectLock` implement it.
   */
  extendRetention?(name: string, until: Date, options?: { signal?: AbortSignal }): Promise<void>;

  /**
   * Versioned storage (S3 with Object Lock): makes every object that existed at `since` read as it did then,
   * undoing later deletions and overwrites (objects created later stay). Optional.
   */
  revertTo?(since: Date, options?: { signal?: AbortSignal }): Promise<{ reverted: number; failed: string[] }>;

  /** Releases connections and handles. */
  close(): Promise<void>;
}
