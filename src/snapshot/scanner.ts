import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Excluder } from './exclude.js';

/** Counts files and bytes under paths (for progress ETA); errors are ignored, the archiver reports them. */
export async function scan(paths: readonly string[], excluder: Excluder | undefined, onUpdate: (files: number, bytes: number) => void, signal?: AbortSignal): Promise<{ files: number; bytes: number }> {
  let files = 0;
  let bytes = 0;
  const visit = async (p: string): Promise<void> => {
    if (signal?.aborted || excluder?.(p)) return;
    const st = await lstat(p).catch(() => null);
    if (!st) return;
    if (st.isDirectory()) {
      const names = await readdir(p).catch(() => [] as string[]);
      for (const n of names) await visit(join(p, n));
    } else {
      files++;
      if (st.isFile()) bytes += st.size;
      if (files % 500 === 0) onUpdate(files, bytes);
    }
  };
  for (const p of paths) await visit(p);
  onUpdate(files, bytes);
  return { files, bytes };
}
