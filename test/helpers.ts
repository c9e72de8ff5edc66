/** Shared test helpers: temp folders, running the real CLI, building trees of files. */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** dist/src/cli/main.js, found from this compiled file (dist/test/helpers.js). */
export const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'main.js');

/** Where the CLIs the tests run keep remote repositories' snapshot files (not the user's ~/.cache). */
const TEST_CACHE = process.env.SAFEPOINT_CACHE_DIR ?? join(tmpdir(), 'safepoint-test-cache');

export async function tempDir(prefix = 'sp-test-'): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, cleanup: () => rm(path, { recursive: true, force: true }) };
}

export interface RunResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI with SAFEPOINT_PASSWORD set (unless env overrides it). */
export function runCli(args: readonly string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string; as?: { uid: number; gid: number } | null } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: options.cwd,
      ...(options.as ? { uid: options.as.uid, gid: options.as.gid } : {}),
      env: { ...process.env, SAFEPOINT_PASSWORD: 'test-password', SAFEPOINT_CONFIG: '', SAFEPOINT_CACHE_DIR: TEST_CACHE, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    child.stdin.on('error', () => undefined); // EPIPE when the command exits first: its exit code tells why
    child.stdin.end(options.input ?? '');
  });
}

/** Deterministic pseudo-random bytes (xorshift32), so failures reproduce. */
export function pseudoRandom(n: number, seed = 1): Buffer {
  const b = Buffer.allocUnsafe(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    b[i] = x & 0xff;
  }
  return b;
}

/** Writes files given as { 'a/b.txt': content }. */
export async function writeTree(root: string, files: Record<string, string | Buffer>): Promise<void> {
  for (const [rel, data] of Object.entries(files)) {
    const p = join(root, rel);
    await mkdir(dirname(p), { recursive: true });
    await writeFile(p, data);
  }
}

/** One step of a restore plan, as `--json` reports it. */
export interface PlanStepEvent {
  message_type: 'step';
  step: number;
  name: string;
  status: string;
  detail: string;
  seconds: number;
}

/** The step events of a `restore --source ... --json` run, in order. */
export function planSteps(stdout: string): PlanStepEvent[] {
  return stdout.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { message_type: string }).filter((e): e is PlanStepEvent => e.message_type === 'step');
}

/** The last JSON line of a --json run. */
export function lastJson(stdout: string): Record<string, unknown> {
  const lines = stdout.trim().split('\n').filter((l) => l.startsWith('{'));
  const last = lines.at(-1);
  if (!last) throw new Error(`no JSON output in: ${stdout}`);
  return JSON.parse(last) as Record<string, unknown>;
}

// ---- live processes, signals and file trees (crash, concurrency and disk-full tests) -----------------------------
import { createCipheriv, createHash } from 'node:crypto';
import { readdir as readdirP, readFile as readFileP } from 'node:fs/promises';

/** A CLI process that is still running: watch its output, signal it, wait for it (see spawnCli). */
export interface CliProcess {
  readonly pid: number;
  /** Complete stdout lines so far. */
  readonly lines: readonly string[];
  stdout(): string;
  stderr(): string;
  /** True until the process has exited. */
  readonly running: boolean;
  /** True when spawnCli's time limit killed it. */
  readonly timedOut: boolean;
  /** Resolves when the process has exited (and been reaped); never rejects. */
  readonly exited: Promise<RunResult>;
  /** The first stdout line matching pred (lines already printed count); rejects when the process exits first or after timeoutMs. */
  waitForLine(pred: (line: string) => boolean, timeoutMs?: number): Promise<string>;
  /** Sends a signal if the process still runs; returns whether it did. */
  kill(signal?: NodeJS.Signals): boolean;
}

