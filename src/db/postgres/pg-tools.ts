/**
 * Runs the PostgreSQL client tools (psql, pg_dump, pg_dumpall, pg_restore) for a configured source. The connection
 * goes through libpq's environment (PGHOST, PGPORT, PGUSER, PGDATABASE, and PGPASSWORD read from `password_file`,
 * else whatever PGPASSWORD / PGPASSFILE / ~/.pgpass the process has), never through the command line, so it never
 * shows in `ps` or in messages. Tools come from `bin_dir` when it is set, else from PATH, and never prompt (`-w`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { PostgresSource } from '../../config/schema-sources.js';
import { SafepointError, UserError, errorMessage, isErrno } from '../../util/errors.js';

/** What the tools need of a source. */
export type PgToolsConfig = Pick<PostgresSource, 'connection' | 'bin_dir'>;

export type PgTool = 'psql' | 'pg_dump' | 'pg_dumpall' | 'pg_restore';

/** Field separator of psql's unaligned output: a byte that does not occur in names or numbers. */
const FS = '\x1f';
/** How much of a tool's stderr is kept for the error message. */
const STDERR_KEEP = 64 * 1024;

/** A client tool exited with an error; the message names the tool and carries its last error lines, on one line. */
export class PgToolError extends SafepointError {
  readonly tool: PgTool;
  readonly code: number | null;
  /** The end of what the tool wrote on stderr. */
  readonly stderr: string;
  constructor(tool: PgTool, what: string, code: number | null, signal: NodeJS.Signals | null, stderr: string) {
    const status = signal ? `killed by ${signal}` : `exit code ${code}`;
    const lines = errorLines(stderr);
    super(`${what} failed (${status})${lines ? `: ${lines}` : ''}`);
    this.tool = tool;
    this.code = code;
    this.stderr = stderr;
  }
}

/**
 * The error messages of a tool's stderr, one line: the last three lines that look like errors (else the last three
 * lines), whitespace collapsed, each cut at 300 characters, joined with " | ". `Command was:` echoes are left out.
 */
export function errorLines(stderr: string): string {
  const lines = stderr.split(/\r?\n/).map((l) => l.replace(/\s+/g, ' ').trim()).filter((l) => l !== '' && !l.startsWith('Command was:'));
  const errors = lines.filter((l) => /error|fatal|failed|denied|could not|does not exist|panic/i.test(l));
  return (errors.length > 0 ? errors : lines).slice(-3).map((l) => (l.length > 300 ? `${l.slice(0, 297)}...` : l)).join(' | ');
}

/** The path of a tool: in bin_dir when set, else the bare name (looked up on PATH). */
export function toolPath(cfg: PgToolsConfig, tool: PgTool): string {
  return cfg.bin_dir ? join(cfg.bin_dir, tool) : tool;
}

/** The environment of a tool connecting to `database` of the configured server. */
export async function toolEnv(cfg: PgToolsConfig, database: string, base: NodeJS.ProcessEnv = process.env): Promise<NodeJS.ProcessEnv> {
  const c = cfg.connection;
  const env: NodeJS.ProcessEnv = { ...base, PGPORT: String(c.port), PGDATABASE: database, PGAPPNAME: 'safepoint', PGCONNECT_TIMEOUT: base.PGCONNECT_TIMEOUT ?? '10' };
  if (c.host !== undefined) {
    env.PGHOST = c.host;
    delete env.PGHOSTADDR; // an inherited address would silently win over the configured host
  }
  if (c.user !== undefined) env.PGUSER = c.user;
  if (c.password_file !== undefined) env.PGPASSWORD = await readPassword(c.password_file);
  return env;
}

async function readPassword(file: string): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).replace(/\r?\n$/, '');
  } catch (err) {
    throw new UserError(`cannot read the PostgreSQL password_file ${file}: ${errorMessage(err)}`, { cause: err });
  }
}

function notFound(cfg: PgToolsConfig, tool: PgTool, err: unknown): UserError {
  const where = cfg.bin_dir ? `in bin_dir ${cfg.bin_dir}` : 'on PATH';
  return new UserError(`${tool} not found ${where}: install the PostgreSQL client tools (e.g. postgresql-client) or set bin_dir`, { cause: err });
}

export interface ToolOptions {
  /** The database to connect to (PGDATABASE). */
  readonly database: string;
  /** For messages: what the tool does, e.g. `pg_dump of database "shop"`. Default: the tool's name. */
  readonly what?: string;
  readonly signal?: AbortSignal;
}

interface Started {
  readonly child: ChildProcess;
  readonly stderr: () => string;
  /** Resolves when the process has exited and its pipes are closed; rejects with a PgToolError or a not-found error. */
  readonly done: Promise<void>;
}

async function start(cfg: PgToolsConfig, tool: PgTool, args: readonly string[], o: ToolOptions, stdin: 'pipe' | 'ignore'): Promise<Started> {
  const env = await toolEnv(cfg, o.database);
  const child = spawn(toolPath(cfg, tool), args, { env, stdio: [stdin, 'pipe', 'pipe'], ...(o.signal ? { signal: o.signal } : {}) });
  let err = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => {
    err += d;
    if (err.length > 2 * STDERR_KEEP) err = err.slice(-STDERR_KEEP);
  });
  const done = new Promise<void>((resolve, reject) => {
    let spawnError: unknown;
    child.once('error', (e) => {
      spawnError = e;
    });
    child.once('close', (code, signal) => {
      if (isErrno(spawnError, 'ENOENT', 'EACCES')) reject(notFound(cfg, tool, spawnError));
      else if (spawnError !== undefined && (spawnError as Error).name === 'AbortError') reject(spawnError);
      else if (code === 0) resolve();
      else reject(new PgToolError(tool, o.what ?? tool, code, signal, err.slice(-STDERR_KEEP)));
    });
  });
  done.catch(() => undefined); // observed by the caller; never an unhandled rejection
  return { child, stderr: () => err, done };
}

