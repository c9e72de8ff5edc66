import { availableParallelism } from 'node:os';

/** Worker threads to use: SAFEPOINT_WORKERS when set (0 = do everything on the main thread), else one per core. */
export function workerCount(env: NodeJS.ProcessEnv = process.env): number {
  const n = env.SAFEPOINT_WORKERS === undefined || env.SAFEPOINT_WORKERS === '' ? NaN : Number(env.SAFEPOINT_WORKERS);
  return Number.isInteger(n) && n >= 0 ? n : availableParallelism();
}
