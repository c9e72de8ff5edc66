/** Human and JSON output for commands: one place decides what goes to stdout, stderr and the TTY. */
export interface OutputOptions {
  readonly json: boolean;
  readonly quiet: boolean;
}

/** Where everything a command says also goes, whatever the console shows: the structured log (cli/log.ts). */
export interface OutputSink {
  info(line: string): void;
  warn(line: string): void;
  event(obj: Record<string, unknown>): void;
}

/** The version of the `--json` event schema (docs/json-events.md). */
export const EVENT_VERSION = 1;

export class Output {
  readonly json: boolean;
  readonly quiet: boolean;
  readonly tty: boolean;
  #statusShown = false;
  /** The last `summary` event of the command (its figures, for the journal), sent or not. */
  lastSummary: Record<string, unknown> | null = null;
  /** What the deploy scripts ran and printed (`script` events), for the journal entry of the command. */
  readonly scripts: Record<string, unknown>[] = [];
  sink: OutputSink | null = null;
  /** The terminal the status line is drawn on. */
  readonly #stream: Pick<NodeJS.WriteStream, 'isTTY' | 'columns' | 'write'>;

  constructor(o: OutputOptions, stream: Pick<NodeJS.WriteStream, 'isTTY' | 'columns' | 'write'> = process.stderr) {
    this.json = o.json;
    this.quiet = o.quiet;
    this.tty = !o.json && !o.quiet && stream.isTTY === true;
    this.#stream = stream;
  }

  /** A line for humans on stdout (suppressed with --json and --quiet). */
  info(line: string): void {
    this.sink?.info(line);
    if (this.json || this.quiet) return;
    this.clearStatus();
    process.stdout.write(line + '\n');
  }

  /** A JSON object as one line on stdout (only with --json). */
  event(obj: Record<string, unknown>): void {
    if (obj.message_type === 'summary') this.lastSummary = obj;
    if (obj.message_type === 'script') this.scripts.push(obj);
    this.sink?.event(obj);
    // the event schema's version (docs/json-events.md): new fields are compatible, a rename or removal bumps it
    if (this.json) process.stdout.write(JSON.stringify({ ...obj, event_version: EVENT_VERSION }) + '\n');
  }

  /** Warnings go to stderr in both modes. */
  warn(line: string): void {
    this.sink?.warn(line);
    this.clearStatus();
    process.stderr.write(`warning: ${line}\n`);
  }

  /** A transient status line on the terminal (progress); no-op elsewhere. */
  status(line: string): void {
    if (!this.tty) return;
    const width = this.#stream.columns || 100;
    this.#stream.write('\r\x1b[2K' + (line.length > width - 1 ? line.slice(0, width - 2) + '…' : line));
    this.#statusShown = true;
  }

  clearStatus(): void {
    if (this.#statusShown) {
      this.#stream.write('\r\x1b[2K');
      this.#statusShown = false;
    }
  }
}

/** Calls fn at most every `ms` milliseconds (the last call is flushed by `flush`). */
export function throttle<A extends unknown[]>(ms: number, fn: (...a: A) => void): ((...a: A) => void) & { flush(): void } {
  let last = 0;
  let pending: A | null = null;
  const f = (...a: A): void => {
    const now = Date.now();
    if (now - last >= ms) {
      last = now;
      pending = null;
      fn(...a);
    } else pending = a;
  };
  f.flush = (): void => {
    if (pending) fn(...pending);
    pending = null;
  };
  return f;
}
