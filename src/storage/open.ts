import { MirrorStorage, type Lag } from './mirror.js';
import { openStorage } from './registry.js';
import { RetryingStorage, type RetryPolicy } from './retry.js';
import type { BackendOptions, Storage } from './storage.js';

/** One target of a repository: its URL and settings. */
export interface TargetSpec {
  readonly url: string;
  readonly options?: BackendOptions;
}

export interface OpenTargetsOptions {
  /** How many targets must take each write (default: all). */
  readonly minTargets?: number;
  readonly retry?: RetryPolicy;
  readonly onLag?: (lag: Lag) => void;
  /** Every target must answer listings and take removals (commands that delete). */
  readonly strict?: boolean;
}

/**
 * The storage of a repository: one target as it is, or several as a one-pass mirror. Network targets are wrapped in
 * the retry policy; a local folder is not (its errors are not transient).
 */
export async function openTargets(specs: readonly TargetSpec[], options: OpenTargetsOptions = {}): Promise<Storage> {
  const opened: Storage[] = [];
  try {
    for (const spec of specs) {
      const s = await openStorage(spec.url, spec.options);
      opened.push(s.properties().kind === 'local' ? s : new RetryingStorage(s, options.retry));
    }
  } catch (err) {
    await Promise.allSettled(opened.map((s) => s.close()));
    throw err;
  }
  if (opened.length === 1) return opened[0]!;
  return new MirrorStorage(opened, { ...(options.minTargets !== undefined ? { minTargets: options.minTargets } : {}), ...(options.onLag ? { onLag: options.onLag } : {}), strict: options.strict ?? false });
}

/** The backend under the wrappers (retries, fault injection, append-only guard): what implements optional extras. */
export function baseOf(storage: Storage): Storage {
  let s = storage;
  while ('inner' in s && typeof s.inner === 'object' && s.inner !== null) s = s.inner as Storage;
  return s;
}

/** The targets of a storage: a mirror's, or the storage itself. */
export function targetsOf(storage: Storage): readonly Storage[] {
  return storage instanceof MirrorStorage ? storage.targets : [storage];
}
