import { mapLimit } from '../util/concurrency.js';
import { targetsOf } from '../storage/open.js';
import type { Storage } from '../storage/storage.js';

const DAY = 86_400_000;

/** The targets of a storage that hold objects under Object Lock retention. */
export function lockedTargets(storage: Storage): Storage[] {
  return targetsOf(storage).filter((t) => t.properties().objectLock !== undefined);
}

/**
 * Removes objects, except those a target still holds under retention (deleting them is refused by the server, or
 * in a versioned bucket only hides them): those stay, visible, and a later prune removes them once their date has
 * passed. Returns the names kept with the latest retention date among them.
 */
export async function removeUnlessLocked(storage: Storage, names: readonly string[], now = new Date(), onRemoved?: () => void): Promise<{ kept: string[]; until?: Date }> {
  const locked = lockedTargets(storage);
  const kept: string[] = [];
  let until: Date | undefined;
  await mapLimit(names, 8, async (name) => {
    for (const t of locked) {
      let retain: Date | undefined;
      try {
        retain = (await t.stat(name)).retainUntil;
      } catch (err) {
        if (!t.isNotFound(err)) throw err;
      }
      if (retain && retain > now) {
        kept.push(name);
        if (!until || retain > until) until = retain;
        return;
      }
    }
    await storage.remove(name);
    onRemoved?.();
  });
  return until ? { kept, until } : { kept };
}

/**
 * Keeps what the repository still needs under retention: on every Object Lock target, each object that `live` says
 * the repository still uses (indexed packs, current index files, snapshots, keys, config) whose retention ends within half the policy's period is extended to a full period
 * from now. Only objects older than half a period can be due, so recent ones cost no request. Run by prune.
 */
export async function extendRetention(storage: Storage, live: (name: string) => boolean, now = new Date()): Promise<{ checked: number; extended: number }> {
  let checked = 0;
  let extended = 0;
  for (const t of lockedTargets(storage)) {
    const policy = t.properties().objectLock!;
    const half = (policy.days * DAY) / 2;
    const due: string[] = [];
    for (const prefix of ['data/', 'index/', 'snapshots/', 'keys/', 'config']) {
      for await (const o of t.list(prefix)) {
        if ((prefix === 'config' && o.name !== 'config') || !live(o.name)) continue;
        if (!o.modified || now.getTime() - o.modified.getTime() >= half) due.push(o.name);
      }
    }
    await mapLimit(due, 16, async (name) => {
      checked++;
      const retain = (await t.stat(name)).retainUntil;
      if (!retain || retain.getTime() - now.getTime() < half) {
        await t.extendRetention?.(name, new Date(now.getTime() + policy.days * DAY));
        extended++;
      }
    });
  }
  return { checked, extended };
}