/** Runs a tool to completion; resolves with its stdout, rejects with a PgToolError when it exits non-zero. */
export async function runTool(cfg: PgToolsConfig, tool: PgTool, args: readonly string[], o: ToolOptions & { input?: string }): Promise<Buffer> {
  const s = await start(cfg, tool, args, o, o.input === undefined ? 'ignore' : 'pipe');
  const out: Buffer[] = [];
  s.child.stdout!.on('data', (d: Buffer) => out.push(d));
  if (o.input !== undefined) {
    s.child.stdin!.on('error', () => undefined); // EPIPE when the tool exits early: its exit code tells why
    s.child.stdin!.end(o.input);
  }
  await s.done;
  return Buffer.concat(out);
}

/**
 * The stdout of a tool as it is produced, for streaming into the repository. After the last byte the exit code is
 * checked: a tool that fails, even after writing most of its output, makes the iteration throw. A consumer that
 * stops early kills the tool.
 */
export async function* toolStream(cfg: PgToolsConfig, tool: PgTool, args: readonly string[], o: ToolOptions): AsyncGenerator<Buffer> {
  const s = await start(cfg, tool, args, o, 'ignore');
  let finished = false;
  try {
    for await (const chunk of s.child.stdout! as AsyncIterable<Buffer>) yield chunk;
    await s.done;
    finished = true;
  } finally {
    if (!finished && s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGTERM');
  }
}

/** psql for scripts: no psqlrc, unaligned tuples only, quiet, stops at the first error, never prompts. */
export const PSQL_ARGS = ['-X', '-A', '-t', '-q', '-w', '-v', 'ON_ERROR_STOP=1', '-F', FS] as const;

function rows(text: string): string[][] {
  return text.split('\n').filter((l) => l !== '').map((l) => l.split(FS));
}

/**
 * Runs SQL statements (each ending with `;`, run one by one in autocommit, as psql reads a script) in `database`;
 * resolves with the rows of every result, each a list of column texts (NULL is '').
 */
export async function psql(cfg: PgToolsConfig, database: string, sql: string, o: { signal?: AbortSignal; what?: string } = {}): Promise<string[][]> {
  const out = await runTool(cfg, 'psql', PSQL_ARGS, { database, input: sql, what: o.what ?? `psql on database ${JSON.stringify(database)}`, ...(o.signal ? { signal: o.signal } : {}) });
  return rows(out.toString('utf8'));
}

/**
 * One psql connection kept open across statements (for a transaction that must outlive single commands, such as
 * the one exporting the snapshot pg_dump reads). Statements run one at a time, in order.
 */
export class PsqlSession {
  readonly #s: Started;
  #out = '';
  #waiting: { marker: string; resolve: (rows: string[][]) => void; reject: (e: unknown) => void } | undefined;
  #failed: unknown;
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(s: Started) {
    this.#s = s;
    s.child.stdout!.setEncoding('utf8');
    s.child.stdout!.on('data', (d: string) => {
      this.#out += d;
      this.#deliver();
    });
    s.child.stdin!.on('error', () => undefined); // the exit code and stderr tell why
    s.done.then(
      () => this.#fail(new Error('psql exited')),
      (e: unknown) => this.#fail(e),
    );
  }

  static async open(cfg: PgToolsConfig, database: string, o: { signal?: AbortSignal } = {}): Promise<PsqlSession> {
    const s = await start(cfg, 'psql', PSQL_ARGS, { database, what: `psql on database ${JSON.stringify(database)}`, ...(o.signal ? { signal: o.signal } : {}) }, 'pipe');
    return new PsqlSession(s);
  }

  /** Runs statements (each ending with `;`) and resolves with the rows of their results. */
  query(sql: string): Promise<string[][]> {
    const run = this.#queue.then(() => this.#send(sql));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  #send(sql: string): Promise<string[][]> {
    if (this.#failed !== undefined) return Promise.reject(this.#failed);
    const marker = `__safepoint_${randomBytes(8).toString('hex')}__`;
    return new Promise((resolve, reject) => {
      this.#waiting = { marker, resolve, reject };
      this.#s.child.stdin!.write(`${sql}\n\\echo ${marker}\n`);
    });
  }

  #deliver(): void {
    const w = this.#waiting;
    if (!w) return;
    const line = `${w.marker}\n`;
    let at = 0;
    if (!this.#out.startsWith(line)) {
      const i = this.#out.indexOf(`\n${line}`);
      if (i < 0) return;
      at = i + 1;
    }
    const text = this.#out.slice(0, at);
    this.#out = this.#out.slice(at + w.marker.length + 1);
    this.#waiting = undefined;
    w.resolve(rows(text));
  }

  #fail(e: unknown): void {
    this.#failed ??= e;
    const w = this.#waiting;
    this.#waiting = undefined;
    w?.reject(e);
  }

  /** Ends the session (an open transaction is rolled back by the server) and waits for psql to exit. */
  async close(): Promise<void> {
    if (this.#s.child.exitCode === null && this.#s.child.signalCode === null) this.#s.child.stdin!.end('\\q\n');
    await this.#s.done.catch(() => undefined);
  }
}
