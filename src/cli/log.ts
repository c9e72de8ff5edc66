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
export function openLog(file: string, opId: string): OperationLog {
  const logger = pino({ base: { op_id: opId, pid: process.pid, hostname: hostname(), version: VERSION }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ dest: resolve(file), sync: true, append: true, mkdir: true }));
  const started = Date.now();
  return {
    logger,
    info: (line) => logger.info(line),
    warn: (line) => logger.warn(line),
    event: (obj) => {
      // progress ticks would drown the log; everything else is kept
      if (obj.message_type !== 'status') logger.info({ event: obj }, String(obj.message_type ?? 'event'));
    },
    start: (command, inputs) => logger.info({ command, inputs }, `start ${command}`),
    end: (result, exitCode, error) => logger[result === 'ok' ? 'info' : 'error']({ result, exit_code: exitCode, seconds: (Date.now() - started) / 1000, ...(error ? { error } : {}) }, `end ${result}`),
  };
}
