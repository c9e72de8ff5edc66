/**
 * `from_audit:` of a files source: the critical paths of an audit file become what the backup reads. The project
 * root is backed up as one tree that holds only the listed paths (and the folders on the way to them), so a restore
 * puts every file back at its place and two listed files with the same name never collide.
 */
import { lstat, readFile, realpath } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { errorMessage, isErrno, UserError } from '../util/errors.js';
import type { Excluder } from '../snapshot/exclude.js';
import { isWithin } from './coverage.js';
import { hasPathTable, parseAudit, type AuditEntry } from './parse.js';

export interface AuditPaths {
  /** Absolute path of the audit file. */
  readonly file: string;
  /** Absolute path of the project root the audit's paths are relative to. */
  readonly root: string;
  /** Listed paths that exist, with their secret flag. */
  readonly present: readonly (AuditEntry & { readonly abs: string })[];
  /** Listed paths that do not exist. */
  readonly missing: readonly AuditEntry[];
  /** Listed paths under a symlinked folder: not backed up (the backup stores the link, not its target). */
  readonly throughLinks: readonly AuditEntry[];
  /** Folders listed as safe to skip (relative to the root). */
  readonly skipped: readonly string[];
  /** Rows that were ignored, as `file:line: reason`. */
  readonly ignored: readonly string[];
}

const RUN_AUDIT = 'run `safepoint audit` in the project to write it';

/**
 * Reads an audit file and checks which of its paths exist.
 * @throws UserError (one line, naming the file and the fix) when the file is missing, unreadable or not an audit,
 * or when a row's path leaves the project root.
 */
export async function readAuditPaths(file: string): Promise<AuditPaths> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT', 'ENOTDIR')) throw new UserError(`audit file ${file} not found: ${RUN_AUDIT}, or fix from_audit in safepoint.yaml`, { cause: err });
    throw new UserError(`cannot read audit file ${file}: ${errorMessage(err)} (${RUN_AUDIT})`, { cause: err });
  }
  if (!hasPathTable(text)) throw new UserError(`audit file ${file} has no table with a "path" column, so it is not an audit: ${RUN_AUDIT}`);
  const parsed = parseAudit(text, file);
  // no Project root line (a hand-written file): the folder that holds docs/, as in the default layout
  if (parsed.root !== null && isAbsolute(parsed.root)) throw new UserError(`audit file ${file}: its "Project root:" ${parsed.root} is absolute; it must be relative to the file's folder (as safepoint audit writes it)`);
  const rootPath = resolve(dirname(file), parsed.root ?? '..');
  let root: string;
  try {
    root = await realpath(rootPath);
  } catch (err) {
    throw new UserError(`audit file ${file}: its project root ${rootPath} cannot be read (${errorMessage(err)}): fix the "Project root:" line or ${RUN_AUDIT}`, { cause: err });
  }
  const present: (AuditEntry & { abs: string })[] = [];
  const missing: AuditEntry[] = [];
  const throughLinks: AuditEntry[] = [];
  for (const e of parsed.entries) {
    const abs = join(root, e.path);
    try {
      await lstat(abs);
      // a path through a symlinked folder: the backup would store the link, not what it points to
      if (e.path !== '.' && (await realpath(dirname(abs))) !== dirname(abs)) {
        throughLinks.push(e);
        continue;
      }
      present.push({ ...e, abs });
    } catch (err) {
      if (!isErrno(err, 'ENOENT', 'ENOTDIR')) throw new UserError(`${file}:${e.line}: cannot read ${abs}: ${errorMessage(err)}`, { cause: err });
      missing.push(e);
    }
  }
  return { file, root, present, missing, throughLinks, skipped: parsed.skipped.map((s) => s.path), ignored: parsed.ignored.map((g) => `${file}:${g.line}: row ignored: ${g.reason}`) };
}

export interface AuditBackup {
  /** What to back up: the source's own paths plus the project root (when the audit lists something). */
  readonly paths: string[];
  /** Leaves out, under the project root, everything the audit does not list; undefined: nothing to leave out. */
  readonly exclude?: Excluder;
  /** Absolute paths of the secrets the audit lists. */
  readonly secrets: readonly string[];
}

/**
 * The paths and extra exclusion of a files source with `from_audit`: `sourcePaths` (already absolute) plus the
 * audit's paths that exist. Missing paths and ignored rows are reported through `out.warn`, one line each.
 */
export async function pathsFromAudit(file: string, sourcePaths: readonly string[], out: { warn(line: string): void; info(line: string): void }): Promise<AuditBackup> {
  const audit = await readAuditPaths(file);
  for (const m of audit.missing) out.warn(`${file}:${m.line}: ${m.written} does not exist: not backed up`);
  for (const m of audit.throughLinks) out.warn(`${file}:${m.line}: ${m.written} is under a symbolic link: not backed up (list the path the link points to)`);
  for (const g of audit.ignored) out.warn(g);
  const { root } = audit;
  const secrets = audit.present.filter((e) => e.secret).map((e) => e.abs);
  const n = audit.present.length;
  out.info(`from_audit ${file}: ${n} path${n === 1 ? '' : 's'} under ${root}${secrets.length > 0 ? ` (${secrets.length} marked secret, stored encrypted)` : ''}`);
  if (audit.present.length === 0) return { paths: [...sourcePaths], secrets };
  // compared by their real paths: the root is one (a project reached through a symlink is still the project)
  const real = await Promise.all(sourcePaths.map(async (p) => ({ p, real: await realpath(p).catch(() => p) })));
  // the source already backs up the whole project: the audit adds nothing
  if (real.some((x) => isWithin(root, x.real))) return { paths: [...sourcePaths], secrets };
  const inside = real.filter((x) => isWithin(x.real, root)).map((x) => x.real);
  const outside = real.filter((x) => !isWithin(x.real, root)).map((x) => x.p);
  const rel = (abs: string): string => relative(root, abs).split(sep).join('/') || '.';
  const listed = new Set([...audit.present.map((e) => e.path), ...inside.map(rel)]);
  return { paths: [...outside, root], exclude: auditExcluder(root, listed, new Set(audit.skipped)), secrets };
}

/**
 * Under `root`: keeps the listed paths, what is inside them and the folders leading to them, minus the skipped
 * folders (unless listed themselves); excludes everything else. Paths outside `root` are left alone.
 */
export function auditExcluder(root: string, listed: ReadonlySet<string>, skipped: ReadonlySet<string>): Excluder {
  const everything = listed.has('.');
  const onTheWay = new Set<string>();
  for (const p of listed) {
    const parts = p.split('/');
    for (let i = 1; i < parts.length; i++) onTheWay.add(parts.slice(0, i).join('/'));
  }
  return (abs) => {
    if (abs === root || !isWithin(abs, root)) return false;
    const parts = relative(root, abs).split(sep);
    if (onTheWay.has(parts.join('/'))) return false;
    // the deepest listed or skipped folder on the path decides: a row listed inside a skipped folder wins
    for (let i = parts.length; i >= 1; i--) {
      const prefix = parts.slice(0, i).join('/');
      if (listed.has(prefix)) return false;
      if (skipped.has(prefix)) return true;
    }
    return !everything;
  };
}

/** An excluder that excludes what either excludes. */
export function orExclude(a: Excluder, b: Excluder | undefined): Excluder {
  return b === undefined ? a : (p) => a(p) || b(p);
}
