/**
 * Counts the rows a `mariadb-dump` output holds, per table, as the dump streams by: the row counts recorded in a
 * snapshot are those of the dump itself, taken inside the dump's own consistent snapshot (a second session cannot
 * share it), so a restore can be checked against them exactly even while the source was being written to.
 *
 * A small byte-level scanner, not an SQL parser: outside `DELIMITER ;;` blocks (triggers, routines, events) it looks
 * at line starts for `CREATE TABLE \`t\`` (a table, maybe empty) and `INSERT|REPLACE ... INTO \`t\` [(cols)] VALUES`,
 * then counts the top-level parenthesised tuples up to the statement's `;`, skipping '…' and "…" literals with
 * backslash escapes and doubled quotes. It relies on what the dump tool guarantees: data values never hold a raw
 * newline (they are escaped) and each statement starts on its own line. Multi-byte UTF-8 never contains ASCII bytes,
 * so bytes can be scanned directly.
 */

const NL = 0x0a;
const QUOTE = 0x27;
const DQUOTE = 0x22;
const BACKSLASH = 0x5c;
const LPAREN = 0x28;
const RPAREN = 0x29;
const SEMICOLON = 0x3b;
const BACKTICK = 0x60;

const LINE = 0; // at the start of a line, collecting it
const SKIP_LINE = 1; // in a line of no interest
const HEAD = 2; // INSERT ... before VALUES
const HEAD_IDENT = 3; // inside `...` in the head
const HEAD_TICK = 4; // a ` inside `...`: the end, or a doubled ``
const VALUES = 5; // the tuples
const STR = 6; // inside a quoted value
const STR_ESCAPE = 7; // after a backslash
const STR_QUOTE = 8; // a quote inside a string: its end, or a doubled quote

/** Bytes that matter between the tuples (everything else, digits and hex mostly, is skipped by one lookup). */
const SPECIAL = new Uint8Array(256);
for (const c of [QUOTE, DQUOTE, LPAREN, RPAREN, SEMICOLON]) SPECIAL[c] = 1;
/** Bytes that matter inside a string. */
const IN_STRING = new Uint8Array(256);
IN_STRING[QUOTE] = 1;
IN_STRING[DQUOTE] = 1;
IN_STRING[BACKSLASH] = 1;

/** How much of a line is kept to classify it (`CREATE TABLE \`<64 chars>\``, `DELIMITER ;;`). */
const LINE_PREFIX = 1024;

const CREATE_TABLE = /^CREATE (?:OR REPLACE )?TABLE (?:IF NOT EXISTS )?`((?:[^`]|``)+)`/;

export class DumpRowCounter {
  readonly #tables = new Map<string, number>();
  #state = LINE;
  #line: number[] = [];
  #inBlock = false;
  #name: number[] = [];
  #nameDone = false;
  #word = '';
  #depth = 0;
  #rows = 0;
  #quote = QUOTE;

  /** Rows per table seen so far, tables in dump order (tables without rows have 0). */
  tables(): Record<string, number> {
    return Object.fromEntries(this.#tables);
  }

  push(chunk: Uint8Array): void {
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      switch (this.#state) {
        case LINE: {
          const c = chunk[i++]!;
          if (c === NL) {
            this.#endLine();
            break;
          }
          if (this.#line.length < LINE_PREFIX) this.#line.push(c);
          if (this.#line.length === 7) {
            const start = String.fromCharCode(...this.#line);
            if (!this.#inBlock && (start === 'INSERT ' || start === 'REPLACE')) this.#startInsert();
            else if (start !== 'DELIMIT' && (this.#inBlock || start !== 'CREATE ')) this.#state = SKIP_LINE;
          }
          break;
        }
        case SKIP_LINE: {
          const at = chunk.indexOf(NL, i);
          if (at < 0) i = n;
          else {
            i = at + 1;
            this.#state = LINE;
            this.#line = [];
          }
          break;
        }
        case HEAD: {
          const c = chunk[i]!;
          const letter = (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f;
          if (letter) {
            if (this.#word.length < 8) this.#word += String.fromCharCode(c);
            i++;
          } else if (this.#word === 'VALUES') {
            this.#state = VALUES; // the byte after VALUES may be the first '(': count it there
          } else {
            this.#word = '';
            if (c === BACKTICK) this.#state = HEAD_IDENT;
            i++;
          }
          break;
        }
        case HEAD_IDENT: {
          const c = chunk[i++]!;
          if (c === BACKTICK) this.#state = HEAD_TICK;
          else if (!this.#nameDone) this.#name.push(c);
          break;
        }
        case HEAD_TICK: {
          if (chunk[i] === BACKTICK) {
            if (!this.#nameDone) this.#name.push(BACKTICK);
            this.#state = HEAD_IDENT;
            i++;
          } else {
            this.#nameDone = true;
            this.#state = HEAD;
          }
          break;
        }
        case VALUES: {
          let depth = this.#depth;
          let rows = this.#rows;
          for (; i < n; i++) {
            const c = chunk[i]!;
            if (SPECIAL[c] === 0) continue;
            if (c === LPAREN) {
              if (depth++ === 0) rows++;
            } else if (c === RPAREN) depth--;
            else if (c === QUOTE || c === DQUOTE) {
              this.#quote = c;
              this.#state = STR;
              i++;
              break;
            } else if (c === SEMICOLON && depth === 0) {
              this.#rows = rows;
              this.#endInsert();
              i++;
              break;
            }
          }
          this.#depth = depth;
          this.#rows = rows;
          break;
        }
        case STR: {
          const quote = this.#quote;
          for (; i < n; i++) {
            const c = chunk[i]!;
            if (IN_STRING[c] === 0) continue;
            if (c === BACKSLASH) {
              this.#state = STR_ESCAPE;
              i++;
              break;
            }
            if (c === quote) {
              this.#state = STR_QUOTE;
              i++;
              break;
            }
          }
          break;
        }
        case STR_ESCAPE:
          i++;
          this.#state = STR;
          break;
        case STR_QUOTE:
          if (chunk[i] === this.#quote) {
            i++;
            this.#state = STR;
          } else this.#state = VALUES;
          break;
      }
    }
  }

  #startInsert(): void {
    this.#state = HEAD;
    this.#name = [];
    this.#nameDone = false;
    this.#word = '';
    this.#depth = 0;
    this.#rows = 0;
  }

  #endInsert(): void {
    const name = Buffer.from(this.#name).toString('utf8');
    if (this.#nameDone) this.#tables.set(name, (this.#tables.get(name) ?? 0) + this.#rows);
    this.#state = SKIP_LINE;
  }

  #endLine(): void {
    const text = Buffer.from(this.#line).toString('utf8');
    this.#line = [];
    if (text.startsWith('DELIMITER ')) {
      this.#inBlock = text.slice('DELIMITER '.length).trim() !== ';';
      return;
    }
    if (this.#inBlock) return;
    const m = CREATE_TABLE.exec(text);
    if (m) {
      const name = m[1]!.replaceAll('``', '`');
      if (!this.#tables.has(name)) this.#tables.set(name, 0);
    }
  }
}
