/** The audit's vocabulary: categories, backup frequencies, rows and the whole report. */

export const CATEGORIES = ['code', 'configuration', 'data', 'secrets', 'database', 'deployment'] as const;
export type Category = (typeof CATEGORIES)[number];

/** Section titles of the Markdown report, in report order. */
export const CATEGORY_TITLES: Readonly<Record<Category, string>> = {
  code: 'Code',
  configuration: 'Configuration',
  data: 'Data',
  secrets: 'Secrets and certificates',
  database: 'Database files',
  deployment: 'Deployment scripts',
};

export const FREQUENCY = {
  daily: 'daily',
  commit: 'at each major commit',
  change: 'at each change',
} as const;
export type Frequency = (typeof FREQUENCY)[keyof typeof FREQUENCY];

/** One critical path of the report. */
export interface AuditRow {
  /** Relative to the project root, `/`-separated; folders end with `/`. */
  readonly path: string;
  readonly category: Category;
  readonly why: string;
  readonly frequency: string;
  /** Passwords, keys, tokens: stored only in an encrypted repository, never in git. */
  readonly secret: boolean;
  /** Names of the sources of safepoint.yaml that back this path up (empty: not covered). */
  coveredBy: string[];
  /** A secret that `git ls-files` lists: it has leaked into the git history. */
  trackedByGit: boolean;
}

/** A folder that is safe to leave out of backups, and why. */
export interface SkippedFolder {
  /** Relative to the project root, ending with `/`. */
  readonly path: string;
  readonly why: string;
}

/** A technology found in the project, with the file that shows it. */
export interface Stack {
  readonly name: string;
  readonly evidence: string;
}

export interface AuditReport {
  /** Absolute path of the project root. */
  readonly root: string;
  /** The project root as written in the file: relative to the audit file's folder. */
  readonly rootFromFile: string;
  readonly generatedAt: Date;
  readonly version: string;
  /** The safepoint.yaml the coverage was computed against (relative to the root when inside it), or null. */
  readonly config: string | null;
  readonly stacks: readonly Stack[];
  readonly rows: readonly AuditRow[];
  readonly skipped: readonly SkippedFolder[];
  readonly notes: readonly string[];
}

/** Folder paths in the report end with `/`; this is the path without it (`.` for the root itself). */
export function barePath(path: string): string {
  const p = path.replace(/\/+$/, '');
  return p === '' ? '.' : p;
}
