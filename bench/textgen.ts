// Synthetic file contents: pseudo-English prose, source-code-like text, log
// lines, database-like pages of fixed-size records, and random bytes.
// Every generator is a pure function of its label, so any file (or any page
// of the database file) can be regenerated exactly.
import { Rng, RandomStream, seedOf } from './prng.js';

export type Kind = 'prose' | 'code' | 'log' | 'db' | 'random';

/** Produces a file's bytes in order; each returned Buffer is valid until the next call. */
export interface Gen {
  next(n: number): Buffer;
}

export const CHUNK = 4 << 20;
export const DB_PAGE = 4096;

const enc = (s: string): Uint8Array => Buffer.from(s, 'latin1');
const literals = new Map<string, Uint8Array>();
/** Cached bytes of a string literal (avoids re-encoding in hot loops). */
function lit(s: string): Uint8Array {
  let bytes = literals.get(s);
  if (!bytes) literals.set(s, (bytes = enc(s)));
  return bytes;
}

const COMMON = (
  'the of and to in is that it for was on are as with be at by this have from or one had ' +
  'not but what all were when we there can an your which their said if do will each about ' +
  'how up out them then she many some so these would other into has more her two like him ' +
  'see time could no make than first been its who now people my made over did down only ' +
  'way find use may water long little very after words called just where most know backup ' +
  'restore snapshot repository file folder data server client request value error system'
).split(' ');
const SYLLABLES = 'ka to ri mo sa ne lu pe di go ra vi en an or el is ul ar om in et ba cu fe'.split(' ');

function buildVocabulary(): Uint8Array[] {
  const rng = Rng.of('vocabulary');
  const words = new Set(COMMON);
  while (words.size < 2500) {
    let w = '';
    const n = rng.int(1, 4);
    for (let i = 0; i < n; i++) w += rng.pick(SYLLABLES);
    words.add(w);
  }
  return [...words].map(enc);
}

const VOCAB = buildVocabulary();
const LEVELS = ['INFO ', 'INFO ', 'INFO ', 'INFO ', 'INFO ', 'INFO ', 'DEBUG', 'DEBUG', 'WARN ', 'ERROR'].map(enc);
const COMPONENTS = ['[http]', '[db]', '[auth]', '[cache]', '[worker]', '[scheduler]', '[api]'].map(enc);
const KEYWORDS = ['function ', 'if (', 'for (const ', 'while (', 'class '].map(enc);
const HEX = enc('0123456789abcdef');

// Shared output buffer: callers write each chunk before asking for the next one.
const OUT = Buffer.allocUnsafe(CHUNK);

/** Line-oriented generator: subclasses write one line (or page) at a time. */
abstract class LineGen implements Gen {
  protected readonly rng: Rng;
  protected buf = Buffer.alloc(8192);
  protected pos = 0;
  private pendStart = 0;
  private pendEnd = 0;

  constructor(label: string) {
    this.rng = Rng.of(label);
  }

  protected abstract line(): void;

  next(n: number): Buffer {
    let filled = 0;
    while (filled < n) {
      if (this.pendStart >= this.pendEnd) {
        this.pos = 0;
        this.line();
        this.pendStart = 0;
        this.pendEnd = this.pos;
      }
      const take = Math.min(this.pendEnd - this.pendStart, n - filled);
      this.buf.copy(OUT, filled, this.pendStart, this.pendStart + take);
      filled += take;
      this.pendStart += take;
    }
    return OUT.subarray(0, n);
  }

  protected put(bytes: Uint8Array): void {
    for (let i = 0; i < bytes.length; i++) this.buf[this.pos++] = bytes[i] as number;
  }

  protected ch(code: number): void {
    this.buf[this.pos++] = code;
  }

  protected num(n: number): void {
    this.pos += this.buf.write(String(n), this.pos, 'latin1');
  }

  /** A word from a Zipf-like distribution over the vocabulary. */
  protected word(capital = false): void {
    const u = this.rng.float();
    const w = VOCAB[Math.floor(u * u * u * VOCAB.length)] as Uint8Array;
    const start = this.pos;
    this.put(w);
    if (capital) this.buf[start] = (this.buf[start] as number) & 0xdf;
  }

  protected words(n: number): void {
    for (let i = 0; i < n; i++) {
      if (i > 0) this.ch(32);
      this.word();
    }
  }
}

class ProseGen extends LineGen {
  protected line(): void {
    if (this.rng.float() < 0.08) {
      this.put(lit('## '));
      this.word(true);
      this.ch(32);
      this.words(this.rng.int(1, 4));
      this.put(lit('\n\n'));
      return;
    }
    const sentences = this.rng.int(1, 5);
    for (let s = 0; s < sentences; s++) {
      if (s > 0) this.ch(32);
      this.word(true);
      const n = this.rng.int(4, 15);
      for (let i = 0; i < n; i++) {
        this.ch(this.rng.float() < 0.07 ? 44 : 32);
        if (this.buf[this.pos - 1] === 44) this.ch(32);
        this.word();
      }
      this.ch(46);
    }
    this.put(lit('\n\n'));
  }
}

class CodeGen extends LineGen {
  private indent = 0;

  private ident(): void {
    this.word();
    if (this.rng.float() < 0.6) this.word(true);
  }

