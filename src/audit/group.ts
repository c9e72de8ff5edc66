/**
 * From what the walk found to the report's rows: code grouped by folder, low-signal files folded into the code
 * folder that holds them, long runs of files of one folder collapsed, and the stacks with their evidence.
 */
import { SOURCE_FOLDERS } from './folder-rules.js';
import { CATEGORIES, FREQUENCY, type AuditRow, type Category, type Stack } from './model.js';
import type { ScanResult } from './scan.js';

/** Stacks listed first, in this order; the others follow alphabetically. */
const LANGUAGE_STACKS = ['Node.js', 'TypeScript', 'Deno', 'Python', 'Go', 'Java', 'Ruby', 'PHP', 'Rust', 'Elixir'];

/** More rows than this of one category in one folder become a single folder row. */
const COLLAPSE_OVER = 12;

export interface Grouped {
  readonly rows: AuditRow[];
  readonly stacks: Stack[];
}

const row = (path: string, category: Category, why: string, frequency: string, secret = false): AuditRow => ({ path, category, why, frequency, secret, coveredBy: [], trackedByGit: false });

/** The row a code file belongs to: its first source folder, else its top folder, else the file itself. */
function codeKey(rel: string): string {
  const dirs = rel.split('/').slice(0, -1);
  const i = dirs.findIndex((d) => SOURCE_FOLDERS.has(d.toLowerCase()));
  if (i >= 0) return `${dirs.slice(0, i + 1).join('/')}/`;
  return dirs.length > 0 ? `${dirs[0]}/` : rel;
}

function codeLabel(folder: string): string {
  const name = folder.replace(/\/$/, '').split('/').at(-1)?.toLowerCase() ?? '';
  if (['test', 'tests', 'spec', 'specs', '__tests__', 'e2e'].includes(name)) return 'tests';
  if (name === 'scripts' || name === 'bin') return 'scripts';
  return 'source code';
}

/** The folder row of `keys` (folders, ending with `/`) that contains rel, if any. */
function containing(folders: readonly string[], rel: string): string | undefined {
  return folders.find((f) => rel.startsWith(f));
}

export function groupFindings(scan: ScanResult): Grouped {
  // stacks: the shallowest evidence, a primary manifest before a lockfile before a source file
  const stacks = new Map<string, { evidence: string; score: number }>();
  for (const f of scan.files) {
    const s = f.cls.stack;
    if (!s) continue;
    const evidence = f.cls.folder ?? f.rel;
    const score = evidence.replace(/\/$/, '').split('/').length * 10 + (s.weak ? 2 : s.primary ? 0 : 1);
    const known = stacks.get(s.name);
    if (!known || score < known.score) stacks.set(s.name, { evidence, score });
  }

  // code, grouped by folder; nested folders merge into the outer one
  const groups = new Map<string, Map<string, number>>();
  for (const f of scan.files) {
    if (f.cls.language === undefined) continue;
    const key = codeKey(f.rel);
    const langs = groups.get(key) ?? new Map<string, number>();
    langs.set(f.cls.language, (langs.get(f.cls.language) ?? 0) + 1);
    groups.set(key, langs);
  }
  const folderKeys = [...groups.keys()].filter((k) => k.endsWith('/')).sort();
  const codeFolders = folderKeys.filter((k) => !folderKeys.some((o) => o !== k && k.startsWith(o)));
  const merged = new Map<string, Map<string, number>>();
  for (const [key, langs] of groups) {
    const target = containing(codeFolders, key) ?? key;
    const m = merged.get(target) ?? new Map<string, number>();
    for (const [l, n] of langs) m.set(l, (m.get(l) ?? 0) + n);
    merged.set(target, m);
  }

  const rows: AuditRow[] = [];
  for (const [key, langs] of merged) {
    if (!key.endsWith('/')) {
      rows.push(row(key, 'code', `source code (${[...langs.keys()].join(', ')})`, FREQUENCY.commit));
      continue;
    }
    const total = [...langs.values()].reduce((a, b) => a + b, 0);
    const names = [...langs.entries()].sort((a, b) => b[1] - a[1]).map(([l]) => l);
    rows.push(row(key, 'code', `${codeLabel(key)}: ${total} file${total === 1 ? '' : 's'} (${names.join(', ')})`, FREQUENCY.commit));
  }

  const seenFolders = new Set<string>();
  for (const f of scan.files) {
    const c = f.cls;
    if (c.language !== undefined) continue;
    if (c.folder !== undefined) {
      if (!seenFolders.has(c.folder)) rows.push(row(c.folder, c.category, c.why, c.frequency, c.secret));
      seenFolders.add(c.folder);
      continue;
    }
    if (c.foldable && containing(codeFolders, f.rel) !== undefined) continue;
    rows.push(row(f.rel, c.category, c.why, c.frequency, c.secret));
  }
  for (const d of scan.dataFolders) rows.push(row(d.path, 'data', d.why, FREQUENCY.daily));

  const rank = (name: string): number => (LANGUAGE_STACKS.includes(name) ? LANGUAGE_STACKS.indexOf(name) : LANGUAGE_STACKS.length);
  const stackList = [...stacks].map(([name, s]) => ({ name, evidence: s.evidence })).sort((a, b) => rank(a.name) - rank(b.name) || a.name.localeCompare(b.name));
  return { rows: order(collapse(rows)), stacks: stackList };
}

/** Many file rows of one category in one folder (configuration, deployment, code) become that folder's row. */
function collapse(rows: AuditRow[]): AuditRow[] {
  const byFolder = new Map<string, AuditRow[]>();
  for (const r of rows) {
    if (r.secret || r.path.endsWith('/') || !['configuration', 'deployment', 'code'].includes(r.category)) continue;
    const slash = r.path.lastIndexOf('/');
    if (slash < 0) continue;
    const key = `${r.category}\0${r.path.slice(0, slash + 1)}`;
    byFolder.set(key, [...(byFolder.get(key) ?? []), r]);
  }
  const drop = new Set<AuditRow>();
  const added: AuditRow[] = [];
  for (const [key, list] of byFolder) {
    if (list.length <= COLLAPSE_OVER) continue;
    const [category, folder] = key.split('\0') as [Category, string];
    for (const r of list) drop.add(r);
    added.push(row(folder, category, `${list.length} ${category} files`, list[0]!.frequency));
  }
  return [...rows.filter((r) => !drop.has(r)), ...added];
}

function order(rows: AuditRow[]): AuditRow[] {
  return rows.sort((a, b) => CATEGORIES.indexOf(a.category) - CATEGORIES.indexOf(b.category) || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
