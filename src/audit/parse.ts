/**
 * Reads an audit file back (format: docs/audit.md). Tolerant of hand edits: any table whose first column is `path`
 * lists critical paths, any table whose first column is `folder` lists skipped folders, everything else is text.
 */
import { posix } from 'node:path';
import { UserError } from '../util/errors.js';
import { CATEGORIES, CATEGORY_TITLES, type Category } from './model.js';

export interface AuditEntry {
  /** Normalized, relative to the project root, without a trailing `/` (`.` is the root itself). */
  readonly path: string;
  /** As written in the file (folders usually end with `/`). */
  readonly written: string;
  /** 1-based line number in the file. */
  readonly line: number;
  /** From the heading above the table; null under a heading the audit does not write. */
  readonly category: Category | null;
  readonly secret: boolean;
  readonly why: string;
  readonly frequency: string;
}

export interface ParsedAudit {
  /** The `Project root:` line (relative to the audit file's folder), or null when the file has none. */
  readonly root: string | null;
  readonly entries: readonly AuditEntry[];
  /** Folders of the "Safe to skip" tables, normalized like entries. */
  readonly skipped: readonly { readonly path: string; readonly line: number; readonly why: string }[];
  /** Rows of a path table that were ignored, and why. */
  readonly ignored: readonly { readonly line: number; readonly reason: string }[];
}

/** The cells of a table row: split on pipes that are not escaped, `\|` unescaped, outer pipes dropped. */
function cells(line: string): string[] {
  let s = line.trim();
  if (s.startsWith('|')) s = s.slice(1);
  if (s.endsWith('|') && !s.endsWith('\\|')) s = s.slice(0, -1);
  return s.split(/(?<!\\)\|/).map((c) => c.replace(/\\\|/g, '|').trim());
}

const DELIMITER = /^\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$/;

/** The first code span of a cell and the text around it; null when there is none. */
export function firstCodeSpan(text: string): { code: string; rest: string } | null {
  const open = /`+/.exec(text);
  if (!open) return null;
  const fence = open[0];
  const start = open.index + fence.length;
  const close = new RegExp(`(?<!\`)${fence}(?!\`)`, 'g');
  close.lastIndex = start;
  const end = close.exec(text);
  if (!end) return null;
  let code = text.slice(start, end.index);
  if (code.length >= 2 && code.startsWith(' ') && code.endsWith(' ') && code.trim() !== '') code = code.slice(1, -1);
  return { code, rest: text.slice(0, open.index) + text.slice(end.index + fence.length) };
}

function categoryOf(heading: string): Category | null {
  const h = heading.toLowerCase();
  const exact = CATEGORIES.find((c) => CATEGORY_TITLES[c].toLowerCase() === h);
  if (exact) return exact;
  if (/secret|certificate/.test(h)) return 'secrets';
  if (/database/.test(h)) return 'database';
  if (/deploy/.test(h)) return 'deployment';
  if (/config/.test(h)) return 'configuration';
  if (/^data\b/.test(h)) return 'data';
  if (/^code\b|source/.test(h)) return 'code';
  return null;
}

/**
 * Normalizes a path of the audit. @throws UserError naming `file:line` when it is absolute or climbs out of the
 * project root with `..`.
 */
function checkedPath(written: string, file: string, line: number): string {
  const p = written.trim();
  if (p.startsWith('/') || p.startsWith('~') || /^[A-Za-z]:[\\/]/.test(p)) {
    throw new UserError(`${file}:${line}: path ${p} is absolute: paths in the audit are relative to the project root (fix or remove the row)`);
  }
  const n = posix.normalize(p).replace(/\/+$/, '') || '.';
  if (n === '..' || n.startsWith('../')) {
    throw new UserError(`${file}:${line}: path ${p} escapes the project root with "..": paths in the audit stay inside the project (fix or remove the row)`);
  }
  return n;
}

/** Parses audit Markdown; `file` names the file in messages. @throws UserError for a path that leaves the project. */
export function parseAudit(text: string, file: string): ParsedAudit {
  const lines = text.split(/\r?\n/);
  let root: string | null = null;
  let heading = '';
  let inComment = false;
  const entries: AuditEntry[] = [];
  const skipped: { path: string; line: number; why: string }[] = [];
  const ignored: { line: number; reason: string }[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const t = line.trim();
    if (inComment || t.startsWith('<!--')) {
      inComment = !t.includes('-->');
      continue;
    }
    const h = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(t);
    if (h) {
      heading = h[1]!;
      continue;
    }
    const r = /^(?:[-*]\s+)?(?:\*\*)?project root(?:\*\*)?\s*:\s*(.*)$/i.exec(t);
    if (r && root === null) {
      root = firstCodeSpan(r[1]!)?.code ?? null;
      continue;
    }
    if (!t.startsWith('|') || !DELIMITER.test(lines[i + 1]?.trim() ?? '')) continue;
    // a table: header, delimiter, rows until the first line that is not a row
    const kind = cells(t)[0]?.toLowerCase();
    i += 2;
    // GFM: a row need not start with a pipe; the table ends at a blank line or a line without one
    for (; i < lines.length && lines[i]!.trim() !== '' && lines[i]!.includes('|') && !/^#{1,6}\s/.test(lines[i]!.trim()); i++) {
      const lineNo = i + 1;
      const row = cells(lines[i]!);
      if (kind !== 'path' && kind !== 'folder') continue;
      const first = row[0] ?? '';
      const span = firstCodeSpan(first);
      if (!span || span.code.trim() === '') {
        if (first !== '') ignored.push({ line: lineNo, reason: 'the path must be written in backticks, like `config/app.yaml`' });
        continue;
      }
      const path = checkedPath(span.code, file, lineNo);
      if (kind === 'folder') {
        skipped.push({ path, line: lineNo, why: row[1] ?? '' });
        continue;
      }
      entries.push({ path, written: span.code, line: lineNo, category: categoryOf(heading), secret: /\bsecret\b/i.test(span.rest), why: row[1] ?? '', frequency: row[2] ?? '' });
    }
    i--;
  }
  return { root, entries, skipped, ignored };
}

/** True when the text has at least one table of paths: it can be an audit. */
export function hasPathTable(text: string): boolean {
  const lines = text.split(/\r?\n/);
  return lines.some((l, i) => l.trim().startsWith('|') && cells(l)[0]?.toLowerCase() === 'path' && DELIMITER.test(lines[i + 1]?.trim() ?? ''));
}
