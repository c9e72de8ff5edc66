import { randomBytes } from 'node:crypto';
import { IntegrityError, NoRepositoryError, NotFoundError, UserError } from '../util/errors.js';
import type { Secret } from '../util/secret.js';
import type { Storage } from '../storage/storage.js';
import { AppendOnlyError, AppendOnlyStorage } from '../storage/append-only.js';
import { decompress, type CompressionMode } from './compression.js';
import { BlobEncoder } from './blob-encoder.js';
import { blobId, newMasterKey, open as openBox, type MasterKey } from './crypto.js';
import { isId, objectId, objectPath, packPath, shortId, type BlobType, type JsonKind } from './ids.js';
import { HEADER_PROBE, parsePackHeader, type PackedBlob } from './pack.js';
import { decodeIndex, encodeIndex, MasterIndex, type BlobLocation, type IndexFileJson, type PackEntry } from './index-file.js';
import { makeKeyFile, parseKeyFile, unlockWithPassword, type KdfParams, type KeyFile } from './keys.js';
import { openJson, sealJson } from './json-object.js';
import { Packer } from './packer.js';
import type { SnapshotIndex } from './snapshot-index.js';
import { mapLimit } from '../util/concurrency.js';
import { DEFAULT_CHUNKER_PARAMS, gearTable, type ChunkerParams } from './chunker.js';

/** The repository config object (format §4.2). */
export interface RepoConfig {
  version: 1;
  id: string;
  created: string;
  chunker: { min: number; avg: number; max: number };
  compression: CompressionMode;
}

/** Result of saving one blob. */
export interface SaveResult {
  readonly id: string;
  /** True when the blob was already in the repository (or in flight): nothing was stored. */
  readonly known: boolean;
  /** Bytes added to the repository (after compression and encryption); 0 when known. */
  readonly stored: number;
}

/** The index files of a repository as read: the readable ones and the damaged ones. */
export interface IndexFiles {
  files: { id: string; json: IndexFileJson }[];
  damaged: { id: string; error: string }[];
}

/** What the archiver needs. */
export interface BlobSaver {
  saveBlob(type: BlobType, plain: Buffer): Promise<SaveResult>;
}
/** What readers need. */
export interface BlobLoader {
  loadBlob(type: BlobType, id: string): Promise<Buffer>;
  hasBlob(id: string): boolean;
}

const INDEX_EVERY_PACKS = 64;

/**
 * Trees of network targets are cached (a walk reads each tree pack once, see #prefetchTreePack). Trees read from a
 * local target are not: a ranged read and decode costs ~50 µs, and an unchanged re-backup of the 1.5 GB benchmark
 * read its 1,000 parent trees once each and kept them all: 7 MiB of its ~85 MiB peak.
 */
const TREE_CACHE_BYTES = 64 * 1024 * 1024;

/** An open repository: keys, index, blobs, JSON objects. Only this layer sees the storage. */
export class Repository implements BlobSaver, BlobLoader {
  readonly storage: Storage;
  readonly config: RepoConfig;
  readonly key: MasterKey;
  readonly keyId: string;
  readonly index = new MasterIndex();
  readonly chunkerParams: ChunkerParams;
  readonly gear: Uint32Array;
  readonly #encoder: BlobEncoder;
  readonly #pending = new Set<string>();
  /**
   * Packs written and not yet in an index file, by id: the index holds their entries (in typed arrays), which are
   * made again as objects when the index file is written. Holding the entries cost ~5 MiB of heap by the end of
   * the benchmark's initial backup (31,000 blobs, indexed every 64 packs).
   */
  readonly #unindexed: string[] = [];
  readonly #treeCache = new Map<string, Buffer>();
  #treeCacheBytes = 0;
  /** Tree packs read whole (network targets): one request instead of one per folder. */
  readonly #treePacks = new Map<string, Promise<void>>();
  #packer: Packer | undefined;
  #indexLoaded = false;

  /** Opened by an append-only client or key: adds, never deletes or replaces (the storage refuses it too). */
  readonly appendOnly: boolean;

