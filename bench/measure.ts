// Running a child process while measuring wall time and peak RSS.
// Peak RSS comes from GNU time (`/usr/bin/time -f %M`) when installed,
// otherwise from polling VmHWM in /proc/PID/status.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RunResult {
  code: number;
  seconds: number;
  rssMiB: number | null;
  stdoutTail: string;
  stderrTail: string;
}

const GNU_TIME = '/usr/bin/time';
const TAIL = 64 * 1024;
export const rssMethod = existsSync(GNU_TIME) ? 'GNU time %M' : 'polling /proc/PID/status VmHWM';

/** Keeps only the last TAIL bytes of a stream. */
class Tail {
  private text = '';
  add(chunk: Buffer): void {
    this.text = (this.text + chunk.toString('utf8')).slice(-TAIL);
  }
  toString(): string {
    return this.text;
  }
}

function readHwmKiB(pid: number): number | null {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m?.[1] ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

export async function runMeasured(argv: string[], env: NodeJS.ProcessEnv): Promise<RunResult> {
  const timeDir = existsSync(GNU_TIME) ? mkdtempSync(join(tmpdir(), 'sp-bench-')) : null;
  const timeFile = timeDir ? join(timeDir, 'time') : '';
  const full = timeDir ? [GNU_TIME, '-f', '%M %e', '-o', timeFile, ...argv] : argv;
  const [cmd, ...args] = full as [string, ...string[]];
  const stdout = new Tail();
  const stderr = new Tail();
  let hwmKiB: number | null = null;
  const t0 = performance.now();
  const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (c: Buffer) => stdout.add(c));
  child.stderr.on('data', (c: Buffer) => stderr.add(c));
  const poll = timeDir
    ? null
    : setInterval(() => {
        const v = child.pid === undefined ? null : readHwmKiB(child.pid);
        if (v !== null) hwmKiB = Math.max(hwmKiB ?? 0, v);
      }, 20);
  const code = await new Promise<number>((resolve) => {
    child.on('error', (err) => {
      stderr.add(Buffer.from(String(err)));
      resolve(127);
    });
    child.on('close', (c, signal) => resolve(c ?? (signal ? 128 : 1)));
  });
  const seconds = (performance.now() - t0) / 1000;
  if (poll) clearInterval(poll);
  if (timeDir) {
    // GNU time may prefix "Command exited with non-zero status N"; the figures are on the last line.
    const lines = existsSync(timeFile) ? readFileSync(timeFile, 'utf8').trim().split('\n') : [];
    const kib = Number(lines.at(-1)?.split(' ')[0]);
    hwmKiB = Number.isFinite(kib) && kib > 0 ? kib : null;
    rmSync(timeDir, { recursive: true, force: true });
  }
  return { code, seconds, rssMiB: hwmKiB === null ? null : hwmKiB / 1024, stdoutTail: String(stdout), stderrTail: String(stderr) };
}

/** Flush dirty pages so that one step's writeback is not billed to the next. */
export function syncDisks(): number {
  const t0 = performance.now();
  spawnSync('sync', { stdio: 'ignore' });
  return (performance.now() - t0) / 1000;
}

/** Absolute path of an executable on PATH, or null. */
export function which(name: string): string | null {
  const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() || null : null;
}

/** First line of a command's output, or null if it fails. */
export function firstLine(argv: string[], env?: NodeJS.ProcessEnv): string | null {
  const [cmd, ...args] = argv as [string, ...string[]];
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: env ?? process.env, timeout: 30_000 });
  return r.status === 0 ? (r.stdout.trim().split('\n')[0] ?? null) : null;
}
