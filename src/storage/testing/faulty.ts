import type { GetOptions, ObjectInfo, PutOptions, Storage, StorageProperties } from '../storage.js';

export type FaultOp = 'put' | 'get' | 'stat' | 'list' | 'remove';

/**
 * One injected fault. `error`: the call fails with a transient error; `permanent`: with a permanent one;
 * `truncate` / `flip`: a put stores (or a get returns) the object cut in half / with one bit flipped, and reports
 * success; `latency`: the call waits `ms` first; `vanish`: from this call on the whole target is unreachable.
 */
export interface Fault {
  readonly op: FaultOp | 'any';
  readonly effect: 'error' | 'permanent' | 'truncate' | 'flip' | 'latency' | 'vanish';
  /** Only objects whose name matches (default: all). */
  readonly match?: RegExp;
  /** Matching calls to let through before the fault applies (default 0). */
  readonly after?: number;
  /** How many times it applies (default: always). */
  readonly times?: number;
  readonly ms?: number;
}

/** The error an injected failure throws; `permanent` tells the backend's classification. */
export class InjectedFault extends Error {
  readonly code: string;
  readonly permanent: boolean;
  constructor(message: string, permanent: boolean) {
    super(message);
    this.permanent = permanent;
    this.code = permanent ? 'EACCES' : 'ECONNRESET';
  }
}

/**
 * A storage wrapper that injects faults, for tests: failed writes and reads, truncated objects, flipped bits,
 * latency, a target that vanishes mid-backup. Records which names it damaged so tests can assert that every
 * injected corruption was detected. With no faults it passes the conformance suite like the backend it wraps.
 */
export class FaultyStorage implements Storage {
  readonly inner: Storage;
  readonly damaged = new Set<string>();
  readonly #faults: { fault: Fault; seen: number; applied: number }[];
  #vanished = false;

  constructor(inner: Storage, faults: readonly Fault[] = []) {
    this.inner = inner;
    this.#faults = faults.map((fault) => ({ fault, seen: 0, applied: 0 }));
  }

  /** Adds a fault while the storage is in use (e.g. the target vanishes after the first packs). */
  inject(fault: Fault): void {
    this.#faults.push({ fault, seen: 0, applied: 0 });
  }

  /** Brings a vanished target back and drops every fault. */
  heal(): void {
    this.#vanished = false;
    this.#faults.length = 0;
  }

  properties(): StorageProperties {
    return { ...this.inner.properties(), kind: `faulty+${this.inner.properties().kind}` };
  }

  /** The faults that apply to this call, counted. Throws for error/permanent/vanish; waits for latency. */
  async #apply(op: FaultOp, name: string): Promise<Set<Fault['effect']>> {
    const effects = new Set<Fault['effect']>();
    for (const f of this.#faults) {
      if (f.fault.op !== 'any' && f.fault.op !== op) continue;
      if (f.fault.match && !f.fault.match.test(name)) continue;
      if (f.seen++ < (f.fault.after ?? 0)) continue;
      if (f.applied >= (f.fault.times ?? Infinity)) continue;
      f.applied++;
      effects.add(f.fault.effect);
    }
    if (effects.has('vanish')) this.#vanished = true;
    if (effects.has('latency')) await new Promise((r) => setTimeout(r, Math.max(...this.#faults.filter((f) => f.fault.effect === 'latency').map((f) => f.fault.ms ?? 50))));
    if (this.#vanished) throw new InjectedFault(`${this.properties().location}: connection refused (injected: target vanished)`, false);
    if (effects.has('permanent')) throw new InjectedFault(`${op} ${name}: access denied (injected)`, true);
    if (effects.has('error')) throw new InjectedFault(`${op} ${name}: connection reset (injected)`, false);
    return effects;
  }

  async put(name: string, data: Uint8Array | readonly Uint8Array[], options?: PutOptions): Promise<void> {
    const effects = await this.#apply('put', name);
    if (effects.has('truncate') || effects.has('flip')) {
      const whole = Buffer.concat(data instanceof Uint8Array ? [data] : data);
      this.damaged.add(name);
      await this.inner.put(name, damage(whole, effects), options);
      return;
    }
    await this.inner.put(name, data, options);
  }

  async get(name: string, options?: GetOptions): Promise<Buffer> {
    const effects = await this.#apply('get', name);
    const data = await this.inner.get(name, options);
    if (!effects.has('truncate') && !effects.has('flip')) return data;
    this.damaged.add(name);
    return damage(Buffer.from(data), effects);
  }

  async stat(name: string, options?: { signal?: AbortSignal }): Promise<ObjectInfo> {
    await this.#apply('stat', name);
    return this.inner.stat(name, options);
  }

  async *list(prefix: string, options?: { signal?: AbortSignal }): AsyncIterable<ObjectInfo> {
    await this.#apply('list', prefix);
    yield* this.inner.list(prefix, options);
  }

  async remove(name: string, options?: { signal?: AbortSignal }): Promise<void> {
    await this.#apply('remove', name);
    await this.inner.remove(name, options);
  }

  isNotFound(err: unknown): boolean {
    return !(err instanceof InjectedFault) && this.inner.isNotFound(err);
  }

  isPermanent(err: unknown): boolean {
    return err instanceof InjectedFault ? err.permanent : this.inner.isPermanent(err);
  }

  async removeTemporaries(olderThan: Date): Promise<number> {
    return (await this.inner.removeTemporaries?.(olderThan)) ?? 0;
  }

  async create(options?: { signal?: AbortSignal }): Promise<void> {
    await this.inner.create?.(options);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

function damage(data: Buffer, effects: Set<Fault['effect']>): Buffer {
  let out = data;
  if (effects.has('truncate')) out = out.subarray(0, Math.floor(out.length / 2));
  if (effects.has('flip') && out.length > 0) {
    out = Buffer.from(out);
    const at = Math.floor(out.length / 2);
    out[at] = out[at]! ^ 0x10;
  }
  return out;
}
