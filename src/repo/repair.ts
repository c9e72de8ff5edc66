import type { PackEntry } from './index-file.js';
import type { Repository } from './repository.js';
import { mapLimit } from '../util/concurrency.js';
import { errorMessage } from '../util/errors.js';
import { isId, shortId } from './ids.js';

export interface RepairIndexResult {
  readonly packs: number;
  readonly blobs: number;
  readonly oldIndexFiles: number;
  readonly unreadablePacks: string[];
}

/**
 * Rebuilds the index from the packs' own headers (format §5.3, §6): every pack in storage is read (its tail only),
 * one new index listing them all is written, superseding every old index file, which are then removed. Packs whose
 * header cannot be read are reported and left out (their blobs are lost; `check` then names what they hurt).
 * Call under the exclusive lock.
 */
export async function repairIndex(repo: Repository, onProgress?: (done: number, total: number) => void, onWarning?: (m: string) => void): Promise<RepairIndexResult> {
  const oldIds: string[] = [];
  for await (const id of repo.listIds('index')) oldIds.push(id);
  const packs: { id: string; size: number }[] = [];
  for await (const o of repo.storage.list('data/')) {
    const id = o.name.slice(o.name.lastIndexOf('/') + 1);
    if (isId(id)) packs.push({ id, size: o.size });
  }
  const unreadable: string[] = [];
  let done = 0;
  const entries = await mapLimit(packs, 8, async ({ id, size }): Promise<PackEntry | null> => {
    try {
      return { id, ...(await repo.readPackHeader(id, size)) };
    } catch (err) {
      unreadable.push(id);
      onWarning?.(`pack ${shortId(id)}: header unreadable (${errorMessage(err)}); left out of the index`);
      return null;
    } finally {
      onProgress?.(++done, packs.length);
    }
  });
  const good = entries.filter((e): e is PackEntry => e !== null);
  await repo.writeIndex(good, oldIds);
  await mapLimit(oldIds, 8, (id) => repo.removeJson('index', id));
  return { packs: good.length, blobs: good.reduce((n, p) => n + p.blobs.length, 0), oldIndexFiles: oldIds.length, unreadablePacks: unreadable };
}