  private constructor(storage: Storage, config: RepoConfig, key: MasterKey, keyId: string, appendOnly = false) {
    this.appendOnly = appendOnly;
    this.storage = appendOnly ? new AppendOnlyStorage(storage) : storage;
    this.config = config;
    this.key = key;
    this.keyId = keyId;
    this.chunkerParams = { minSize: config.chunker.min, avgSize: config.chunker.avg, maxSize: config.chunker.max };
    this.gear = gearTable(key.chunkerSeed);
    this.#encoder = new BlobEncoder(key.encKey, config.compression);
  }

  /** Creates a repository in an empty location. */
  static async init(storage: Storage, password: Secret, options: { compression?: CompressionMode; kdf?: KdfParams } = {}): Promise<Repository> {
    if (await exists(storage, 'config')) throw new UserError(`repository ${storage.properties().location} already exists (config found)`);
    // Key files without a config are left by an init that died before its last write: nothing can have been
    // encrypted with the master keys they wrap (every command needs the config), so they are safe to remove.
    const stray: string[] = [];
    for await (const k of storage.list('keys/')) stray.push(k.name);
    for (const name of stray) await storage.remove(name);
    const master = newMasterKey();
    const config: RepoConfig = {
      version: 1,
      id: randomBytes(32).toString('hex'),
      created: new Date().toISOString(),
      chunker: { min: DEFAULT_CHUNKER_PARAMS.minSize, avg: DEFAULT_CHUNKER_PARAMS.avgSize, max: DEFAULT_CHUNKER_PARAMS.maxSize },
      compression: options.compression ?? 'auto',
    };
    const key = await makeKeyFile(master, password, options.kdf);
    await storage.put(objectPath('keys', key.id), key.bytes);
    await storage.put('config', sealJson(master.encKey, config));
    return new Repository(storage, config, master, key.id);
  }

  /** Opens an existing repository with a password. */
  static async open(storage: Storage, password: Secret, options: { appendOnly?: boolean } = {}): Promise<Repository> {
    const location = storage.properties().location;
    let configBox: Buffer;
    try {
      configBox = await storage.get('config');
    } catch (err) {
      if (storage.isNotFound(err)) {
        throw new NoRepositoryError(`${location} is not a safepoint repository (no config object): run \`safepoint init --repo ${location}\` first`, { cause: err });
      }
      throw err;
    }
    const keys = await loadKeyFiles(storage);
    if (keys.length === 0) throw new NoRepositoryError(`${location}: the repository has no readable key file (keys/ is empty, missing or damaged)`);
    // A key that opens with the password but not the config wraps another master key (a stray file): try the next.
    let opened: { keyId: string; master: MasterKey; config: RepoConfig } | undefined;
    for (let rest = keys; rest.length > 0 && !opened; ) {
      const { keyId, master } = await unlockWithPassword(rest, password);
      rest = rest.slice(rest.findIndex((k) => k.id === keyId) + 1);
      try {
        opened = { keyId, master, config: openJson<RepoConfig>(master.encKey, configBox, 'config') };
      } catch (err) {
        if (!(err instanceof IntegrityError)) throw err;
        // a damaged copy on the first target: a mirror reads the next one's, checked with this key
        const again = await storage.get('config', { validate: (b) => void openJson(master.encKey, b, 'config') }).catch(() => undefined);
        if (again && !again.equals(configBox)) {
          opened = { keyId, master, config: openJson<RepoConfig>(master.encKey, again, 'config') };
        } else if (rest.length === 0) throw err;
      }
    }
    if (!opened) throw new IntegrityError(`${location}: no key opens the config`);
    const { keyId, master, config } = opened;
    if (config.version !== 1) throw new UserError(`${location}: repository format version ${String(config.version)} is not supported by this safepoint`);
    const appendOnly = options.appendOnly === true || keys.find((k) => k.id === keyId)?.file.appendOnly === true;
    return new Repository(storage, config, master, keyId, appendOnly);
  }

  /** Throws when this client is append-only: `what` (forget, prune...) needs the admin key. */
  requireAdmin(what: string): void {
    if (this.appendOnly) {
      throw new AppendOnlyError(`${what} deletes data, and this client is append-only (append_only in the config, or an append-only key): run it with the admin key on a client without append_only`);
    }
  }

