/**
 * The audit's walk of a project: breadth first, never into skipped folders, never through symbolic links, within a
 * depth and entry budget; unreadable folders become warnings.
 */
import { constants, type Dirent } from 'node:fs';
import { open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { errorMessage, isErrno } from '../util/errors.js';
import { classifyFile, classifySensitive, type FileClass, type HeadReader } from './file-rules.js';
import { dataFolderReason, skipReason, skipReasonByContent } from './folder-rules.js';
import type { SkippedFolder } from './model.js';

export interface ScanOptions {
  /** Folders deeper than this (the root is 0) are not entered. */
  readonly maxDepth?: number;
  /** The walk stops after this many files and folders. */
  readonly maxEntries?: number;
  /** Entries looked at inside one data folder (which is listed as a whole) before moving on. */
  readonly dataFolderBudget?: number;
  /** Absolute paths left out of the walk (the audit file itself, backup repositories). */
  readonly ignore?: ReadonlyMap<string, string>;
  readonly onProgress?: (entries: number, folder: string) => void;
  readonly onWarning?: (message: string) => void;
}

export interface ScannedFile {
  readonly rel: string;
  readonly cls: FileClass;
}

export interface ScanResult {
  readonly root: string;
  readonly files: readonly ScannedFile[];
  /** Data folders (relative, ending with `/`) and why they matter. */
  readonly dataFolders: readonly { readonly path: string; readonly why: string }[];
  readonly skipped: readonly SkippedFolder[];
  readonly notes: readonly string[];
  /** Files and folders looked at. */
  readonly entries: number;
  readonly truncated: boolean;
}

export const DEFAULT_MAX_DEPTH = 32;
export const DEFAULT_MAX_ENTRIES = 200_000;
const DEFAULT_DATA_BUDGET = 5_000;

interface Pending {
  readonly abs: string;
  readonly rel: string;
  readonly depth: number;
  /** The data folder this folder is in (relative), if any. */
  readonly data: string | null;
}

/** Walks the project under `root` (an absolute, real path) and classifies what it finds. */
export async function scanProject(root: string, o: ScanOptions = {}): Promise<ScanResult> {
  const maxDepth = o.maxDepth ?? DEFAULT_MAX_DEPTH;
  const maxEntries = o.maxEntries ?? DEFAULT_MAX_ENTRIES;
  const budget = o.dataFolderBudget ?? DEFAULT_DATA_BUDGET;
  const files: ScannedFile[] = [];
  const dataFolders: { path: string; why: string }[] = [];
  const skipped: SkippedFolder[] = [];
  const notes: string[] = [];
  const dataSeen = new Map<string, number>();
  const fullData = new Set<string>();
  let entries = 0;
  let truncated = false;
  let links = 0;
  let tooDeep = 0;
  let oddNames = 0;

  const queue: Pending[] = [{ abs: root, rel: '', depth: 0, data: null }];
  for (let qi = 0; qi < queue.length && !truncated; qi++) {
    const dir = queue[qi]!;
    o.onProgress?.(entries, dir.rel === '' ? '.' : dir.rel);
    let dirents: Dirent[];
    try {
      dirents = await readdir(dir.abs, { withFileTypes: true });
    } catch (err) {
      const why = isErrno(err, 'EACCES', 'EPERM') ? 'permission denied' : errorMessage(err);
      const message = `cannot read folder ${dir.rel === '' ? '.' : `${dir.rel}/`}: ${why} (skipped)`;
      o.onWarning?.(message);
      notes.push(message);
      continue;
    }
    if (dir.rel !== '') {
      const byContent = skipReasonByContent(new Set(dirents.map((d) => d.name)));
      if (byContent !== undefined) {
        skipped.push({ path: `${dir.rel}/`, why: byContent });
        // a folder first taken for data by its name (data/, storage/) that holds a backup repository: skipped only
        const asData = dataFolders.findIndex((f) => f.path === `${dir.rel}/`);
        if (asData >= 0) dataFolders.splice(asData, 1);
        continue;
      }
    }
    dirents.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const d of dirents) {
      if (++entries > maxEntries) {
        truncated = true;
        break;
      }
      const rel = dir.rel === '' ? d.name : `${dir.rel}/${d.name}`;
      const abs = join(dir.abs, d.name);
      if (/[\n\r]/.test(d.name)) {
        oddNames++;
        continue;
      }
      const ignored = o.ignore?.get(abs);
      if (ignored !== undefined) {
        if (d.isDirectory()) skipped.push({ path: `${rel}/`, why: ignored });
        continue;
      }
      if (d.isSymbolicLink()) {
        links++;
        continue;
      }
      if (dir.data !== null) {
        const seen = (dataSeen.get(dir.data) ?? 0) + 1;
        dataSeen.set(dir.data, seen);
        if (seen > budget) {
          fullData.add(dir.data);
          break;
        }
      }
      if (d.isDirectory()) {
        const skip = skipReason(d.name);
        if (skip !== undefined) {
          skipped.push({ path: `${rel}/`, why: skip });
        } else if (dir.depth + 1 > maxDepth) {
          tooDeep++;
        } else {
          let data = dir.data;
          const why = data === null ? dataFolderReason(d.name, dir.rel === '' ? [] : dir.rel.split('/')) : undefined;
          if (why !== undefined) {
            dataFolders.push({ path: `${rel}/`, why });
            data = rel;
          }
          queue.push({ abs, rel, depth: dir.depth + 1, data });
        }
      } else if (d.isFile()) {
        const head = headReader(abs);
        const cls = dir.data === null ? await classifyFile(rel, head) : await classifySensitive(rel, head);
        if (cls) files.push({ rel, cls });
      }
    }
  }
  if (truncated) notes.push(`the scan stopped after ${maxEntries} files and folders: the report may be incomplete (audit a smaller folder, or raise --max-files)`);
  if (tooDeep > 0) notes.push(`${tooDeep} folder${tooDeep === 1 ? '' : 's'} deeper than ${maxDepth} levels were not scanned (raise --max-depth to include them)`);
  for (const d of fullData) notes.push(`${d}/ holds more than ${budget} entries: only the first were checked for databases and secrets (the folder is listed as a whole)`);
  if (links > 0) notes.push(`${links} symbolic link${links === 1 ? ' was' : 's were'} not followed (a backup stores the link, not what it points to)`);
  if (oddNames > 0) notes.push(`${oddNames} file or folder name${oddNames === 1 ? '' : 's'} with a line break left out (they cannot be written in a table)`);
  return { root, files, dataFolders, skipped, notes, entries: Math.min(entries, maxEntries), truncated };
}

/** Reads the first bytes of a regular file; never blocks on a FIFO swapped in since the listing. */
function headReader(path: string): HeadReader {
  return async (n) => {
    let fh;
    try {
      fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
      const buf = Buffer.alloc(n);
      const { bytesRead } = await fh.read(buf, 0, n, 0);
      return buf.subarray(0, bytesRead);
    } catch {
      return null;
    } finally {
      await fh?.close();
    }
  };
}
