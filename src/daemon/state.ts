/**
 * What the daemon remembers between runs (a JSON file in its state folder): when each job last started and ended,
 * how, and how many times the check ran (its read-data slice rotates). Written to a temporary name then renamed,
 * so a crash never leaves half a file.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { isErrno } from '../util/errors.js';

export interface JobState {
  last_start: string | null;
  last_end: string | null;
  last_exit: number | null;
  last_ok: string | null;
  last_seconds: number | null;
  last_error: string | null;
  runs: number;
}

export interface DaemonState {
  version: 1;
  /** When this daemon first saw its jobs: a job that never ran is "missed" only for schedules after that. */
  since: string;
  jobs: Record<string, JobState>;
}

export async function loadState(file: string, now: Date): Promise<DaemonState> {
  try {
    const s = JSON.parse(await readFile(file, 'utf8')) as DaemonState;
    if (s.version === 1 && typeof s.jobs === 'object') return s;
  } catch (err) {
    if (!isErrno(err, 'ENOENT') && !(err instanceof SyntaxError)) throw err;
  }
  return { version: 1, since: now.toISOString(), jobs: {} };
}

export async function saveState(file: string, state: DaemonState): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, JSON.stringify(state, null, 2), { mode: 0o600 });
  await rename(tmp, file);
}

export function jobState(state: DaemonState, id: string): JobState {
  return (state.jobs[id] ??= { last_start: null, last_end: null, last_exit: null, last_ok: null, last_seconds: null, last_error: null, runs: 0 });
}
