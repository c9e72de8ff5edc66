/**
 * The structured log (pino): one JSON line per thing a command says — its start, every human line, warning and
 * JSON event, its end with the result — each carrying the operation id, so one run can be followed through a log
 * shared by many (the daemon's, cron's). Written synchronously: a line is on disk before the next step runs, and
 * nothing is lost when the process exits.
 */
import { pino, type Logger } from 'pino';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import type { OutputSink } from './output.js';
import { VERSION } from '../version.js';

export interface OperationLog extends OutputSink {
  readonly logger: Logger;
  start(command: string, inputs: Record<string, unknown>): void;
  end(result: 'ok' | 'failed', exitCode: number, error?: string): void;
}

/** A log appending to `file` (created if needed), every line tagged with `opId`. */
export function openLog(file: string, opId: string, onError?: (err: unknown) => void): OperationLog {
  const dest = pino.destination({ dest: resolve(file), sync: true, append: true, mkdir: true });
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
    end: guard((result: 'ok' | 'failed', exitCode: number, error?: string) => logger[result === 'ok' ? 'info' : 'error']({ result, exit_code: exitCode, seconds: (Date.now() - started) / 1000, ...(error ? { error } : {}) }, `end ${result}`)),
  };
}
