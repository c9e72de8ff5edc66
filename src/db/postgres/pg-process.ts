/** Running PostgreSQL's server-side tools (pg_basebackup, pg_ctl, pg_verifybackup, tar) with captured stderr and one-line errors. */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { PostgresSource } from '../../config/schema-sources.js';
import { SafepointError, UserError, isErrno } from '../../util/errors.js';
import { keepOutput } from '../../util/child-output.js';
import { errorLines } from './pg-tools.js';

const STDERR_KEEP = 64 * 1024;

/** A server tool (pg_basebackup, pg_ctl, tar...) exited with an error; the message is one line. */
export class PhysicalToolError extends SafepointError {
  readonly stderr: string;
  constructor(what: string, code: number | null, signal: NodeJS.Signals | null, stderr: string) {
    const lines = errorLines(stderr);
    super(`${what} failed (${signal ? `killed by ${signal}` : `exit code ${code}`})${lines ? `: ${lines}` : ''}`);
    this.stderr = stderr;
  }
}

export function binPath(source: Pick<PostgresSource, 'bin_dir'>, tool: string): string {
  return source.bin_dir ? join(source.bin_dir, tool) : tool;
}

export interface RunOptions {
  readonly what: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Run as this OS user (when we are root and the data directory belongs to someone else). */
  readonly as?: { readonly uid: number; readonly gid: number } | null;
  readonly cwd?: string;
  readonly stdin?: AsyncIterable<Uint8Array>;
  readonly signal?: AbortSignal;
  /** Without it the tool is looked up as a PostgreSQL server tool in the message. */
  readonly notFound?: string;
}

export interface Running {
  readonly stdout: AsyncIterable<Buffer>;
  readonly stderr: () => string;
  /** Resolves when the process has exited with code 0; rejects with a PhysicalToolError or a not-found UserError. */
  readonly done: Promise<void>;
  kill(): void;
}

export function launch(cmd: string, args: readonly string[], o: RunOptions): Running {
  const child = spawn(cmd, args, {
    stdio: [o.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    ...(o.env ? { env: o.env } : {}),
    ...(o.cwd ? { cwd: o.cwd } : {}),
    ...(o.as ? { uid: o.as.uid, gid: o.as.gid } : {}),
    ...(o.signal ? { signal: o.signal } : {}),
  });
  let err = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => {
    err += d;
    if (err.length > 2 * STDERR_KEEP) err = err.slice(-STDERR_KEEP);
  });
  let feeding: Promise<void> = Promise.resolve();
  if (o.stdin) {
    child.stdin!.on('error', () => undefined); // EPIPE when the tool exits early: its exit code tells why
    feeding = pipeline(Readable.from(o.stdin), child.stdin!).catch((e: unknown) => {
      if (!isErrno(e, 'EPIPE', 'ERR_STREAM_PREMATURE_CLOSE')) {
        child.kill('SIGTERM');
        throw e;
      }
    });
    feeding.catch(() => undefined);
  }
  const exited = new Promise<void>((res, rej) => {
    let spawnError: unknown;
    child.once('error', (e) => {
      spawnError = e;
    });
    child.once('close', (code, signal) => {
      if (isErrno(spawnError, 'ENOENT')) rej(new UserError(o.notFound ?? `${cmd} not found: install the PostgreSQL server tools or set bin_dir`, { cause: spawnError }));
      else if (spawnError !== undefined) rej(spawnError);
      else if (code === 0) res();
      else rej(new PhysicalToolError(o.what, code, signal, err.slice(-STDERR_KEEP)));
    });
  });
  // the feeding error (a snapshot blob that fails to load) explains a failed exit better than the exit code
  const done = Promise.all([exited.catch(async (e: unknown) => {
    await feeding;
    throw e;
  }), feeding]).then(() => undefined);
  done.catch(() => undefined);
  return {
    // read from now on: a caller may start iterating after the tool has exited (see keepOutput)
    stdout: keepOutput(child.stdout!) as AsyncIterable<Buffer>,
    stderr: () => err,
    done,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    },
  };
}

/** Runs a tool to completion; resolves with its stdout and stderr. */
export async function runCmd(cmd: string, args: readonly string[], o: RunOptions): Promise<{ stdout: string; stderr: string }> {
  const r = launch(cmd, args, o);
  const out: Buffer[] = [];
  for await (const b of r.stdout) out.push(b);
  await r.done;
  return { stdout: Buffer.concat(out).toString('utf8'), stderr: r.stderr() };
}

/** One row: version, version number, system identifier (or empty), checksums, extra tablespaces, in recovery. */