  // ---- JSON objects (snapshots, index, locks) -------------------------------------------------

  /**
   * Set by a held lock: throws when the lock can no longer be trusted (a refresh failed, or it went stale). Checked
   * before index and snapshot files are written, so a backup that lost its lock never records a snapshot whose packs
   * a prune may have removed meanwhile.
   */
  lockGuard: (() => void) | undefined;

  async saveJson(kind: Exclude<JsonKind, 'keys'>, value: unknown): Promise<string> {
    if (kind !== 'locks') this.lockGuard?.();
    const box = sealJson(this.key.encKey, value);
    const id = objectId(box);
    await this.storage.put(objectPath(kind, id), box);
    return id;
  }

  /** This host's list of the snapshots (snapshot-index.ts); null: a listing reads every snapshot file. */
  snapshotIndex: SnapshotIndex | null = null;

  async loadJson<T>(kind: Exclude<JsonKind, 'keys'>, id: string): Promise<T> {
    const check = (box: Buffer): void => {
      if (objectId(box) !== id) throw new IntegrityError(`${kind} ${shortId(id)}: content does not match its name (changed or damaged in storage)`);
    };
    const box = await this.storage.get(objectPath(kind, id), { validate: check });
    check(box);
    return openJson<T>(this.key.encKey, box, `${kind} ${shortId(id)}`);
  }

  async *listIds(kind: JsonKind | 'data'): AsyncIterable<string> {
    for await (const o of this.storage.list(`${kind}/`)) {
      const name = o.name.slice(o.name.lastIndexOf('/') + 1);
      if (isId(name)) yield name;
    }
  }

  async removeJson(kind: JsonKind, id: string): Promise<void> {
    await this.storage.remove(objectPath(kind, id));
  }

  /** Resolves a unique id prefix of a snapshot, index or key. */
  async resolveId(kind: JsonKind, prefix: string): Promise<string> {
    const matches: string[] = [];
    for await (const id of this.listIds(kind)) if (id.startsWith(prefix)) matches.push(id);
    if (matches.length === 1) return matches[0]!;
    const what = kind === 'snapshots' ? 'snapshot' : kind.replace(/s$/, '');
    if (matches.length === 0) throw new NotFoundError(`no ${what} with id ${prefix} (list them with \`safepoint ${kind === 'keys' ? 'key list' : 'snapshots'}\`)`);
    throw new UserError(`${what} id prefix ${prefix} is ambiguous (${matches.length} matches): give more characters`);
  }

  // ---- keys ---------------------------------------------------------------------------------

  async listKeys(): Promise<{ id: string; file: KeyFile }[]> {
    return loadKeyFiles(this.storage);
  }

  /** Adds a password. An append-only client can only add append-only keys. */
  async addKey(password: Secret, options: { appendOnly?: boolean } = {}): Promise<string> {
    const key = await makeKeyFile(this.key, password, undefined, undefined, { appendOnly: options.appendOnly === true || this.appendOnly });
    await this.storage.put(objectPath('keys', key.id), key.bytes);
    return key.id;
  }

  async removeKey(id: string): Promise<void> {
    const keys = await this.listKeys();
    if (!keys.some((k) => k.id === id)) throw new NotFoundError(`no key with id ${id}`);
    if (keys.length <= 1) throw new UserError('refusing to remove the last key: the repository would become unreadable (add another key first)');
    await this.storage.remove(objectPath('keys', id));
  }

  // ---- index --------------------------------------------------------------------------------

