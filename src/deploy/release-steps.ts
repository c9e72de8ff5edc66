/**
 * The pieces of a deploy that do not need the repository: shared files linked into a release, the scripts run in
 * it, whether they migrated the database, and the health watch after the switch (Argo Rollouts' analysis: a
 * measurement every interval for a window, failed once `failure_limit` measurements have failed).
 */
import { lstat, readdir, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { git } from '../git/git.js';
import { runCommand } from '../restore/services.js';
import { isErrno } from '../util/errors.js';

/** Links every entry of `sharedDir` into `release` (what the checkout has at that name is removed first). */
export async function linkShared(sharedDir: string, release: string): Promise<string[]> {
  let names: string[];
  try {
    names = (await readdir(sharedDir)).sort();
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return [];
    throw err;
  }
  for (const n of names) {
    const at = join(release, n);
    try {
      await lstat(at);
      await rm(at, { recursive: true, force: true });
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
    }
    await symlink(join(sharedDir, n), at);
  }
  return names;
}

/** One script run: its command, duration, whether it exited 0, and the end of what it printed (at most 4000 chars). */
export interface ScriptRun {
  readonly command: string;
  readonly seconds: number;
  readonly ok: boolean;
  readonly output: string;
}

/**
 * Runs the scripts in order in `cwd`, each within `timeoutMs`; `onRun` hears each one with its output (what the
 * caller records: the release, the JSON events). Stops at the first failure, rethrown after it was heard.
 */
export async function runScripts(scripts: readonly string[], o: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number; onRun?: (r: ScriptRun) => void }): Promise<string[]> {
  const ran: string[] = [];
  for (const s of scripts) {
    const t0 = Date.now();
    try {
      const output = await runCommand(s, { cwd: o.cwd, env: o.env, timeoutMs: o.timeoutMs });
      o.onRun?.({ command: s, seconds: (Date.now() - t0) / 1000, ok: true, output });
    } catch (err) {
      o.onRun?.({ command: s, seconds: (Date.now() - t0) / 1000, ok: false, output: err instanceof Error ? err.message : String(err) });
      throw err;
    }
    ran.push(`\`${s}\` ok in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
  return ran;
}

const MIGRATION_PATH = /(^|\/)(migrations?|migrate|db\/migrate|alembic\/versions|flyway|liquibase)(\/|$)/i;
const MIGRATION_SCRIPT = /migrat/i;

/**
 * Whether a release's scripts changed the database schema: a script that migrates ran, and migration files
 * changed since the previous release's commit (all of them count when there is no previous release, or when its
 * commit is not in this checkout's history). Returns the changed migration files (empty: no migration).
 */
export async function migrationsRun(scripts: readonly string[], checkout: string, commit: string, previousCommit: string | null): Promise<string[]> {
  if (!scripts.some((s) => MIGRATION_SCRIPT.test(s))) return [];
  const range = previousCommit ? [`${previousCommit}..${commit}`] : [commit];
  const out = await git(checkout, previousCommit ? ['diff', '--name-only', ...range] : ['ls-tree', '-r', '--name-only', commit]).catch(() => git(checkout, ['ls-tree', '-r', '--name-only', commit]));
  return out.split('\n').filter((f) => f !== '' && MIGRATION_PATH.test(f));
}

export interface WatchResult {
  readonly ok: boolean;
  readonly checks: number;
  readonly failures: number;
  readonly lastError: string | null;
}

/**
 * Runs `check` every `intervalMs` for `windowMs`; stops early (not ok) once `failureLimit` checks have failed.
 * `onCheck` hears each outcome (for progress).
 */
export async function watchHealth(check: () => Promise<unknown>, o: { windowMs: number; intervalMs: number; failureLimit: number; onCheck?: (ok: boolean, n: number, error: string | null) => void; sleep?: (ms: number) => Promise<void> }): Promise<WatchResult> {
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const end = Date.now() + o.windowMs;
  let checks = 0;
  let failures = 0;
  let lastError: string | null = null;
  for (;;) {
    checks++;
    try {
      await check();
      o.onCheck?.(true, checks, null);
    } catch (err) {
      failures++;
      lastError = err instanceof Error ? err.message : String(err);
      o.onCheck?.(false, checks, lastError);
      if (failures >= o.failureLimit) return { ok: false, checks, failures, lastError };
    }
    if (Date.now() + o.intervalMs > end) return { ok: true, checks, failures, lastError };
    await sleep(o.intervalMs);
  }
}
