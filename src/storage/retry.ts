import { createHash } from 'node:crypto';
import { PermanentError, SafepointError, errorMessage } from '../util/errors.js';
import type { GetOptions, ObjectInfo, PutOptions, Storage, StorageProperties } from './storage.js';

/** How a network backend is retried: exponential backoff with full jitter, a timeout per attempt. */
export interface RetryPolicy {
  /** Attempts after the first one (default 5). */
  readonly retries?: number;
  /** First backoff in ms (default 250); doubles each attempt, capped at maxDelayMs. */
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
  /** Time allowed for one attempt of a small call (default 60 s); puts and gets get one more second per MiB. */
  readonly timeoutMs?: number;
  /** Told about each retry (for a warning line). */
  readonly onRetry?: (info: { op: string; name: string; attempt: number; delayMs: number; error: unknown }) => void;
  /** Source of randomness for the jitter, for tests. */
  readonly random?: () => number;
}

/** The last attempt failed: names the operation, the object, the target and the attempts made. */
export class StorageError extends SafepointError {}

/**
 * Wraps a network backend so that transient errors (timeouts, resets, 5xx, throttling) are retried with
 * exponential backoff and full jitter, each attempt has its own timeout, permanent errors (authentication,
 * missing bucket, disk full) are thrown at once, and the final error says what was tried. A create-only put whose
 * earlier attempt may have landed (the answer was lost) checks what is stored before it reports a conflict.
 */
export class RetryingStorage implements Storage {
  readonly inner: Storage;
  readonly #policy: Required<Omit<RetryPolicy, 'onRetry'>> & Pick<RetryPolicy, 'onRetry'>;

  constructor(inner: Storage, policy: RetryPolicy = {}) {
    this.inner = inner;
    this.#policy = {
      retries: policy.retries ?? 5,
      baseDelayMs: policy.baseDelayMs ?? 250,
      maxDelayMs: policy.maxDelayMs ?? 20_000,
      timeoutMs: policy.timeoutMs ?? 60_000,
      random: policy.random ?? Math.random,
      onRetry: policy.onRetry,
    };
  }

  properties(): StorageProperties {
    return this.inner.properties();
  }

  isNotFound(err: unknown): boolean {
    return this.inner.isNotFound(err instanceof StorageError && err.cause !== undefined ? err.cause : err);
  }

  isPermanent(err: unknown): boolean {
    return err instanceof StorageError || err instanceof PermanentError || this.inner.isPermanent(err);
  }

  async #run<T>(op: string, name: string, bytes: number, signal: AbortSignal | undefined, fn: (signal: AbortSignal) => Promise<T>, alreadyDone?: () => Promise<boolean>): Promise<T> {
    const p = this.#policy;
    const timeout = p.timeoutMs + Math.ceil(bytes / 1048576) * 1000;
    for (let attempt = 0; ; attempt++) {
      signal?.throwIfAborted();
      const attemptSignal = signal ? AbortSignal.any([signal, AbortSignal.timeout(timeout)]) : AbortSignal.timeout(timeout);
      try {
        return await untilAborted(fn(attemptSignal), attemptSignal);
      } catch (err) {
        if (signal?.aborted) throw signal.reason;
        const timedOut = attemptSignal.aborted;
        if (this.inner.isNotFound(err)) throw err;
        // an earlier attempt may have landed although its answer was lost: then this one's conflict is success
        if (attempt > 0 && alreadyDone && (await alreadyDone().catch(() => false))) return undefined as T;
        if (!timedOut && this.inner.isPermanent(err)) throw err;
        const why = timedOut ? `no answer within ${(timeout / 1000).toFixed(0)} s` : errorMessage(err);
        if (attempt >= p.retries) {
          throw new StorageError(`${this.inner.properties().location}: ${op} ${name} failed after ${attempt + 1} attempts: ${why}`, { cause: err });
        }
        const delayMs = Math.round(p.random() * Math.min(p.maxDelayMs, p.baseDelayMs * 2 ** attempt));
        p.onRetry?.({ op, name, attempt: attempt + 1, delayMs, error: timedOut ? new Error(why) : err });
        await sleep(delayMs, signal);
      }
    }
  }

  async put(name: string, data: Uint8Array | readonly Uint8Array[], options: PutOptions = {}): Promise<void> {
    const parts = data instanceof Uint8Array ? [data] : data;
    const size = parts.reduce((n, b) => n + b.length, 0);
    // a create-only put whose earlier attempt landed finds its own bytes stored: success, not a conflict
    const landed = async (): Promise<boolean> => {
      const stored = await this.inner.get(name);
      return stored.length === size && digest([stored]) === digest(parts);
    };
    await this.#run('put', name, size, options.signal, (signal) => this.inner.put(name, data, { ...options, signal }), options.overwrite ? undefined : landed);
  }

  get(name: string, options: GetOptions = {}): Promise<Buffer> {
    return this.#run('get', name, options.length ?? 16 << 20, options.signal, (signal) => this.inner.get(name, { ...options, signal }));
  }

  stat(name: string, options: { signal?: AbortSignal } = {}): Promise<ObjectInfo> {
    return this.#run('stat', name, 0, options.signal, (signal) => this.inner.stat(name, { signal }));
  }

  async *list(prefix: string, options: { signal?: AbortSignal } = {}): AsyncIterable<ObjectInfo> {
    // a listing is retried as a whole, so it is gathered before it is handed out (no duplicates after a retry)
    // a listing of many pages may take long: it gets ten times the time of one call (pages of 1000 names each)
    const all = await this.#run('list', prefix || '/', 9 * (this.#policy.timeoutMs / 1000) * 1048576, options.signal, async (signal) => {
      const out: ObjectInfo[] = [];
      for await (const o of this.inner.list(prefix, { signal })) out.push(o);
      return out;
    });
    yield* all;
  }

  remove(name: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    return this.#run('remove', name, 0, options.signal, (signal) => this.inner.remove(name, { signal }));
  }

  async removeTemporaries(olderThan: Date): Promise<number> {
    return (await this.inner.removeTemporaries?.(olderThan)) ?? 0;
  }

  async create(options: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.inner.create) await this.#run('create', '/', 0, options.signal, (signal) => this.inner.create!({ signal }));
  }

  async extendRetention(name: string, until: Date, options: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.inner.extendRetention) await this.#run('extend retention of', name, 0, options.signal, (signal) => this.inner.extendRetention!(name, until, { signal }));
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

function digest(parts: readonly Uint8Array[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
}

/** Settles with the call, or rejects when the signal fires first (a hung socket must not hang the caller). */
function untilAborted<T>(call: Promise<T>, signal: AbortSignal): Promise<T> {
  call.catch(() => undefined); // an abandoned call's late failure is not an unhandled rejection
  return new Promise<T>((resolve, reject) => {
    const abort = (): void => reject(signal.reason);
    if (signal.aborted) return abort();
    signal.addEventListener('abort', abort, { once: true });
    call.then(resolve, reject).finally(() => signal.removeEventListener('abort', abort));
  });
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (ms <= 0) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      signal?.removeEventListener('abort', abort);
      resolve();
    }
    function abort(): void {
      clearTimeout(t);
      reject(signal!.reason);
    }
    signal?.addEventListener('abort', abort, { once: true });
  });
}
