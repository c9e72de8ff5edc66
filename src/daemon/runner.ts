/**
 * Runs the daemon's jobs, each as a `safepoint` child process with `--json`: a crash or a leak in one job never
 * takes the daemon down, a timeout kills the job's whole process group, and the child journals and logs itself.
 * Jobs wait in a queue; one starts when none of its sources is busy, so no two jobs ever work on one source at once.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { JobSpec } from './jobs.js';

export interface JobResult {
  readonly job: JobSpec;
  readonly started: Date;
  readonly seconds: number;
  /** The exit code; null when it was killed. */
  readonly exitCode: number | null;
  readonly timedOut: boolean;
  /** The last `summary` event the job printed. */
  readonly summary: Record<string, unknown> | null;
  /** The last `error: ...` line of its stderr (what went wrong, one line). */
  readonly error: string | null;
}

export interface RunnerOptions {
  /** The command that runs safepoint: [node, main.js, global options...]. */
  readonly command: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  readonly timeoutMs: number;
  /** Extra arguments for a job when it starts (the check's rotating slice). */
  readonly argsFor?: (job: JobSpec) => readonly string[];
  readonly onStart?: (job: JobSpec) => void;
  readonly onDone?: (r: JobResult) => void;
}

interface Running {
  readonly job: JobSpec;
  readonly child: ChildProcess;
  readonly done: Promise<JobResult>;
}

export class Runner {
  readonly #o: RunnerOptions;
  readonly #queue: JobSpec[] = [];
  readonly #running = new Map<string, Running>();
  #stopping = false;

  constructor(o: RunnerOptions) {
    this.#o = o;
  }

  /** Queues a job; false when it is already queued or running (a run is never doubled). */
  enqueue(job: JobSpec): boolean {
    if (this.#stopping || this.#running.has(job.id) || this.#queue.some((j) => j.id === job.id)) return false;
    this.#queue.push(job);
    this.#pump();
    return true;
  }

  get queued(): readonly string[] {
    return this.#queue.map((j) => j.id);
  }

  get running(): readonly string[] {
    return [...this.#running.keys()];
  }

  #busy(job: JobSpec): boolean {
    return [...this.#running.values()].some((r) => r.job.sources.some((s) => job.sources.includes(s)));
  }

  /**
   * Starts, in queue order, every job whose sources are free. A job that must wait reserves its sources, so later
   * jobs on them wait behind it: a drill of every source is not overtaken forever by hourly backups of one.
   */
  #pump(): void {
    const reserved = new Set<string>();
    for (let i = 0; i < this.#queue.length; ) {
      const job = this.#queue[i]!;
      if (this.#busy(job) || job.sources.some((s) => reserved.has(s))) {
        for (const s of job.sources) reserved.add(s);
        i++;
        continue;
      }
      this.#queue.splice(i, 1);
      this.#start(job);
    }
  }

  #start(job: JobSpec): void {
    const [cmd, ...base] = this.#o.command;
    const started = new Date();
    this.#o.onStart?.(job);
    // its own process group: a timeout or a stop reaches what the job started too (pg_dump, a sandbox server)
    const child = spawn(cmd!, [...base, ...job.args, ...(this.#o.argsFor?.(job) ?? []), '--json'], { env: this.#o.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let summary: Record<string, unknown> | null = null;
    let partial = '';
    let error: string | null = null;
    child.stdout!.on('data', (d: Buffer) => {
      const lines = (partial + d.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) {
        if (!l.startsWith('{')) continue;
        try {
          const e = JSON.parse(l) as Record<string, unknown>;
          if (e.message_type === 'summary') summary = e;
        } catch {
          // not an event
        }
      }
    });
    let errTail = '';
    child.stderr!.on('data', (d: Buffer) => {
      errTail = (errTail + d.toString()).slice(-8000);
      const last = errTail.split('\n').filter((l) => l.startsWith('error: ')).at(-1);
      if (last) error = last.slice('error: '.length);
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      this.#signal(child, 'SIGTERM');
      setTimeout(() => this.#signal(child, 'SIGKILL'), 30_000).unref();
    }, this.#o.timeoutMs);
    const done = new Promise<JobResult>((resolve) => {
      child.on('error', (err) => {
        error = err.message;
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        const r: JobResult = { job, started, seconds: (Date.now() - started.getTime()) / 1000, exitCode: code, timedOut, summary, error: timedOut ? `timed out after ${this.#o.timeoutMs / 1000} s${error ? ` (${error})` : ''}` : error };
        this.#running.delete(job.id);
        this.#o.onDone?.(r);
        resolve(r);
        this.#pump();
      });
    });
    this.#running.set(job.id, { job, child, done });
  }

  #signal(child: ChildProcess, signal: NodeJS.Signals): void {
    try {
      process.kill(-child.pid!, signal);
    } catch {
      // already gone
    }
  }

  /** Resolves when nothing runs any more. */
  async idle(): Promise<void> {
    while (this.#running.size > 0) await Promise.all([...this.#running.values()].map((r) => r.done));
  }

  /**
   * Stops: nothing new starts; running jobs get `graceMs` to finish, then SIGTERM (safepoint stops cleanly: the
   * repository is crash-safe, a drill tears its sandbox down), then SIGKILL 30 s later.
   */
  async stop(graceMs: number): Promise<void> {
    if (this.#stopping && graceMs <= 0) {
      for (const r of this.#running.values()) this.#signal(r.child, 'SIGTERM');
      return;
    }
    this.#stopping = true;
    this.#queue.length = 0;
    const finished = this.idle();
    const grace = new Promise<'late'>((r) => setTimeout(() => r('late'), graceMs).unref());
    if ((await Promise.race([finished.then(() => 'done' as const), grace])) === 'late') {
      for (const r of this.#running.values()) this.#signal(r.child, 'SIGTERM');
      const kill = setTimeout(() => {
        for (const r of this.#running.values()) this.#signal(r.child, 'SIGKILL');
      }, 30_000);
      kill.unref();
      await finished;
      clearTimeout(kill);
    }
  }
}
