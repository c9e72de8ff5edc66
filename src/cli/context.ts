import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { findRepository, findSource } from '../config/lookup.js';
import type { LoadedConfig } from '../config/load.js';
import { Repository } from '../repo/repository.js';
import { withLock } from '../repo/lock.js';
import { openStorage } from '../storage/registry.js';
import { UsageError } from '../util/errors.js';
import type { CompressionMode } from '../repo/compression.js';
import { readPassword } from './password.js';
import { Output } from './output.js';

/** Options every command accepts (see main.ts). */
export interface GlobalOptions {
  repo?: string;
  passwordFile?: string;
  config?: string;
  json?: boolean;
  quiet?: boolean;
}

/** What a command works with: output, the config (when there is one) and a way to open the repository. */
export class Context {
  readonly out: Output;
  readonly opts: GlobalOptions;
  readonly env: NodeJS.ProcessEnv;
  #config: LoadedConfig | null | undefined;

  constructor(opts: GlobalOptions, env: NodeJS.ProcessEnv = process.env) {
    this.opts = opts;
    this.env = env;
    this.out = new Output({ json: opts.json ?? false, quiet: opts.quiet ?? false });
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
  async repoTarget(sourceName?: string): Promise<{ url: string; passwordFile?: string; compression?: CompressionMode; name?: string }> {
    const ref = this.opts.repo ?? this.env.SAFEPOINT_REPO;
    const cfg = await this.config();
    let name: string | undefined;
    if (ref !== undefined && cfg && Object.hasOwn(cfg.repositories, ref)) name = ref;
    else if (ref !== undefined) return { url: ref };
    else if (sourceName !== undefined && cfg) name = findSource(cfg, sourceName).repository;
    else if (cfg && Object.keys(cfg.repositories).length === 1) name = Object.keys(cfg.repositories)[0];
    if (!cfg || name === undefined) {
      throw new UsageError('no repository given: pass --repo PATH|URL|NAME, set SAFEPOINT_REPO, or name one in safepoint.yaml');
    }
    const r = findRepository(cfg, name);
    const url = r.targets[0];
    if (url === undefined) throw new UsageError(`repository ${name} has no targets`);
    return { url, passwordFile: r.password_file, compression: r.compression, name };
  }

  async openRepository(sourceName?: string): Promise<Repository> {
    const t = await this.repoTarget(sourceName);
    const storage = openStorage(t.url);
    const password = await readPassword({ passwordFile: this.opts.passwordFile, env: this.env, configPasswordFile: t.passwordFile });
    return Repository.open(storage, password);
  }

  /** Opens the repository, takes a lock, runs fn, releases everything. */
  async withRepository<T>(operation: string, lock: 'shared' | 'exclusive' | 'none', fn: (repo: Repository) => Promise<T>, sourceName?: string): Promise<T> {
    const repo = await this.openRepository(sourceName);
    try {
      if (lock === 'none') return await fn(repo);
      return await withLock(repo, operation, lock === 'exclusive', () => fn(repo), (m) => this.out.warn(m));
    } finally {
      await repo.close();
    }
  }
}
