/** The whole audit: walk the project, group what it found, check coverage and git, write the Markdown. */
import { existsSync } from 'node:fs';
import { lstat, readFile, realpath } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { Config } from '../config/schema.js';
import { isPlainPath } from '../config/resolve-paths.js';
import { systemClock, type Clock } from '../util/clock.js';
import { errorMessage } from '../util/errors.js';
import { coverageOf, isWithin, withRealPaths } from './coverage.js';
import { trackedByGit } from './git-tracked.js';
import { groupFindings } from './group.js';
import { renderAudit } from './markdown.js';
import { barePath, FREQUENCY, type AuditReport, type AuditRow, type Category, type SkippedFolder } from './model.js';
import { parseAudit } from './parse.js';
import { scanProject } from './scan.js';

export interface AuditOptions {
  /** The project folder: absolute, symbolic links resolved. */
  readonly root: string;
  /** Where the audit is written (absolute); left out of the walk, and read first to keep rows added by hand. */
  readonly outFile: string;
  /** The configuration to check coverage against, with the file it came from. */
  readonly config: (Config & { readonly file: string }) | null;
  readonly version: string;
  readonly clock?: Clock;
  readonly maxDepth?: number;
  readonly maxEntries?: number;
  readonly onProgress?: (entries: number, folder: string) => void;
  readonly onWarning?: (message: string) => void;
}

export interface AuditResult {
  readonly report: AuditReport;
  readonly markdown: string;
  /** Files and folders looked at. */
  readonly entries: number;
  readonly truncated: boolean;
}

const toPosix = (p: string): string => p.split(sep).join('/');

export async function auditProject(o: AuditOptions): Promise<AuditResult> {
  const { root, outFile, config } = o;
  const scan = await scanProject(root, {
    ignore: ignoredPaths(o),
    ...(o.maxDepth !== undefined ? { maxDepth: o.maxDepth } : {}),
    ...(o.maxEntries !== undefined ? { maxEntries: o.maxEntries } : {}),
    ...(o.onProgress ? { onProgress: o.onProgress } : {}),
    ...(o.onWarning ? { onWarning: o.onWarning } : {}),
  });
  const { rows, stacks } = groupFindings(scan);
  const skipped: SkippedFolder[] = [...scan.skipped];
  await keepHandEdits(o, rows, skipped);

  if (config !== null) {
    const covers = coverageOf(await withRealPaths(config), root, await realpath(outFile).catch(() => outFile));
    for (const r of rows) r.coveredBy = covers(r);
  }
  const secrets = rows.filter((r) => r.secret);
  const tracked = await trackedByGit(root, secrets.map((r) => barePath(r.path)));
  for (const r of secrets) r.trackedByGit = tracked?.has(barePath(r.path)) ?? false;

  const report: AuditReport = {
    root,
    rootFromFile: toPosix(relative(dirname(outFile), root)) || '.',
    generatedAt: (o.clock ?? systemClock).now(),
    version: o.version,
    config: config === null ? null : isWithin(config.file, root) ? toPosix(relative(root, config.file)) : config.file,
    stacks,
    rows,
    skipped,
    notes: scan.notes,
  };
  return { report, markdown: renderAudit(report), entries: scan.entries, truncated: scan.truncated };
}

/** The audit file itself and the local repositories of the config: never part of the walk. */
function ignoredPaths(o: AuditOptions): Map<string, string> {
  const ignore = new Map<string, string>([[o.outFile, 'this audit']]);
  for (const [name, repo] of Object.entries(o.config?.repositories ?? {})) {
    for (const t of repo.targets) {
      const path = t.url.startsWith('local:') ? t.url.slice('local:'.length) : t.url;
      if (isPlainPath(path) && isAbsolute(path)) ignore.set(resolve(path), `repository "${name}" of safepoint.yaml: backups are not backed up into themselves`);
    }
  }
  return ignore;
}

/**
 * Rows and skipped folders of the previous audit that this scan did not find, but that still exist and lie in no
 * new row, were added by hand: they are kept. (A row removed by hand comes back when the scan finds it again.)
 */
async function keepHandEdits(o: AuditOptions, rows: AuditRow[], skipped: SkippedFolder[]): Promise<void> {
  if (!existsSync(o.outFile)) return;
  let previous;
  try {
    previous = parseAudit(await readFile(o.outFile, 'utf8'), o.outFile);
  } catch (err) {
    o.onWarning?.(`the previous audit ${o.outFile} cannot be read (${errorMessage(err)}): rows added by hand are not carried over`);
    return;
  }
  const exists = (p: string): Promise<boolean> => lstat(join(o.root, p)).then(() => true, () => false);
  const inRow = (p: string): boolean => rows.some((r) => barePath(r.path) === p || (r.path.endsWith('/') && p.startsWith(r.path)));
  // a folder row the audit itself wrote (grouped files) whose files are now rows of their own: regenerated, not kept
  const generatedGroup = (e: { written: string; why: string; path: string }): boolean =>
    e.written.trim().endsWith('/') && /^\d+ [a-z]+ files$|: \d+ files? \(/.test(e.why.trim()) && rows.some((r) => barePath(r.path).startsWith(`${e.path}/`));
  for (const e of previous.entries) {
    if (inRow(e.path) || generatedGroup(e) || !(await exists(e.path))) continue;
    const category: Category = e.category ?? 'configuration';
    const why = e.why.replace(/;?\s*\*\*tracked by git\*\*/, '').trim() || 'added by hand';
    const frequency = e.frequency.trim() || (category === 'data' || category === 'database' ? FREQUENCY.daily : FREQUENCY.commit);
    rows.push({ path: e.written.trim(), category, why, frequency, secret: e.secret, coveredBy: [], trackedByGit: false });
  }
  for (const s of previous.skipped) {
    if (skipped.some((k) => barePath(k.path) === s.path) || !(await exists(s.path))) continue;
    skipped.push({ path: `${s.path}/`, why: s.why || 'added by hand' });
  }
}