  /**
   * Loads every index file (once). Index files superseded by another are skipped. `from`: index files the caller
   * has already read (check and prune look at them first), so they are not read twice.
   */
  async loadIndex(options: { force?: boolean; onWarning?: (message: string) => void; from?: IndexFiles } = {}): Promise<void> {
    if (this.#indexLoaded && !options.force) return;
    const { files, damaged } = options.from ?? (await this.loadIndexFiles());
    const superseded = new Set(files.flatMap((f) => f.json.supersedes));
    for (const f of files) {
      if (superseded.has(f.id)) continue;
      for (const p of decodeIndex(f.json)) this.index.addPack(p);
    }
    if (damaged.length > 0) {
      // A damaged index is not fatal: the packs carry their own headers. Read the headers of packs no index names.
      for (const d of damaged) options.onWarning?.(`index ${shortId(d.id)} is damaged (${d.error}); reading pack headers instead (run \`safepoint repair index\`)`);
      for (const p of await this.readUnindexedPackHeaders()) this.index.addPack(p);
    }
    this.#indexLoaded = true;
  }

  async loadIndexFiles(): Promise<IndexFiles> {
    const ids: string[] = [];
    for await (const id of this.listIds('index')) ids.push(id);
    const damaged: { id: string; error: string }[] = [];
    const loaded = await mapLimit(ids, 8, async (id) => {
      try {
        return { id, json: await this.loadJson<IndexFileJson>('index', id) };
      } catch (err) {
        if (!(err instanceof IntegrityError)) throw err;
        damaged.push({ id, error: err.message });
        return null;
      }
    });
    return { files: loaded.filter((f): f is { id: string; json: IndexFileJson } => f !== null), damaged };
  }

  /** Reads the header of every pack in storage that the loaded index does not name. */
  async readUnindexedPackHeaders(onError?: (packId: string, err: unknown) => void): Promise<PackEntry[]> {
    const missing: { id: string; size: number }[] = [];
    for await (const o of this.storage.list('data/')) {
      const id = o.name.slice(o.name.lastIndexOf('/') + 1);
      if (isId(id) && !this.index.pack(id)) missing.push({ id, size: o.size });
    }
    const out = await mapLimit(missing, 8, async ({ id, size }): Promise<PackEntry | null> => {
      try {
        return { id, ...(await this.readPackHeader(id, size)) };
      } catch (err) {
        onError?.(id, err);
        return null;
      }
    });
    return out.filter((p): p is PackEntry => p !== null);
  }

  /** A pack's blob list from its own header (format §5.3). */
  async readPackHeader(id: string, size: number): Promise<{ type: BlobType; blobs: PackedBlob[] }> {
    const probe = Math.min(size, HEADER_PROBE);
    // a mirror reads the next target when a header does not parse; a complete header needs no second read
    const whole = (t: Buffer): boolean => t.length >= 4 && t.readUInt32LE(t.length - 4) + 4 <= t.length;
    const validate = (t: Buffer): void => {
      if (whole(t)) parsePackHeader(this.key.encKey, t, size, id);
    };
    let tail = await this.storage.get(packPath(id), { offset: size - probe, length: probe, validate });
    const boxLen = tail.length >= 4 ? tail.readUInt32LE(tail.length - 4) : 0;
    if (!whole(tail) && boxLen + 4 <= size) tail = await this.storage.get(packPath(id), { offset: size - boxLen - 4, length: boxLen + 4, validate });
    const blobs = parsePackHeader(this.key.encKey, tail, size, id);
    return { type: blobs[0]?.type ?? 'data', blobs };
  }

  async writeIndex(packs: readonly PackEntry[], supersedes: readonly string[] = []): Promise<string> {
    return this.saveJson('index', encodeIndex(packs, supersedes));
  }

  // ---- blobs --------------------------------------------------------------------------------

  hasBlob(id: string): boolean {
    return this.index.has(id) || this.#pending.has(id);
  }

  /** Every stored copy of a blob. */
  locate(id: string): readonly BlobLocation[] {
    return this.index.lookup(id);
  }

  /**
   * Raw bytes of a pack range (still encrypted, not verified: the caller decodes each blob, and reads a blob that
   * fails again through loadBlob, which tries the other copies and targets).
   */
  async readPack(pack: string, offset: number, length: number): Promise<Buffer> {
    return this.storage.get(packPath(pack), { offset, length });
  }

  blobId(plain: Uint8Array): string {
    return blobId(this.key.macKey, plain);
  }

  /** Stores a blob unless the repository (or this session) already has it. */
  async saveBlob(type: BlobType, plain: Buffer, knownId?: string): Promise<SaveResult> {
    const id = knownId ?? blobId(this.key.macKey, plain);
    if (this.hasBlob(id)) return { id, known: true, stored: 0 };
    this.#pending.add(id);
    const rawLength = plain.length;
    const { box, compressed } = this.#encoder.encode(plain);
    await this.#ensurePacker().add(type, id, box, rawLength, compressed);
    return { id, known: false, stored: box.length };
  }

  /** Reserves a blob for the caller to store: false when the repository has it or someone already claimed it. */
  claimBlob(id: string): boolean {
    if (this.hasBlob(id)) return false;
    this.#pending.add(id);
    return true;
  }

  /**
   * Adds an already encrypted blob (prune and copy move boxes without re-encrypting; backups send the boxes their
   * ingest lanes sealed). The box is copied before this resolves: its buffer is the caller's again.
   */
  async saveRawBlob(type: BlobType, id: string, box: Buffer, rawLength: number, compressed: boolean): Promise<void> {
    this.#pending.add(id);
    await this.#ensurePacker().add(type, id, box, rawLength, compressed);
  }

  /** Writes every open pack and an index file for the packs not yet indexed. Call before saving a snapshot. */
  async flush(): Promise<void> {
    if (this.#packer) await this.#packer.flush();
    await this.#writePendingIndex();
  }

  /**
   * After a failed backup: waits for pack writes in flight, then removes the packs this session wrote and no index
   * lists yet (no other process can reference them), so a failure (a full disk) does not leave the space taken.
   */
  async abort(): Promise<void> {
    if (this.#packer) await this.#packer.settle();
    const orphans = this.#unindexed.splice(0);
    for (const id of orphans) await this.storage.remove(packPath(id)).catch(() => undefined);
    this.#pending.clear();
  }

  /** Writes every open pack and hands back the packs not yet indexed, for the caller to index (prune). */
  async flushPacks(): Promise<PackEntry[]> {
    if (this.#packer) await this.#packer.flush();
    return this.#takeUnindexed();
  }

  /** The entries of the packs not yet indexed, taken from the list. */
  #takeUnindexed(): PackEntry[] {
    return this.#unindexed.splice(0).map((id) => {
      const entry = this.index.pack(id);
      if (!entry) throw new Error(`pack ${shortId(id)} was written but is not in the index`);
      return entry;
    });
  }

  #ensurePacker(): Packer {
    this.#packer ??= new Packer(this.key.encKey, {
      // a pack's id is the SHA-256 of its bytes: the storage may have the server check the upload with it
      writePack: (id, path, parts) => this.storage.put(path, parts, { sha256: id }),
      ...(this.storage.openWriter ? { openPackWriter: () => this.storage.openWriter!() } : {}),
      packWritten: async (entry) => {
        this.index.addPack(entry);
        for (const b of entry.blobs) this.#pending.delete(b.id);
        this.#unindexed.push(entry.id);
        if (this.#unindexed.length >= INDEX_EVERY_PACKS) await this.#writePendingIndex();
      },
    }, this.storage.properties().parallelism ?? 2);
    return this.#packer;
  }

  async #writePendingIndex(): Promise<void> {
    if (this.#unindexed.length === 0) return;
    await this.writeIndex(this.#takeUnindexed());
  }

  /** Loads and verifies a blob, trying each copy in turn. */
  async loadBlob(type: BlobType, id: string): Promise<Buffer> {
    if (type === 'tree') {
      const hit = this.#treeCache.get(id) ?? (await this.#prefetchTreePack(id));
      if (hit) return hit;
    }
    const locations = this.index.lookup(id);
    if (locations.length === 0) throw new NotFoundError(`${type} blob ${shortId(id)} is not in the index (the repository is missing data: run \`safepoint check\`)`);
    let lastErr: unknown;
    for (const loc of locations) {
      try {
        let plain: Buffer | undefined;
        const box = await this.storage.get(packPath(loc.pack), { offset: loc.offset, length: loc.length, validate: (b) => void (plain = this.decodeBlob(id, loc, b)) });
        plain ??= this.decodeBlob(id, loc, box);
        if (type === 'tree' && !this.localTarget) this.#cacheTree(id, plain);
        return plain;
      } catch (err) {
        lastErr = err;
      }
    }
    throw lastErr;
  }

  /** Decrypts, decompresses and verifies one blob's stored bytes. */
  decodeBlob(id: string, loc: BlobLocation, box: Buffer): Buffer {
    const what = `blob ${shortId(id)} in pack ${shortId(loc.pack)}`;
    if (box.length !== loc.length) throw new IntegrityError(`${what}: pack is truncated`);
    const inner = openBox(this.key.encKey, box, what);
    const plain = loc.compressed ? decompress(inner) : inner;
    if (plain.length !== loc.rawLength || blobId(this.key.macKey, plain) !== id) throw new IntegrityError(`${what}: content does not match its id`);
    return plain;
  }

  /**
   * On a network target, a folder walk would cost one request per tree: the first tree needed from a pack brings
   * every tree of that pack (one ranged read), decoded into the tree cache. Damaged trees are skipped here and
   * loaded (or reported) one by one by the caller. Returns the wanted tree when the pack held it intact.
   */
  async #prefetchTreePack(id: string): Promise<Buffer | undefined> {
    if (this.localTarget) return undefined;
    const loc = this.index.lookup(id)[0];
    const pack = loc && this.index.pack(loc.pack);
    if (!pack || pack.type !== 'tree') return undefined;
    let loading = this.#treePacks.get(pack.id);
    if (!loading) {
      loading = (async () => {
        const end = Math.max(...pack.blobs.map((b) => b.offset + b.length));
        const bytes = await this.storage.get(packPath(pack.id), { offset: 0, length: end });
        for (const b of pack.blobs) {
          try {
            this.#cacheTree(b.id, this.decodeBlob(b.id, { pack: pack.id, ...b }, bytes.subarray(b.offset, b.offset + b.length)));
          } catch {
            // left for loadBlob's own read, which tries the other copies and targets
          }
        }
      })().catch(() => undefined);
      this.#treePacks.set(pack.id, loading);
    }
    await loading;
    return this.#treeCache.get(id);
  }

  /** True when the repository is a local folder (reads are cheap: no tree cache, smaller restore reads). */
  get localTarget(): boolean {
    return this.storage.properties().kind === 'local';
  }

  /** Empties the tree cache (a restore, once its plan is made, reads no tree again). */
  dropTreeCache(): void {
    this.#treeCache.clear();
    this.#treeCacheBytes = 0;
    this.#treePacks.clear();
  }

  /** Trees are cached up to 64 MiB, oldest out first. */
  #cacheTree(id: string, plain: Buffer): void {
    if (this.#treeCache.has(id)) return;
    this.#treeCache.set(id, plain);
    this.#treeCacheBytes += plain.length;
    while (this.#treeCacheBytes > TREE_CACHE_BYTES && this.#treeCache.size > 1) {
      const [oldest, tree] = this.#treeCache.entries().next().value as [string, Buffer];
      this.#treeCache.delete(oldest);
      this.#treeCacheBytes -= tree.length;
    }
  }

  async close(): Promise<void> {
    await this.storage.close();
  }
}

async function exists(storage: Storage, name: string): Promise<boolean> {
  try {
    await storage.stat(name);
    return true;
  } catch (err) {
    if (storage.isNotFound(err)) return false;
    throw err;
  }
}

/** Every readable key file; a damaged one is skipped (another key may still open the repository). */
async function loadKeyFiles(storage: Storage): Promise<{ id: string; file: KeyFile }[]> {
  const out: { id: string; file: KeyFile }[] = [];
  for await (const o of storage.list('keys/')) {
    const id = o.name.slice('keys/'.length);
    try {
      // a key file is named by its hash: a mirror reads the next target's copy when this one's was altered
      const intact = (b: Buffer): void => {
        if (objectId(b) !== id) throw new IntegrityError(`key ${id.slice(0, 8)}: content does not match its name`);
      };
      const bytes = await storage.get(o.name, { validate: intact });
      intact(bytes);
      out.push({ id, file: parseKeyFile(bytes, id) });
    } catch (err) {
      if (!(err instanceof IntegrityError)) throw err;
    }
  }
  return out;
}
