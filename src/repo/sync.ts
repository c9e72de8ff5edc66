import { mapLimit } from '../util/concurrency.js';
import { SafepointError, errorMessage } from '../util/errors.js';
import { objectId, isId } from './ids.js';
import { lagName } from '../storage/mirror.js';
import type { ObjectInfo, Storage } from '../storage/storage.js';

/**
 * What a target is brought up to date with, in this order: data before the index files that name it, the index
 * before the snapshots that need it, so a target is consistent at every instant of a sync (format §8).
 */
const ORDER = ['data/', 'keys/', 'config', 'index/', 'snapshots/', 'journal/'] as const;

export interface SyncTargetReport {
  readonly location: string;
  /** Objects copied to this target (or that would be, with dryRun). */
  readonly copied: number;
  readonly bytes: number;
  /** Objects whose copy here differs in size from the others': damaged, reported, never overwritten. */
  readonly differing: string[];
  /** Objects this target lacks that no other target could supply intact. */
  readonly failed: { name: string; error: string }[];
}

export interface SyncOptions {
  readonly dryRun?: boolean;
  readonly concurrency?: number;
  readonly onProgress?: (p: { location: string; done: number; total: number; bytes: number }) => void;
  readonly signal?: AbortSignal;
}

/**
 * Brings every target of a repository up to date with the union of all of them: each object a target lacks is read
 * from a target that has it, verified against its name (object names are SHA-256 of their bytes, except `config`)
 * and written create-only. Nothing is ever deleted or replaced, so sync is safe to run at any time, also while
 * backups run, and needs no password. A target that was complete afterwards loses its `lag/` record.
 */
export async function syncTargets(targets: readonly Storage[], options: SyncOptions = {}): Promise<SyncTargetReport[]> {
  const listings = await Promise.all(targets.map((t) => listAll(t, options.signal)));
  const union = new Map<string, { size: number; holders: number[] }>();
  listings.forEach((objects, i) => {
    for (const o of objects.values()) {
      const u = union.get(o.name);
      if (u) u.holders.push(i);
      else union.set(o.name, { size: o.size, holders: [i] });
    }
  });
  const reports: SyncTargetReport[] = [];
  for (const [i, target] of targets.entries()) {
    const location = target.properties().location;
    const mine = listings[i]!;
    const missing = [...union.entries()].filter(([name]) => !mine.has(name)).sort(([a], [b]) => rank(a) - rank(b));
    const differing = [...mine.values()].filter((o) => isId(o.name.slice(o.name.lastIndexOf('/') + 1)) && sizeDisagrees(o, union, listings)).map((o) => o.name);
    const failed: { name: string; error: string }[] = [];
    let copied = 0;
    let bytes = 0;
    // one rank at a time, so that nothing is written before what it depends on; a rank with failures stops the
    // target's sync (its index and snapshots must not arrive without their data)
    for (const prefix of ORDER) {
      if (failed.length > 0) break;
      const batch = missing.filter(([name]) => name.startsWith(prefix));
      await mapLimit(batch, options.concurrency ?? 4, async ([name, u]) => {
        if (options.dryRun) {
          copied++;
          bytes += u.size;
          return;
        }
        try {
          const data = await fetchIntact(targets, u.holders, name, options.signal);
          await target.put(name, data, { ...(options.signal ? { signal: options.signal } : {}) });
          copied++;
          bytes += data.length;
        } catch (err) {
          failed.push({ name, error: errorMessage(err) });
        }
        options.onProgress?.({ location, done: copied + failed.length, total: missing.length, bytes });
      });
    }
    if (!options.dryRun && failed.length === 0) await Promise.allSettled(targets.map((t) => t.remove(lagName(location))));
    reports.push({ location, copied, bytes, differing, failed });
  }
  return reports;
}

function rank(name: string): number {
  const r = ORDER.findIndex((p) => name.startsWith(p));
  return r < 0 ? ORDER.length : r;
}

function sizeDisagrees(o: ObjectInfo, union: Map<string, { size: number; holders: number[] }>, listings: readonly Map<string, ObjectInfo>[]): boolean {
  const u = union.get(o.name)!;
  return u.holders.some((h) => listings[h]!.get(o.name)!.size !== o.size);
}

/** The object from the first holder whose copy matches its name. */
async function fetchIntact(targets: readonly Storage[], holders: readonly number[], name: string, signal?: AbortSignal): Promise<Buffer> {
  const base = name.slice(name.lastIndexOf('/') + 1);
  const errors: string[] = [];
  for (const h of holders) {
    const t = targets[h]!;
    try {
      const data = await t.get(name, signal ? { signal } : {});
      if (isId(base) && objectId(data) !== base) throw new Error('content does not match its name (damaged)');
      return data;
    } catch (err) {
      errors.push(`${t.properties().location}: ${errorMessage(err)}`);
    }
  }
  throw new SafepointError(`no intact copy of ${name}: ${errors.join('; ')}`);
}

/**
 * Every repository object of a target (locks and lag records are per-session scratch, not synced). Listed from the
 * last rank to the first — snapshots before data — so that a backup finishing meanwhile can add data the listing
 * sees without its snapshot, never a snapshot without its data.
 */
async function listAll(t: Storage, signal?: AbortSignal): Promise<Map<string, ObjectInfo>> {
  const out = new Map<string, ObjectInfo>();
  for (const prefix of [...ORDER].reverse()) {
    if (prefix === 'config') {
      try {
        out.set('config', { ...(await t.stat('config', signal ? { signal } : {})), name: 'config' });
      } catch (err) {
        if (!t.isNotFound(err)) throw err;
      }
      continue;
    }
    for await (const o of t.list(prefix, signal ? { signal } : {})) out.set(o.name, o);
  }
  return out;
}
