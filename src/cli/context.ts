import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { findRepository, findSource } from '../config/lookup.js';
import type { LoadedConfig } from '../config/load.js';
import { Repository } from '../repo/repository.js';
import { withLock } from '../repo/lock.js';
import { openTargets, type TargetSpec } from '../storage/open.js';
import { readLagRecords } from '../storage/mirror.js';
import { stripCredentials } from '../util/secret.js';
import type { Storage } from '../storage/storage.js';
import { UsageError, errorMessage } from '../util/errors.js';
import type { CompressionMode } from '../repo/compression.js';
import { readPassword } from './password.js';
import type { Secret } from '../util/secret.js';
import { Output } from './output.js';
import type { OperationLog } from './log.js';
import { randomUUID } from 'node:crypto';

/** Options every command accepts (see main.ts). */
export interface GlobalOptions {
  repo?: string;
  passwordFile?: string;
  config?: string;
  json?: boolean;
  quiet?: boolean;
  logFile?: string;
}

/** A repository as the command line and the config describe it. */
export interface RepoSpec {
  readonly name?: string;
  readonly targets: readonly TargetSpec[];
  readonly minTargets: number;
  readonly passwordFile?: string | undefined;
  readonly compression?: CompressionMode;
  /** This client may add snapshots but never delete or replace anything. */
  readonly appendOnly: boolean;
  /** Commands that delete: every target must take every write, answer every listing, and none may be lagging. */
  readonly allTargets?: boolean;
}

/** What a command works with: output, the config (when there is one) and a way to open the repository. */
export class Context {
  readonly out: Output;
  readonly opts: GlobalOptions;
  readonly env: NodeJS.ProcessEnv;
  #config: LoadedConfig | null | undefined;

  /** This run's operation id: in its log lines and its journal entry. */
  readonly opId = randomUUID();
  readonly started = new Date();
  log: OperationLog | null = null;
  /** Retries of storage calls, over SAFEPOINT_RETRIES (0 to journal a failure without waiting on a dead target again). */
  retriesOverride: number | undefined;

  constructor(opts: GlobalOptions, env: NodeJS.ProcessEnv = process.env) {
    this.opts = opts;
    this.env = env;
    this.out = new Output({ json: opts.json ?? false, quiet: opts.quiet ?? false });
  }

  /** Sends everything the command says to the structured log too. */
  attachLog(log: OperationLog): void {
    this.log = log;
    this.out.sink = log;
  }

  /**
   * The repository an operation without a source is journaled in: --repo / SAFEPOINT_REPO or the only one, else the
   * repository of the code and configuration (deploys, restore points); undefined when none can be told.
   */
  async journalRepository(): Promise<string | undefined> {
    const explicit = this.opts.repo ?? this.env.SAFEPOINT_REPO;
    if (explicit !== undefined) return explicit;
    const cfg = await this.config().catch(() => null);
    if (!cfg) return undefined;
    const names = Object.keys(cfg.repositories);
    if (names.length === 1) return names[0];
    const { codeSources } = await import('../config/lookup.js');
    return codeSources(cfg)[0]?.repository;
  }

