import { spawn } from 'node:child_process';
import type { ServiceConfig } from '../config/schema.js';
import type { HealthCheck } from '../config/fields.js';
import { SafepointError } from '../util/errors.js';

/** A service command or health check failed. */
export class ServiceError extends SafepointError {}

/**
 * Runs a shell command (a service's stop/start, a health or smoke check) with a timeout; resolves with its output,
 * rejects with its exit status and the last lines it printed.
 */
export function runCommand(command: string, o: { timeoutMs?: number; cwd?: string; env?: NodeJS.ProcessEnv; signal?: AbortSignal } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    // its own process group, so that a timeout kills what the shell started too (they hold the pipes open)
    const child = spawn('/bin/sh', ['-c', command], { cwd: o.cwd, env: o.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    const keep = (d: Buffer): void => {
      out = (out + d.toString()).slice(-4000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const kill = (): void => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    };
    const timer = setTimeout(kill, o.timeoutMs ?? 60_000);
    // an interrupted caller (a drill on Ctrl-C) takes what the command started down with it
    o.signal?.addEventListener('abort', kill, { once: true });
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new ServiceError(`\`${command}\` could not start: ${err.message}`));
    });
    // 'exit', not 'close': a start command that leaves a daemon behind holding the pipes has still finished
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      o.signal?.removeEventListener('abort', kill);
      child.stdout.destroy();
      child.stderr.destroy();
      if (code === 0) return resolve(out.trim());
      const tail = out.trim().split('\n').slice(-3).join(' / ');
      const how = signal ? `was killed (${signal}${signal === 'SIGKILL' ? `, timeout ${(o.timeoutMs ?? 60_000) / 1000} s` : ''})` : `exited with ${code}`;
      reject(new ServiceError(`\`${command}\` ${how}${tail ? `: ${tail}` : ''}`));
    });
  });
}

/** Runs a health check: an HTTP URL answering the expected status, or a command exiting 0 (run in `cwd`), within its timeout. */
export async function checkHealth(h: HealthCheck, o: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  if ('command' in h) {
    await runCommand(h.command, { timeoutMs: h.timeout, ...o });
    return `\`${h.command}\` ok`;
  }
  const deadline = Date.now() + h.timeout;
  let last = '';
  // a service just started may need a moment: poll until the deadline
  while (Date.now() < deadline) {
    try {
      const res = await fetch(h.url, { signal: AbortSignal.timeout(Math.max(1000, deadline - Date.now())) });
      if (res.status === h.expect) return `${h.url} answered ${res.status}`;
      last = `answered ${res.status}, expected ${h.expect}`;
    } catch (err) {
      last = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new ServiceError(`health check ${h.url} failed within ${h.timeout / 1000} s: ${last}`);
}

export interface NamedService extends ServiceConfig {
  readonly name: string;
}

/** Stops services in order; each must have a `stop` command. */
export async function stopServices(services: readonly NamedService[]): Promise<string> {
  const stopped: string[] = [];
  for (const s of services) {
    try {
      if (!s.stop) throw new ServiceError(`service ${s.name} has no stop command in safepoint.yaml`);
      await runCommand(s.stop);
    } catch (err) {
      const already = stopped.length > 0 ? ` (already stopped: ${stopped.join(', ')} — start them again if you give up)` : '';
      throw new ServiceError(`${err instanceof Error ? err.message : String(err)}${already}`, { cause: err });
    }
    stopped.push(s.name);
  }
  return `stopped ${stopped.join(', ')}`;
}

/** Starts services in reverse order and runs their health checks. */
export async function startServices(services: readonly NamedService[]): Promise<string> {
  const done: string[] = [];
  for (const s of [...services].reverse()) {
    if (!s.start) throw new ServiceError(`service ${s.name} has no start command in safepoint.yaml`);
    await runCommand(s.start);
    done.push(s.health ? `${s.name} (${await checkHealth(s.health)})` : s.name);
  }
  return `started ${done.join(', ')}`;
}
