/** Worker thread entry: runs one task of sqlite-tasks.ts named in workerData, posts its result or its error. */
import { parentPort, workerData } from 'node:worker_threads';
import { errorMessage } from '../../util/errors.js';
import { sqliteTasks } from './sqlite-tasks.js';

const { name, args } = workerData as { name: keyof typeof sqliteTasks; args: unknown[] };
try {
  const value: unknown = await (sqliteTasks[name] as (...a: unknown[]) => unknown)(...args);
  parentPort?.postMessage({ ok: true, value });
} catch (err) {
  parentPort?.postMessage({ ok: false, message: errorMessage(err), code: (err as { code?: unknown }).code });
}
