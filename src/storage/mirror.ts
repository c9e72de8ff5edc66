import { createHash } from 'node:crypto';
import { IntegrityError, SafepointError, errorMessage } from '../util/errors.js';
import type { GetOptions, ObjectInfo, PutOptions, Storage, StorageProperties } from './storage.js';

/** Not enough targets took a write: the repository must not record anything that depends on it. */
export class MirrorWriteError extends SafepointError {}

/** A target that missed writes in this session, and why. */
export interface Lag {
  readonly location: string;
  readonly since: string;
  readonly reason: string;
}

/** Where a lagging target is recorded on the healthy ones (format: docs/repository-format.md, "lag/"). */
export function lagName(location: string): string {
  return `lag/${createHash('sha256').update(location).digest('hex').slice(0, 16)}`;
}

/** The lag records a storage holds (a mirror lists every target's). Unreadable records are skipped. */
export async function readLagRecords(storage: Storage): Promise<Lag[]> {
  const out: Lag[] = [];
  for await (const o of storage.list('lag/')) {
    try {
      out.push(JSON.parse((await storage.get(o.name)).toString('utf8')) as Lag);
    } catch {
      // a record being rewritten, or removed by sync meanwhile
    }
  }
  return out;
}

/**
 * Several targets holding one repository, written in one pass. Every put goes to every healthy target at the
 * same time and succeeds when at least `minTargets` of them stored it; a target that fails a write is marked
 * lagging for the rest of the session (later writes skip it instead of waiting for its retries), and a `lag/`
 * record on the others says so until `safepoint sync` has copied what it missed. Reads go to the targets in order
 * and fall back to the next one on any error or when the caller's `validate` rejects the bytes. Listings are the
 * union of the targets that answer.
 */
export class MirrorStorage implements Storage {
  readonly targets: readonly Storage[];
  readonly minTargets: number;
  readonly #lagging = new Map<Storage, Lag>();
  readonly #onLag: ((lag: Lag) => void) | undefined;
  /**
   * For commands that delete (forget, prune, key remove): a listing must come from every target and a removal
   * must reach every target — a partial listing would make prune delete what it did not see referenced, and a
   * removal a down target missed would come back with `sync`.
   */
  readonly strict: boolean;

  constructor(targets: readonly Storage[], options: { minTargets?: number; onLag?: (lag: Lag) => void; strict?: boolean } = {}) {
    if (targets.length === 0) throw new Error('a mirror needs at least one target');
    this.targets = targets;
    this.strict = options.strict ?? false;
    this.minTargets = Math.min(targets.length, Math.max(1, options.minTargets ?? targets.length));
    this.#onLag = options.onLag;
  }

  properties(): StorageProperties {
    const parallelism = Math.max(...this.targets.map((t) => t.properties().parallelism ?? 2));
    return { location: this.targets.map((t) => t.properties().location).join(' + '), kind: 'mirror', parallelism };
  }