/** Starts the CLI like runCli but returns at once; the process is SIGKILLed after timeoutMs (default 60 s). */
export function spawnCli(args: readonly string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): CliProcess {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: options.cwd,
    env: { ...process.env, SAFEPOINT_PASSWORD: 'test-password', SAFEPOINT_CONFIG: '', SAFEPOINT_CACHE_DIR: TEST_CACHE, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let partial = '';
  let running = true;
  let timedOut = false;
  const lines: string[] = [];
  const lineWaiters = new Set<() => void>();
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    partial += d.toString();
    const parts = partial.split('\n');
    partial = parts.pop() ?? '';
    if (parts.length > 0) {
      lines.push(...parts);
      for (const w of [...lineWaiters]) w();
    }
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const limit = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, options.timeoutMs ?? 60_000);
  const exited = new Promise<RunResult>((resolve) => {
    const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
      clearTimeout(limit);
      running = false;
      if (partial !== '') lines.push(partial);
      partial = '';
      for (const w of [...lineWaiters]) w();
      resolve({ code, signal, stdout, stderr });
    };
    child.on('error', (err) => {
      stderr += `spawn error: ${err.message}\n`;
      finish(null, null);
    });
    child.on('close', finish);
  });
  const pid = child.pid ?? -1;
  return {
    pid,
    lines,
    stdout: () => stdout,
    stderr: () => stderr,
    get running() {
      return running;
    },
    get timedOut() {
      return timedOut;
    },
    exited,
    waitForLine(pred, timeoutMs = 30_000) {
      return new Promise<string>((resolve, reject) => {
        const check = (): void => {
          const hit = lines.find(pred);
          if (hit !== undefined) done(() => resolve(hit));
          else if (!running) done(() => reject(new Error(`safepoint ${args.join(' ')} exited before printing the awaited line; stdout: ${stdout.slice(-2000)} stderr: ${stderr.slice(-2000)}`)));
        };
        const timer = setTimeout(() => done(() => reject(new Error(`no awaited line from safepoint ${args.join(' ')} within ${timeoutMs} ms`))), timeoutMs);
        const done = (f: () => void): void => {
          clearTimeout(timer);
          lineWaiters.delete(check);
          f();
        };
        lineWaiters.add(check);
        check();
      });
    },
    kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (!running || pid < 0) return false;
      try {
        process.kill(pid, signal);
        return true;
      } catch {
        return false;
      }
    },
  };
}

/** runCli with a time limit: the process is SIGKILLed and the promise rejects when it runs longer than timeoutMs. */
export async function runCliTimed(args: readonly string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  const p = spawnCli(args, options);
  const r = await p.exited;
  if (p.timedOut) throw new Error(`safepoint ${args.join(' ')} did not finish within ${options.timeoutMs ?? 60_000} ms; stderr: ${r.stderr.slice(-2000)}`);
  return r;
}

/** Fast deterministic incompressible bytes (AES-256-CTR keystream of a seed): the same seed gives the same bytes. */
export function randomData(n: number, seed: number): Buffer {
  const key = createHash('sha256').update(`safepoint-test-${seed}`).digest();
  return createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(n));
}

/** Every file under root (recursively, relative, '/'-separated), including dot files; tolerates folders vanishing meanwhile. */
export async function listFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string, rel: string): Promise<void> => {
    let entries;
    try {
      entries = await readdirP(dir, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return;
      throw err;
    }
    for (const e of entries) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(join(dir, e.name), r);
      else out.push(r);
    }
  };
  await walk(root, '');
  return out.sort();
}

/** sha256 of every regular file under root by relative path, plus an entry `<dir>/` for each folder. */
export async function hashTree(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (dir: string, rel: string): Promise<void> => {
    for (const e of await readdirP(dir, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        out.set(`${r}/`, 'dir');
        await walk(join(dir, e.name), r);
      } else if (e.isFile()) out.set(r, createHash('sha256').update(await readFileP(join(dir, e.name))).digest('hex'));
      else out.set(r, 'other');
    }
  };
  await walk(root, '');
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Polls fn until it returns a truthy value; rejects after timeoutMs. */
export async function waitUntil<T>(fn: () => T | Promise<T>, what: string, timeoutMs = 30_000, intervalMs = 2): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
