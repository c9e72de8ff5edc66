/**
 * What the daemon remembers between runs (a JSON file in its state folder): when each job last started and ended,
 * how, and how many times the check ran (its read-data slice rotates). Written to a temporary name then renamed,
 * so a crash never leaves half a file.
 */
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { isErrno } from '../util/errors.js';

export interface JobState {
  last_start: string | null;
  last_end: string | null;
  last_exit: number | null;
  last_ok: string | null;
  last_seconds: number | null;
  last_error: string | null;
  /** When the last run that ended by itself (not stopped with the daemon, not lost in a crash) started. */
  last_completed_start?: string | null;
  runs: number;
  /** Successful runs: the check's read-data slice moves on only when a slice was read. */
  ok_runs?: number;
}

export interface DaemonState {
  version: 1;
  /** When this daemon first saw its jobs: a job that never ran is "missed" only for schedules after that. */
  since: string;
  jobs: Record<string, JobState>;
  /** Each source's last verdict: an alert is sent when it changes, not again because the daemon restarted. */
  verdicts?: Record<string, 'ok' | 'at risk' | 'violated'>;
}

export async function loadState(file: string, now: Date, onProblem?: (message: string) => void): Promise<DaemonState> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return { version: 1, since: now.toISOString(), jobs: {} };
    throw err;
  }
  try {
    const s = JSON.parse(text) as DaemonState;
    if (s.version === 1 && typeof s.jobs === 'object') return s;
    onProblem?.(`${file} is not a daemon state file of version 1: starting a new one (missed runs before now are not caught up)`);
  } catch {
    onProblem?.(`${file} is damaged (not JSON): kept as ${file}.damaged; starting a new one (missed runs before now are not caught up)`);
    await rename(file, `${file}.damaged`).catch(() => undefined);
  }
  return { version: 1, since: now.toISOString(), jobs: {} };
}

let saving: Promise<void> = Promise.resolve();
let seq = 0;

/** Saves one state after another (never two writes at once), each through its own temporary file, flushed. */
export function saveState(file: string, state: DaemonState): Promise<void> {
  const text = JSON.stringify(state, null, 2);
  const run = async (): Promise<void> => {
    await mkdir(dirname(file), { recursive: true, mode: 0o700 });
    const tmp = `${file}.tmp-${process.pid}-${++seq}`;
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(text);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
  };
  const next = saving.then(run, run);
  saving = next.catch(() => undefined);
  return next;
}

export function jobState(state: DaemonState, id: string): JobState {
  return (state.jobs[id] ??= { last_start: null, last_end: null, last_exit: null, last_ok: null, last_seconds: null, last_error: null, runs: 0 });
}
