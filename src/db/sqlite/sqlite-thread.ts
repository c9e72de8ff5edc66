/** Runs the SQLite work of sqlite-tasks.ts off the main thread. */
import { Worker } from 'node:worker_threads';
import { workerCount } from '../../util/threads.js';
import { sqliteTasks } from './sqlite-tasks.js';

type Tasks = typeof sqliteTasks;

/**
 * Runs a task on a worker thread (on this thread when SAFEPOINT_WORKERS=0), so that copying or checking a large
 * database does not stall the event loop. An abort terminates the worker; its connections are closed as it exits,
 * which releases their locks. Errors come back with their message and SQLite code (`SQLITE_BUSY`...).
 */
export async function runSqliteTask<K extends keyof Tasks>(name: K, args: Parameters<Tasks[K]>, signal?: AbortSignal): Promise<Awaited<ReturnType<Tasks[K]>>> {
  type Result = Awaited<ReturnType<Tasks[K]>>;
  signal?.throwIfAborted();
  if (workerCount() === 0) return (await (sqliteTasks[name] as (...a: unknown[]) => unknown)(...args)) as Result;
  const worker = new Worker(new URL('./sqlite-worker.js', import.meta.url), { workerData: { name, args } });
  return new Promise<Result>((resolve, reject) => {
    const onAbort = (): void => {
      reject(signal?.reason);
      void worker.terminate();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    worker.once('message', (m: { ok: true; value: Result } | { ok: false; message: string; code?: unknown }) => {
      if (m.ok) resolve(m.value);
      else reject(Object.assign(new Error(m.message), m.code === undefined ? {} : { code: m.code }));
    });
    worker.once('error', reject);
    worker.once('exit', (code) => {
      signal?.removeEventListener('abort', onAbort);
      reject(new Error(`the SQLite worker thread exited with code ${code} before answering`));
    });
  });
}
