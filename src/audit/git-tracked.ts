/** Which files git tracks: a secret in `git ls-files` has leaked into the history. */
import { execFile } from 'node:child_process';

function git(cwd: string, args: readonly string[]): Promise<string | null> {
  return new Promise((resolve) => {
    execFile('git', [...args], { cwd, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: 30_000 }, (err, stdout) => resolve(err ? null : stdout));
  });
}

/**
 * The subset of `paths` (relative to `dir`, `/`-separated) that git tracks; null when `dir` is not in a git work
 * tree or git cannot be run.
 */
export async function trackedByGit(dir: string, paths: readonly string[]): Promise<Set<string> | null> {
  if ((await git(dir, ['rev-parse', '--is-inside-work-tree']))?.trim() !== 'true') return null;
  if (paths.length === 0) return new Set();
  // literal pathspecs: a name with * or ? is a name, not a pattern
  // (ls-files prints paths relative to the folder it runs in)
  const out = await git(dir, ['ls-files', '-z', '--', ...paths.map((p) => `:(literal)${p}`)]);
  if (out === null) return null;
  const listed = new Set(out.split('\0').filter((l) => l !== ''));
  return new Set(paths.filter((p) => listed.has(p)));
}