  private pad(): void {
    for (let i = 0; i < this.indent * 2; i++) this.ch(32);
  }

  protected line(): void {
    const r = this.rng.float();
    if (this.indent > 0 && r < 0.15) {
      this.indent--;
      this.pad();
      this.put(lit('}\n'));
      return;
    }
    this.pad();
    if (r < 0.27 && this.indent < 6) {
      this.put(this.rng.pick(KEYWORDS));
      this.ident();
      this.put(lit(' ('));
      this.ident();
      this.put(lit(', '));
      this.ident();
      this.put(lit(') {\n'));
      this.indent++;
    } else if (r < 0.6) {
      this.put(lit('const '));
      this.ident();
      this.put(lit(' = '));
      this.ident();
      this.ch(46);
      this.ident();
      this.ch(40);
      this.ident();
      this.put(lit(', '));
      this.num(this.rng.int(0, 4096));
      this.put(lit(');\n'));
    } else if (r < 0.75) {
      this.put(lit('// '));
      this.words(this.rng.int(3, 12));
      this.ch(10);
    } else if (r < 0.83) {
      this.put(lit('return '));
      this.ident();
      this.put(lit(';\n'));
    } else if (r < 0.88) {
      this.ch(10);
    } else {
      this.ident();
      this.ch(46);
      this.ident();
      this.put(lit(' = '));
      this.ident();
      this.put(lit(' + '));
      this.num(this.rng.int(1, 99));
      this.put(lit(';\n'));
    }
  }
}

class LogGen extends LineGen {
  private ms: number;
  private second = -1;
  private prefix: Uint8Array = new Uint8Array(0);

  constructor(label: string) {
    super(label);
    this.ms = Date.UTC(2024, 0, 1) + (seedOf(label) % 1_000_000) * 1000;
  }

  protected line(): void {
    this.ms += this.rng.int(0, 400);
    const second = Math.floor(this.ms / 1000);
    if (second !== this.second) {
      this.second = second;
      this.prefix = enc(new Date(second * 1000).toISOString().slice(0, 20));
    }
    this.put(this.prefix);
    const milli = this.ms % 1000;
    this.ch(48 + Math.floor(milli / 100));
    this.ch(48 + (Math.floor(milli / 10) % 10));
    this.ch(48 + (milli % 10));
    this.put(lit('Z '));
    this.put(this.rng.pick(LEVELS));
    this.ch(32);
    this.put(this.rng.pick(COMPONENTS));
    this.ch(32);
    this.words(this.rng.int(3, 10));
    this.put(lit(' req='));
    for (let i = 0; i < 8; i++) this.ch(HEX[this.rng.u32() & 15] as number);
    this.put(lit(' dur='));
    this.num(this.rng.int(0, 2500));
    this.put(lit('ms user='));
    this.num(this.rng.int(1, 5000));
    this.ch(10);
  }
}

const FIRST = 'alice bob carol dave erin frank grace heidi ivan judy mallory nina oscar peggy'.split(' ');
const LAST = 'smith jones brown taylor wilson davies evans thomas johnson roberts walker'.split(' ');
const STATUS = ['active', 'pending', 'closed', 'refunded'].map(enc);

/** 4 KiB pages of 34 fixed-size (120-byte) records; page p depends only on (label, p). */
class DbGen extends LineGen {
  private readonly seed: number;

  constructor(label: string, private page: number) {
    super(label);
    this.seed = seedOf(label);
  }

  protected line(): void {
    const rng = new Rng(this.seed ^ Math.imul(this.page + 1, 0x9e3779b1));
    const b = this.buf;
    b.fill(0, 0, DB_PAGE);
    b.write('SPDB', 0, 'latin1');
    b.writeUInt32LE(this.page, 4);
    b.writeUInt16LE(34, 8);
    for (let k = 0; k < 34; k++) {
      const o = 16 + k * 120;
      const id = this.page * 34 + k + 1;
      b.writeUInt32LE(id, o);
      b.writeUInt32LE(1_700_000_000 + id * 37 + rng.int(0, 30), o + 8);
      b.writeUInt32LE(rng.int(0, 100_000), o + 12);
      b.set(rng.pick(STATUS), o + 16);
      const first = rng.pick(FIRST);
      const last = rng.pick(LAST);
      b.write(`${first} ${last}`, o + 28, 'latin1');
      b.write(`${first}.${last}${id % 97}@example.com`, o + 60, 'latin1');
      b.writeUInt32LE(rng.u32() & 0x0f0f, o + 104);
    }
    this.pos = DB_PAGE;
    this.page++;
  }
}

class RandomGen implements Gen {
  private readonly stream: RandomStream;
  constructor(label: string) {
    this.stream = new RandomStream(label);
  }
  next(n: number): Buffer {
    return this.stream.next(n);
  }
}

/** Generator for a file's content; `startPage` only applies to 'db'. */
export function makeGen(kind: Kind, label: string, startPage = 0): Gen {
  switch (kind) {
    case 'prose':
      return new ProseGen(label);
    case 'code':
      return new CodeGen(label);
    case 'log':
      return new LogGen(label);
    case 'db':
      return new DbGen(label, startPage);
    case 'random':
      return new RandomGen(label);
  }
}
