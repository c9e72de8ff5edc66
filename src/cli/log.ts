/**
 * The structured log (pino): one JSON line per thing a command says — its start, every human line, warning and
 * JSON event, its end with the result — each carrying the operation id, so one run can be followed through a log
 * shared by many (the daemon's, cron's). Written synchronously: a line is on disk before the next step runs, and
 * nothing is lost when the process exits.
 */
import type * as Pino from 'pino';
import type { Logger } from 'pino';
import { createRequire } from 'node:module';
import { mkdirSync, renameSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { stateDir } from '../util/state-dir.js';
import type { OutputSink } from './output.js';
import { VERSION } from '../version.js';

export interface OperationLog extends OutputSink {
  readonly logger: Logger;
  start(command: string, inputs: Record<string, unknown>): void;
  end(result: 'ok' | 'failed', exitCode: number, error?: string): void;
  /** Rotates the file when it has grown too large and goes on in a new one (a long-running daemon). */
  rotate(): void;
}

/** pino, loaded by the first log opened: a run without a log (`--log-file none`) does not pay its ~9 MiB. */
const loadPino = (): typeof Pino => createRequire(import.meta.url)('pino') as typeof Pino;

/** A log appending to `file` (created if needed), every line tagged with `opId`. */
export function openLog(file: string, opId: string, onError?: (err: unknown) => void): OperationLog {
  const { pino } = loadPino();
  // the log holds everything the run printed (a deploy script's output too): readable by its owner only
  mkdirSync(dirname(resolve(file)), { recursive: true, mode: 0o700 });
  const dest = pino.destination({ dest: resolve(file), sync: true, append: true, mode: 0o600 });
  /** The inode written to (the file opened, or reopened after a rotation). */
  let writing = statSync(resolve(file), { throwIfNoEntry: false })?.ino;
  let failed = false;
  const fail = (err: unknown): void => {
    if (failed) return;
    failed = true;
    onError?.(err);
  };
  dest.on('error', fail);
  const logger = pino({ base: { op_id: opId, pid: process.pid, hostname: hostname(), version: VERSION }, timestamp: pino.stdTimeFunctions.isoTime }, dest);
  // a full disk or a revoked permission: the write throws; the run goes on without its log
  const guard = <A extends unknown[]>(fn: (...a: A) => void) => (...a: A): void => {
    if (failed) return;
    try {
      fn(...a);
    } catch (err) {
      fail(err);
    }
  };
  const started = Date.now();
  return {
    logger,
    info: guard((line: string) => logger.info(line)),
    warn: guard((line: string) => logger.warn(line)),
    event: guard((obj: Record<string, unknown>) => {
      // progress ticks would drown the log; everything else is kept
      if (obj.message_type !== 'status') logger.info({ event: obj }, String(obj.message_type ?? 'event'));
    }),
    start: guard((command: string, inputs: Record<string, unknown>) => logger.info({ command, inputs }, `start ${command}`)),
    rotate: guard(() => {
      rotateLog(resolve(file));
      // reopen when the file at the path is no longer the one written to: rotated here, or by another run
      const atPath = statSync(resolve(file), { throwIfNoEntry: false });
      if (!atPath || atPath.ino !== writing) {
        dest.reopen();
        writing = statSync(resolve(file), { throwIfNoEntry: false })?.ino;
      }
    }),
    end: guard((result: 'ok' | 'failed', exitCode: number, error?: string) => logger[result === 'ok' ? 'info' : 'error']({ result, exit_code: exitCode, seconds: (Date.now() - started) / 1000, ...(error ? { error } : {}) }, `end ${result}`)),
  };
}

/** Where operations log when no file is given: safepoint.jsonl in the state folder (the daemon's too). */
export function defaultLogFile(): string {
  return join(stateDir(), 'safepoint.jsonl');
}

/** Past this size a log is rotated when a run opens it. */
export const LOG_ROTATE_BYTES = 16 * 1024 * 1024;
/** How many rotated logs are kept (`.1` the newest). */
export const LOG_KEEP = 4;

/**
 * Rotates `file` when it has grown past `maxBytes`: `file.1` … `file.<keep>`, the oldest dropped. Each rename is
 * atomic: two runs rotating at the same moment lose no line written, at worst one old generation sooner.
 */
export function rotateLog(file: string, maxBytes = LOG_ROTATE_BYTES, keep = LOG_KEEP): void {
  let size: number;
  try {
    size = statSync(file).size;
  } catch {
    return;
  }
  if (size <= maxBytes) return;
  for (let i = keep - 1; i >= 1; i--) {
    try {
      renameSync(`${file}.${i}`, `${file}.${i + 1}`);
    } catch {
      // that generation does not exist yet
    }
  }
  try {
    renameSync(file, `${file}.1`);
  } catch {
    // another run rotated it first
  }
}
