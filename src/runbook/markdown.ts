/** A small Markdown writer for the runbook: headings, paragraphs, lists, tables, shell blocks and numbered steps. */

/** Inline code; a value holding a backtick gets a double-backtick span. Newlines become spaces. */
export function code(s: string): string {
  const t = s.replace(/\r?\n/g, ' ');
  return t.includes('`') ? `\`\` ${t} \`\`` : `\`${t}\``;
}

/** Text for a table cell: pipes escaped, newlines as spaces. */
function cell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

/** A command to show in a shell block, with an optional comment line above it. */
export interface ShellLine {
  readonly command: string;
  readonly comment?: string;
}

/** A step of a numbered procedure: a sentence, then (optionally) the commands to type. */
export interface Step {
  readonly text: string;
  readonly commands?: readonly ShellLine[];
}

function shellBlock(lines: readonly ShellLine[], indent: string, lang = 'sh'): string[] {
  const body = lines.flatMap((l) => [...(l.comment === undefined ? [] : [`# ${l.comment}`]), l.command]);
  return [`${indent}\`\`\`${lang}`, ...body.map((l) => `${indent}${l}`), `${indent}\`\`\``];
}

export class MarkdownDoc {
  readonly #blocks: string[][] = [];

  heading(level: 1 | 2 | 3 | 4, text: string): this {
    this.#blocks.push([`${'#'.repeat(level)} ${text}`]);
    return this;
  }

  paragraph(text: string): this {
    this.#blocks.push([text]);
    return this;
  }

  /** A raw line (an HTML comment, for example). */
  raw(text: string): this {
    this.#blocks.push([text]);
    return this;
  }

  quote(text: string): this {
    this.#blocks.push(text.split('\n').map((l) => `> ${l}`));
    return this;
  }

  bullets(items: readonly string[]): this {
    if (items.length > 0) this.#blocks.push(items.map((i) => `- ${i}`));
    return this;
  }

  table(head: readonly string[], rows: readonly (readonly string[])[]): this {
    this.#blocks.push([
      `| ${head.map(cell).join(' | ')} |`,
      `|${head.map(() => '---').join('|')}|`,
      ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`),
    ]);
    return this;
  }

  shell(lines: readonly ShellLine[]): this {
    if (lines.length > 0) this.#blocks.push(shellBlock(lines, ''));
    return this;
  }

  /** A block of plain text (names, formats), not commands. */
  text(lines: readonly string[]): this {
    this.#blocks.push(shellBlock(lines.map((command) => ({ command })), '', 'text'));
    return this;
  }

  /** A numbered procedure; each step's commands sit in a shell block inside the list item. */
  steps(steps: readonly Step[]): this {
    const out: string[] = [];
    steps.forEach((s, i) => {
      const marker = `${i + 1}. `;
      out.push(`${marker}${s.text}`);
      if (s.commands && s.commands.length > 0) out.push(...shellBlock(s.commands, ' '.repeat(marker.length)));
    });
    if (out.length > 0) this.#blocks.push(out);
    return this;
  }

  toString(): string {
    return `${this.#blocks.map((b) => b.join('\n')).join('\n\n')}\n`;
  }
}