  /** The config file: --config, SAFEPOINT_CONFIG, or ./safepoint.yaml when it exists; null when none. */
  async config(): Promise<LoadedConfig | null> {
    if (this.#config !== undefined) return this.#config;
    const explicit = this.opts.config ?? this.env.SAFEPOINT_CONFIG;
    const file = explicit ?? (existsSync('safepoint.yaml') ? 'safepoint.yaml' : undefined);
    // the schema (zod) is loaded only when there is a config file: most commands start faster without it
    this.#config = file ? await (await import('../config/load.js')).loadConfig(resolve(file), this.env) : null;
    return this.#config;
  }

  async requireConfig(): Promise<LoadedConfig> {
    const c = await this.config();
    if (!c) throw new UsageError('this needs a config file: pass --config FILE, set SAFEPOINT_CONFIG, or create ./safepoint.yaml');
    return c;
  }

  /**
   * Where the repository is: --repo / SAFEPOINT_REPO (a URL, or the name of a repository in the config), else the
   * repository of `sourceName`, else the only repository of the config.
   */
  async repoSpec(sourceName?: string, explicit?: string): Promise<RepoSpec> {
    const ref = explicit ?? this.opts.repo ?? this.env.SAFEPOINT_REPO;
    const cfg = await this.config();
    let name: string | undefined;
    if (ref !== undefined && cfg && Object.hasOwn(cfg.repositories, ref)) name = ref;
    else if (ref !== undefined) return { targets: [{ url: ref, options: { env: this.env } }], minTargets: 1, appendOnly: false };
    else if (sourceName !== undefined && cfg) name = findSource(cfg, sourceName).repository;
    else if (cfg && Object.keys(cfg.repositories).length === 1) name = Object.keys(cfg.repositories)[0];
    if (!cfg || name === undefined) {
      throw new UsageError('no repository given: pass --repo PATH|URL|NAME, set SAFEPOINT_REPO, or name one in safepoint.yaml');
    }
    const r = findRepository(cfg, name);
    const objectLock = r.object_lock;
    return {
      name,
      targets: r.targets.map((t) => ({
        url: t.url,
        options: {
          env: this.env,
          ...(t.connections !== undefined ? { connections: t.connections } : {}),
          ...(t.storage_class !== undefined ? { storageClass: t.storage_class } : {}),
          ...(t.path_style !== undefined ? { pathStyle: t.path_style } : {}),
          ...(t.region !== undefined ? { region: t.region } : {}),
          ...(t.profile !== undefined ? { profile: t.profile } : {}),
          ...(t.key_file !== undefined ? { keyFile: t.key_file } : {}),
          ...(t.known_hosts !== undefined ? { knownHosts: t.known_hosts } : {}),
          ...(objectLock ? { objectLock } : {}),
        },
      })),
      minTargets: r.min_targets,
      passwordFile: r.password_file,
      compression: r.compression,
      appendOnly: r.append_only,
    };
  }

  /** The storage of a repository: its targets opened (a mirror when there are several), with retries and warnings. */
  async openStorage(spec: RepoSpec): Promise<Storage> {
    const retries = this.retriesOverride ?? (this.env.SAFEPOINT_RETRIES === undefined ? undefined : Number(this.env.SAFEPOINT_RETRIES));
    if (retries !== undefined && !(Number.isInteger(retries) && retries >= 0)) throw new UsageError(`SAFEPOINT_RETRIES=${this.env.SAFEPOINT_RETRIES}: expected a whole number of retries`);
    return openTargets(spec.targets, {
      minTargets: spec.allTargets ? spec.targets.length : spec.minTargets,
      strict: spec.allTargets ?? false,
      retry: {
        ...(retries !== undefined ? { retries } : {}),
        onRetry: (i) => this.out.warn(`${i.op} ${i.name}: ${errorMessage(i.error)}; retry ${i.attempt} in ${(i.delayMs / 1000).toFixed(1)} s`),
      },
      onLag: (lag) => this.out.warn(`target ${lag.location} is down (${lag.reason}): continuing on the other targets (min_targets ${spec.minTargets}); run \`safepoint sync\` when it is back`),
    });
  }

  async openRepository(sourceName?: string): Promise<Repository> {
    const spec = await this.repoSpec(sourceName);
    return this.openRepositoryOn(spec, await this.password(spec));
  }

  /** The password of a repository, read (or asked on the terminal) once per run. */
  password(spec: RepoSpec): Promise<Secret> {
    const key = spec.passwordFile ?? '';
    let p = this.#passwords.get(key);
    if (!p) {
      p = readPassword({ passwordFile: this.opts.passwordFile, env: this.env, configPasswordFile: spec.passwordFile });
      p.catch(() => this.#passwords.delete(key));
      this.#passwords.set(key, p);
    }
    return p;
  }

  readonly #passwords = new Map<string, Promise<Secret>>();

  async openRepositoryOn(spec: RepoSpec, password: Secret, o: { cache?: boolean } = {}): Promise<Repository> {
    const storage = await this.openStorage(spec);
    let repo: Repository;
    try {
      repo = await Repository.open(storage, password, { appendOnly: spec.appendOnly });
    } catch (err) {
      await storage.close();
      throw err;
    }
    // this host's list of the snapshots (repo/snapshot-index.ts): a listing reads only the snapshot files it has not
    // seen, on a local disk or S3 alike; check reads the storage itself
    if (o.cache !== false) {
      const { SnapshotIndex, cacheRoot } = await import('../repo/snapshot-index.js');
      repo.snapshotIndex = new SnapshotIndex(cacheRoot(this.env), repo.config.id, repo.key.encKey);
    }
    return repo;
  }

  /**
   * Runs fn on each target of the repository as a repository of its own (with its own lock), for commands that
   * report per target (check). A single-target repository runs once.
   */
  async forEachTarget(operation: string, fn: (repo: Repository, location: string) => Promise<void>, onUnopenable?: (location: string, err: unknown) => void): Promise<void> {
    const spec = await this.repoSpec();
    const password = await this.password(spec);
    for (const target of spec.targets) {
      let repo: Repository;
      try {
        repo = await this.openRepositoryOn({ ...spec, targets: [target], minTargets: 1 }, password, { cache: false });
      } catch (err) {
        // one target that cannot be opened must not hide whether the others are whole
        if (!onUnopenable || spec.targets.length === 1) throw err;
        onUnopenable(stripCredentials(target.url), err);
        continue;
      }
      try {
        await withLock(repo, operation, false, () => fn(repo, repo.storage.properties().location), (m) => this.out.warn(m));
      } finally {
        await repo.close();
      }
    }
  }

  /** Opens the repository, takes a lock, runs fn, releases everything. */
  async withRepository<T>(operation: string, lock: 'shared' | 'exclusive' | 'none', fn: (repo: Repository) => Promise<T>, sourceName?: string, o: { allTargets?: boolean; repository?: string; cache?: boolean } = {}): Promise<T> {
    const spec = { ...(await this.repoSpec(sourceName, o.repository)), allTargets: o.allTargets ?? false };
    const repo = await this.openRepositoryOn(spec, await this.password(spec), { ...(o.cache !== undefined ? { cache: o.cache } : {}) });
    try {
      if (spec.allTargets && spec.targets.length > 1) {
        const lagging = await readLagRecords(repo.storage);
        if (lagging.length > 0) throw new UsageError(`${operation} needs every target up to date, and ${lagging.map((l) => `${l.location} has missed writes since ${l.since}`).join('; ')}: run \`safepoint sync\` first`);
      }
      if (lock === 'none') return await fn(repo);
      return await withLock(repo, operation, lock === 'exclusive', () => fn(repo), (m) => this.out.warn(m));
    } finally {
      await repo.close();
    }
  }
}
