/**
 * A checkout of one commit into a new folder: cloned from the git server (or a local repository), or from a git
 * bundle kept in the backup repository when the server is gone.
 */
import { mkdir, readdir, rm } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { GitError, git } from '../git/git.js';
import { UserError, isErrno } from '../util/errors.js';

/** `into` must not exist or be empty: a checkout never writes over anything. */
export async function ensureEmpty(into: string): Promise<void> {
  try {
    if ((await readdir(into)).length > 0) throw new UserError(`${into} is not empty: give a new folder (nothing was changed)`);
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err;
  }
}

/**
 * Clones `from` (a URL, a path, or a bundle file) into `into` and checks out `rev` detached (trying `origin/<rev>`
 * for a branch of the remote). Resolves with the commit id. On failure nothing is left in `into`.
 */
export async function cloneAt(from: string, rev: string, intoPath: string): Promise<string> {
  const into = resolve(intoPath);
  await ensureEmpty(into);
  await mkdir(dirname(into), { recursive: true });
  try {
    await git(dirname(into), ['clone', '--quiet', '--no-checkout', '--end-of-options', from, into]);
    let commit: string | undefined;
    for (const candidate of [rev, `origin/${rev}`]) {
      commit = (await git(into, ['rev-parse', '--verify', '--quiet', '--end-of-options', `${candidate}^{commit}`]).catch(() => '')).trim() || undefined;
      if (commit) break;
    }
    if (!commit) throw new GitError(`revision ${JSON.stringify(rev)} is not in ${from}`);
    await git(into, ['checkout', '--quiet', '--detach', commit]);
    return commit;
  } catch (err) {
    await rm(into, { recursive: true, force: true }).catch(() => undefined);
    throw err;
  }
}

/** Checks out `commit` from a git bundle file (every ref it holds fetched) into `into`. */
export async function checkoutFromBundle(bundle: string, commit: string, intoPath: string): Promise<string> {
  const into = resolve(intoPath);
  await ensureEmpty(into);
  await mkdir(into, { recursive: true });
  try {
    await git(into, ['init', '--quiet']);
    await git(into, ['fetch', '--quiet', '--end-of-options', bundle, '+refs/*:refs/remotes/bundle/*']);
    const id = (await git(into, ['rev-parse', '--verify', '--quiet', '--end-of-options', `${commit}^{commit}`]).catch(() => '')).trim();
    if (!id) throw new GitError(`the git bundle does not hold commit ${commit}`);
    await git(into, ['checkout', '--quiet', '--detach', id]);
    return id;
  } catch (err) {
    await rm(into, { recursive: true, force: true }).catch(() => undefined);
    throw err;
  }
}
