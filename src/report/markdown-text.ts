/**
 * Putting text from the data (source names, paths, errors) into Markdown so that it reads as written: nothing in it
 * becomes emphasis, a link, a table border or raw HTML.
 */
export { codeSpan } from '../audit/markdown.js';

/** Text with Markdown and HTML meaning escaped (`*`, `_`, `[`, `<`, `&`, `|`, backticks...). */
export function mdText(text: string): string {
  return text
    .replace(/[\\`*_[\]|#~]/g, (c) => `\\${c}`)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/\r?\n/g, ' ');
}

/**
 * A message that may quote commands in backticks (`run \`safepoint check\``): the code spans are kept, the rest is
 * escaped as mdText. With unpaired backticks, everything is escaped.
 */
export function mdMessage(text: string): string {
  const parts = text.split(/(`[^`\n]+`)/);
  if (parts.filter((_, i) => i % 2 === 0).some((p) => p.includes('`'))) return mdText(text);
  return parts.map((p, i) => (i % 2 === 1 ? p : mdText(p))).join('');
}

/** A GFM table; cells are already Markdown. Pipes inside code spans are escaped too (GFM needs it), line breaks dropped. */
export function mdTable(head: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const cell = (c: string): string => c.replace(/\r?\n/g, ' ').replace(/(?<!\\)\|/g, '\\|');
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`)];
}
