/** Writes the audit as Markdown: readable on its own, and read back by parse.ts (format: docs/audit.md). */
import { CATEGORIES, CATEGORY_TITLES, type AuditReport, type AuditRow } from './model.js';

/** First line of every audit: names the format and its version. */
export const AUDIT_MARKER = '<!-- safepoint-audit v1';

/** A Markdown code span holding `text` exactly (a fence longer than any run of backticks inside). */
export function codeSpan(text: string): string {
  const longest = Math.max(0, ...(text.match(/`+/g) ?? []).map((r) => r.length));
  const fence = '`'.repeat(longest + 1);
  const pad = text.startsWith('`') || text.endsWith('`') || (text.startsWith(' ') && text.endsWith(' ') && text.trim() !== '') ? ' ' : '';
  return `${fence}${pad}${text}${pad}${fence}`;
}

/** A table cell: pipes escaped (GFM needs it also inside code spans), no line breaks. */
function cell(text: string): string {
  return text.replace(/\r?\n/g, ' ').replace(/\|/g, '\\|');
}

function table(head: readonly string[], rows: readonly (readonly string[])[]): string[] {
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`)];
}

/** A project path as the parser reads it back: a name that looks absolute (`~x`, `c:`) gets `./` in front. */
function relativeText(path: string): string {
  return /^~|^[A-Za-z]:/.test(path) ? `./${path}` : path;
}

function pathCell(r: AuditRow): string {
  return `${codeSpan(relativeText(r.path))}${r.secret ? ' **secret**' : ''}`;
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

export function renderAudit(a: AuditReport): string {
  const lines: string[] = [];
  const uncovered = a.rows.filter((r) => r.coveredBy.length === 0);
  const secrets = a.rows.filter((r) => r.secret);
  const tracked = secrets.filter((r) => r.trackedByGit);
  lines.push(
    '# Rollback points audit',
    '',
    `${AUDIT_MARKER}: written by \`safepoint audit\`, format in safepoint's docs/audit.md. Edit the tables by hand:`,
    '     a files source with `from_audit:` set to this file backs up the paths listed under "Critical files". -->',
    '',
    `- Project root: ${codeSpan(a.rootFromFile)} (relative to the folder of this file; every path below is relative to it)`,
    `- Written: ${a.generatedAt.toISOString().slice(0, 10)} by safepoint ${a.version}`,
    `- Coverage checked against: ${a.config === null ? 'no safepoint.yaml found' : codeSpan(a.config)}`,
    '',
    '## Summary',
    '',
  );
  const counts = CATEGORIES.map((c) => [c, a.rows.filter((r) => r.category === c).length] as const).filter(([, n]) => n > 0);
  lines.push(`- ${plural(a.rows.length, 'critical path')}${counts.length > 0 ? `: ${counts.map(([c, n]) => `${n} ${CATEGORY_TITLES[c].toLowerCase()}`).join(', ')}` : ''}.`);
  if (uncovered.length > 0) {
    lines.push(`- **Not covered: ${plural(uncovered.length, 'path')}** ${uncovered.length === 1 ? 'is' : 'are'} backed up by no source${a.config === null ? ' (there is no safepoint.yaml yet)' : ' of safepoint.yaml'}: add ${uncovered.length === 1 ? 'it' : 'them'} to a files source, or set \`from_audit:\` to this file on one.`);
  } else if (a.rows.length > 0) {
    lines.push('- Every critical path is covered by a source.');
  }
  if (secrets.length > 0) lines.push(`- **Secrets: ${secrets.length}** (marked **secret**): back them up to an encrypted repository only (safepoint repositories always are), never to git.`);
  if (tracked.length > 0) {
    lines.push(`- **Tracked by git: ${plural(tracked.length, 'secret')}** (${tracked.map((r) => codeSpan(r.path)).join(', ')}): in the git history; remove ${tracked.length === 1 ? 'it' : 'them'} with \`git rm --cached\`, rotate ${tracked.length === 1 ? 'it' : 'them'} and add ${tracked.length === 1 ? 'it' : 'them'} to \`.gitignore\`.`);
  }
  lines.push('', '## Detected stacks', '');
  if (a.stacks.length === 0) lines.push('_None recognised._');
  else lines.push(...table(['stack', 'evidence'], a.stacks.map((s) => [s.name, codeSpan(s.evidence)])));
  lines.push(
    '',
    '## Critical files',
    '',
    'Backup frequency: data and database files daily; code, configuration and deployment scripts at each major commit; secrets and certificates at each change.',
  );
  for (const c of CATEGORIES) {
    const rows = a.rows.filter((r) => r.category === c);
    lines.push('', `### ${CATEGORY_TITLES[c]}`, '');
    if (rows.length === 0) {
      // an empty table still marks the file as an audit (from_audit reads it): rows can be added by hand
      lines.push('_None found._', '', ...table(['path', 'why', 'backup frequency', 'covered by'], []));
      continue;
    }
    lines.push(
      ...table(
        ['path', 'why', 'backup frequency', 'covered by'],
        rows.map((r) => [pathCell(r), r.trackedByGit ? `${r.why}; **tracked by git**` : r.why, r.frequency, r.coveredBy.length > 0 ? r.coveredBy.join(', ') : '**not covered**']),
      ),
    );
  }
  lines.push('', '## Safe to skip', '', 'Not critical: rebuilt, downloaded again or disposable. A files source with `from_audit:` leaves these folders out, also inside a listed folder.', '');
  if (a.skipped.length === 0) lines.push('_None found._');
  else lines.push(...table(['folder', 'why'], a.skipped.map((s) => [codeSpan(s.path), s.why])));
  if (a.notes.length > 0) lines.push('', '## Notes', '', ...a.notes.map((n) => `- ${n}`));
  return `${lines.join('\n')}\n`;
}
