/**
 * `safepoint audit [DIR]`: lists a project's critical files (code, configuration, data, secrets, databases,
 * deployment), why each matters, how often to back it up and which source covers it, into
 * docs/rollback_points_audit.md — the file a files source reads with `from_audit:`.
 */
import type { Command } from 'commander';
import { writeAtomically } from '../util/write-atomic.js';
import { existsSync } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { auditProject } from '../audit/audit.js';
import { CATEGORIES, CATEGORY_TITLES } from '../audit/model.js';
import { DEFAULT_MAX_DEPTH, DEFAULT_MAX_ENTRIES } from '../audit/scan.js';
import type { LoadedConfig } from '../config/load.js';
import { errorMessage, isErrno, UsageError, UserError } from '../util/errors.js';
import { formatSeconds } from '../util/format.js';
import { VERSION } from '../version.js';
import type { Context } from './context.js';
import { throttle } from './output.js';

interface AuditFlags {
  out?: string;
  dryRun?: boolean;
  maxFiles: string;
  maxDepth: string;
}

export const DEFAULT_AUDIT_FILE = 'docs/rollback_points_audit.md';

export function registerAudit(program: Command, ctx: () => Context): void {
  program
    .command('audit')
    .description(`list a project's critical files (code, configuration, data, secrets, databases, deployment) with why, how often to back them up and which source covers them, into DIR/${DEFAULT_AUDIT_FILE}; a files source backs that list up with from_audit`)
    .argument('[dir]', 'the project folder (default: the current folder)')
    .option('--out <file>', `where to write the audit (default: DIR/${DEFAULT_AUDIT_FILE})`)
    .option('--dry-run', 'print the Markdown on stdout instead of writing it')
    .option('--max-files <n>', 'stop the scan after this many files and folders', String(DEFAULT_MAX_ENTRIES))
    .option('--max-depth <n>', 'do not scan folders nested deeper than this', String(DEFAULT_MAX_DEPTH))
    .action(async (dir: string | undefined, flags: AuditFlags) => {
      process.exitCode = await runAudit(ctx(), dir, flags);
    });
}

function count(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag} ${value}: expected a whole number of at least 1`);
  return n;
}

/** The config to check coverage against: --config / SAFEPOINT_CONFIG, else DIR/safepoint.yaml, else ./safepoint.yaml. */
async function auditConfig(c: Context, root: string): Promise<LoadedConfig | null> {
  const explicit = c.opts.config ?? c.env.SAFEPOINT_CONFIG;
  const inProject = join(root, 'safepoint.yaml');
  if (!explicit && existsSync(inProject)) return (await import('../config/load.js')).loadConfig(inProject, c.env);
  return c.config();
}

async function runAudit(c: Context, dir: string | undefined, f: AuditFlags): Promise<number> {
  const maxEntries = count('--max-files', f.maxFiles);
  const maxDepth = count('--max-depth', f.maxDepth);
  const given = resolve(dir ?? '.');
  let root: string;
  try {
    if (!(await stat(given)).isDirectory()) throw new UserError(`${given} is not a folder: give the project folder to audit`);
    root = await realpath(given);
  } catch (err) {
    if (isErrno(err, 'ENOENT', 'ENOTDIR')) throw new UserError(`project folder ${given} does not exist`, { cause: err });
    throw err;
  }
  const outFile = f.out !== undefined ? resolve(f.out) : join(root, DEFAULT_AUDIT_FILE);
  const config = await auditConfig(c, root);
  const out = c.out;
  const started = Date.now();
  const progress = throttle(out.json ? 1000 : 150, (entries: number, folder: string) => {
    if (out.json) out.event({ message_type: 'status', seconds_elapsed: Math.round((Date.now() - started) / 1000), entries_scanned: entries, current_folder: folder });
    else out.status(`scanning: ${entries} files and folders  ${folder}`);
  });
  const result = await auditProject({
    root,
    outFile,
    config,
    version: VERSION,
    maxEntries,
    maxDepth,
    onProgress: progress,
    onWarning: (m) => out.warn(m),
  });
  out.clearStatus();
  const { report } = result;
  for (const r of report.rows.filter((x) => x.trackedByGit)) {
    out.warn(`${r.path} is a secret tracked by git: it is in the history; remove it with \`git rm --cached ${r.path}\`, rotate it and add it to .gitignore`);
  }
  if (!f.dryRun) await writeDocument(outFile, result.markdown);

  const uncovered = report.rows.filter((r) => r.coveredBy.length === 0);
  out.event({
    message_type: 'summary',
    root,
    out: outFile,
    written: !f.dryRun,
    config: config?.file ?? null,
    entries_scanned: result.entries,
    truncated: result.truncated,
    seconds: (Date.now() - started) / 1000,
    stacks: report.stacks,
    paths: report.rows.map((r) => ({ path: r.path, category: r.category, why: r.why, frequency: r.frequency, secret: r.secret, covered_by: r.coveredBy, tracked_by_git: r.trackedByGit })),
    not_covered: uncovered.length,
    secrets: report.rows.filter((r) => r.secret).length,
    skipped: report.skipped,
    notes: report.notes,
    ...(f.dryRun ? { markdown: result.markdown } : {}),
  });
  if (out.json) return 0;
  if (f.dryRun) {
    process.stdout.write(result.markdown);
    return 0;
  }
  const per = CATEGORIES.map((cat) => [CATEGORY_TITLES[cat].toLowerCase(), report.rows.filter((r) => r.category === cat).length] as const).filter(([, n]) => n > 0);
  out.info(`scanned ${result.entries} files and folders in ${formatSeconds((Date.now() - started) / 1000)}${report.stacks.length > 0 ? `: ${report.stacks.map((s) => s.name).join(', ')}` : ''}`);
  out.info(`${report.rows.length} critical paths${per.length > 0 ? `: ${per.map(([t, n]) => `${n} ${t}`).join(', ')}` : ''}`);
  if (report.skipped.length > 0) out.info(`skipped ${report.skipped.length} folders: ${report.skipped.slice(0, 5).map((s) => s.path).join(', ')}${report.skipped.length > 5 ? ', ...' : ''}`);
  if (uncovered.length > 0) out.info(`not covered by any source: ${uncovered.length} (marked in the report)${config === null ? ': there is no safepoint.yaml' : ''}`);
  out.info(`wrote ${outFile}`);
  return 0;
}

/** The document written whole or not at all; a failure says where and what to do. */
async function writeDocument(file: string, text: string): Promise<void> {
  try {
    await writeAtomically(file, text);
  } catch (err) {
    throw new UserError(`cannot write the audit to ${file}: ${errorMessage(err)} (pass --out FILE, or --dry-run to print it)`, { cause: err });
  }
}