  /** Targets that missed writes in this session. */
  lagging(): readonly Lag[] {
    return [...this.#lagging.values()];
  }

  #healthy(): Storage[] {
    return this.targets.filter((t) => !this.#lagging.has(t));
  }

  async put(name: string, data: Uint8Array | readonly Uint8Array[], options?: PutOptions): Promise<void> {
    const healthy = this.#healthy();
    if (healthy.length === 0) throw new MirrorWriteError(`${name}: every target has failed a write in this run (${this.lagging().map((l) => `${l.location}: ${l.reason}`).join('; ')})`);
    const results = await Promise.allSettled(healthy.map((t) => t.put(name, data, options)));
    const failed: { target: Storage; error: unknown }[] = [];
    results.forEach((r, i) => {
      if (r.status === 'rejected') failed.push({ target: healthy[i]!, error: r.reason });
    });
    const stored = results.length - failed.length;
    if (stored < this.minTargets) {
      const why = failed.map((f) => `${f.target.properties().location}: ${errorMessage(f.error)}`).join('; ');
      const first = failed[0]?.error;
      // refused everywhere for a reason retrying cannot fix (it exists, access denied): the first target's own error
      if (stored === 0 && failed.every((f) => f.target.isPermanent(f.error) || f.target.isNotFound(f.error))) throw first;
      throw new MirrorWriteError(`${name} is on ${stored} of ${this.targets.length} targets, min_targets is ${this.minTargets}: ${why}`, { cause: first });
    }
    for (const f of failed) await this.#markLagging(f.target, f.error);
  }

  async #markLagging(target: Storage, error: unknown): Promise<void> {
    if (this.#lagging.has(target)) return;
    const lag: Lag = { location: target.properties().location, since: new Date().toISOString(), reason: errorMessage(error) };
    this.#lagging.set(target, lag);
    this.#onLag?.(lag);
    const record = Buffer.from(JSON.stringify(lag));
    await Promise.allSettled(this.#healthy().map((t) => t.put(lagName(lag.location), record, { overwrite: true })));
  }

  async get(name: string, options: GetOptions = {}): Promise<Buffer> {
    return this.#firstAnswer((t) =>
      t.get(name, options).then((data) => {
        options.validate?.(data);
        return data;
      }),
    );
  }

  stat(name: string, options?: { signal?: AbortSignal }): Promise<ObjectInfo> {
    return this.#firstAnswer((t) => t.stat(name, options));
  }

  /** Tries the targets in order; when all fail, throws "not found" only if every target said so. */
  async #firstAnswer<T>(fn: (t: Storage) => Promise<T>): Promise<T> {
    const errors: unknown[] = [];
    for (const t of this.targets) {
      try {
        return await fn(t);
      } catch (err) {
        errors.push(err);
      }
    }
    const real = errors.find((e, i) => !this.targets[i]!.isNotFound(e));
    if (real === undefined) throw errors[0];
    if (errors.length === 1) throw real;
    // damaged everywhere it exists: keep the integrity error's class, callers treat it apart (skip, rebuild)
    if (errors.every((e, i) => this.targets[i]!.isNotFound(e) || e instanceof IntegrityError)) throw real;
    throw new SafepointError(errors.map((e, i) => `${this.targets[i]!.properties().location}: ${errorMessage(e)}`).join('; '), { cause: real });
  }

  async *list(prefix: string, options?: { signal?: AbortSignal }): AsyncIterable<ObjectInfo> {
    const listings = await Promise.allSettled(
      this.targets.map(async (t) => {
        const out: ObjectInfo[] = [];
        for await (const o of t.list(prefix, options)) out.push(o);
        return out;
      }),
    );
    const ok = listings.filter((l): l is PromiseFulfilledResult<ObjectInfo[]> => l.status === 'fulfilled');
    const failed = listings.findIndex((l) => l.status === 'rejected');
    if (ok.length === 0 || (this.strict && failed >= 0)) {
      const err = (listings[failed] as PromiseRejectedResult).reason as unknown;
      throw this.strict && ok.length > 0 ? new MirrorWriteError(`${this.targets[failed]!.properties().location} cannot be listed (${errorMessage(err)}): this command needs every target`, { cause: err }) : err;
    }
    const seen = new Set<string>();
    for (const l of ok) {
      for (const o of l.value) {
        if (seen.has(o.name)) continue;
        seen.add(o.name);
        yield o;
      }
    }
  }

  async remove(name: string, options?: { signal?: AbortSignal }): Promise<void> {
    const results = await Promise.allSettled(this.targets.map((t) => t.remove(name, options)));
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed.length === results.length) throw failed[0]!.reason;
    if (this.strict && failed.length > 0) throw new MirrorWriteError(`${name} could not be removed from every target: ${errorMessage(failed[0]!.reason)}`, { cause: failed[0]!.reason });
  }

  isNotFound(err: unknown): boolean {
    return this.targets.some((t) => t.isNotFound(err));
  }

  isPermanent(err: unknown): boolean {
    return err instanceof MirrorWriteError || this.targets.some((t) => t.isPermanent(err));
  }

  async removeTemporaries(olderThan: Date): Promise<number> {
    let n = 0;
    for (const t of this.targets) n += (await t.removeTemporaries?.(olderThan).catch(() => 0)) ?? 0;
    return n;
  }

  /** Every target must be ready for a new repository. */
  async create(options?: { signal?: AbortSignal }): Promise<void> {
    await Promise.all(this.targets.map((t) => t.create?.(options)));
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.targets.map((t) => t.close()));
  }
}
