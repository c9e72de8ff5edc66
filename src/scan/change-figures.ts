import type { TreeNode } from '../repo/tree.js';
import { baseName, contentKey, dirName, type FileChange } from './file-changes.js';
import { COMPRESSION_EXTENSIONS, RANSOMWARE_EXTENSIONS, extensionOf, inSensitiveFolder, isRansomNote, isScriptName } from './indicators.js';

/** A file whose head is worth comparing: the same file before and after (changed in place, or renamed with a suffix). */
export interface HeadPair {
  readonly path: string;
  readonly before: TreeNode;
  readonly after: TreeNode;
}

/** What the list of file changes between two snapshots says, before any data is read. */
export interface ChangeFigures {
  readonly added: number;
  readonly changed: number;
  readonly deleted: number;
  readonly renamed: number;
  /** `a.txt` deleted, `a.txt.<ext>` added; the paths of the new files. */
  readonly appended: readonly string[];
  readonly unseenExtensions: ReadonlyMap<string, number>;
  readonly ransomwareExtension: readonly string[];
  readonly ransomNotes: readonly string[];
  readonly scripts: readonly string[];
  readonly execSet: readonly string[];
  readonly deletedInPlace: number;
  readonly deletedWithFolder: number;
  readonly headPairs: readonly HeadPair[];
}

/** Up to this many dot-separated suffixes are stripped to find the original of `a.txt.id-42.[mail].locked`. */
const MAX_APPENDED_SUFFIXES = 3;

/**
 * Counts and pairs the changes: renames by content, originals of files renamed with a suffix, new extensions, ransom
 * notes, scripts in sensitive folders. `seen` holds the extensions of the source so far; `compromised` the paths an
 * earlier suspicious snapshot left (deleting them is a clean-up, not a deletion to worry about).
 */
export function changeFigures(changes: readonly FileChange[], seen: ReadonlySet<string>, compromised: ReadonlySet<string> = new Set()): ChangeFigures {
  const deletedByPath = new Map<string, TreeNode>();
  const deletedByContent = new Map<string, string[]>();
  const added: { path: string; node: TreeNode }[] = [];
  let changed = 0;
  const headPairs: HeadPair[] = [];
  const execSet: string[] = [];
  for (const c of changes) {
    if (c.kind === 'deleted') {
      deletedByPath.set(c.path, c.before);
      const k = contentKey(c.before);
      if (k !== null) deletedByContent.set(k, [...(deletedByContent.get(k) ?? []), c.path]);
    } else if (c.kind === 'added') added.push({ path: c.path, node: c.after });
    else {
      if (c.kind === 'changed') {
        changed++;
        headPairs.push({ path: c.path, before: c.before, after: c.after });
      }
      if ((c.before.mode & 0o111) === 0 && (c.after.mode & 0o111) !== 0 && inSensitiveFolder(c.path)) execSet.push(c.path);
    }
  }

  const paired = new Set<string>();
  let renamed = 0;
  const appended: string[] = [];
  const unseen = new Map<string, number>();
  const ransomwareExtension: string[] = [];
  const ransomNotes: string[] = [];
  const scripts: string[] = [];
  for (const { path, node } of added) {
    const name = baseName(path);
    const ext = extensionOf(name);
    const k = contentKey(node);
    const sameContent = k === null ? undefined : deletedByContent.get(k)?.find((p) => !paired.has(p));
    if (sameContent !== undefined) {
      paired.add(sameContent);
      if (baseName(sameContent) !== name) renamed++;
    } else {
      const original = originalOf(path, deletedByPath, paired);
      if (original !== undefined) {
        paired.add(original);
        // `a.log` → `a.log.gz` is compression: no deletion, and no ransomware suffix either
        if (!COMPRESSION_EXTENSIONS.has(ext)) {
          appended.push(path);
          headPairs.push({ path, before: deletedByPath.get(original)!, after: node });
        }
      }
    }
    if (ext !== '' && !seen.has(ext)) unseen.set(ext, (unseen.get(ext) ?? 0) + 1);
    if (RANSOMWARE_EXTENSIONS.has(ext)) ransomwareExtension.push(path);
    if (isRansomNote(name)) ransomNotes.push(path);
    if (inSensitiveFolder(path) && (isScriptName(name) || (node.mode & 0o111) !== 0)) scripts.push(path);
  }

  let deletedInPlace = 0;
  let deletedWithFolder = 0;
  for (const c of changes) {
    if (c.kind !== 'deleted' || paired.has(c.path) || compromised.has(c.path)) continue;
    if (c.withFolder) deletedWithFolder++;
    else deletedInPlace++;
  }
  return {
    added: added.length,
    changed,
    deleted: deletedByPath.size,
    renamed,
    appended,
    unseenExtensions: unseen,
    ransomwareExtension,
    ransomNotes,
    scripts,
    execSet,
    deletedInPlace,
    deletedWithFolder,
    headPairs,
  };
}

/** The deleted file `path` was made from by appending suffixes, if any. */
function originalOf(path: string, deleted: ReadonlyMap<string, TreeNode>, paired: ReadonlySet<string>): string | undefined {
  const dir = dirName(path);
  let name = baseName(path);
  for (let i = 0; i < MAX_APPENDED_SUFFIXES; i++) {
    const dot = name.lastIndexOf('.');
    if (dot <= 0) return undefined;
    name = name.slice(0, dot);
    const candidate = dir === '' ? name : `${dir}/${name}`;
    if (deleted.has(candidate) && !paired.has(candidate)) return candidate;
  }
  return undefined;
}
