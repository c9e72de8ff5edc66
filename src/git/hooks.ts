/**
 * The git hooks that make restore points on major commits: post-commit (breaking changes, merge commits),
 * post-merge (a merge or pull landing on a branch) and reference-transaction (a tag created). Each hands the event to
 * `safepoint hooks run`, which decides with the `major` rules. Hooks safepoint did not write are never replaced.
 */
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isErrno } from '../util/errors.js';
import { shellWord } from '../util/shell.js';

export const HOOK_NAMES = ['post-commit', 'post-merge', 'reference-transaction'] as const;
export type HookName = (typeof HOOK_NAMES)[number];

/** The line that marks a hook as ours. */
const MARK = '# safepoint hook';

/** The script of one hook; `command` is the safepoint command line (node, CLI, --config) already quoted. */
export function hookScript(name: HookName, command: string, tagPrefix: string, workTree: string): string {
  const head = `#!/bin/sh\n${MARK}: restore points on major commits (\`safepoint hooks uninstall\` removes it; SAFEPOINT_HOOKS=0 skips it)\n[ "$SAFEPOINT_HOOKS" = 0 ] && exit 0\n`;
  const dir = `--git-dir ${shellWord(workTree)}`;
  if (name !== 'reference-transaction') return `${head}exec ${command} hooks run ${name} ${dir}\n`;
  // called for every ref update (each commit too): start safepoint only for tags just created, never for its own
  const own = `refs/tags/${tagPrefix}`;
  return `${head}[ "$1" = committed ] || exit 0\n`
    + `tags=$(grep -E '^0+ [0-9a-f]+ refs/tags/' | cut -d' ' -f3 | grep -vF ${shellWord(own)} | sed 's|^refs/tags/||')\n`
    + '[ -n "$tags" ] || exit 0\n'
    + `exec ${command} hooks run tag ${dir} $tags\n`;
}

async function existing(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return null;
    throw err;
  }
}

/**
 * Writes the hooks into `hooksDir`. A hook file that is not ours is left alone and reported (unless `force`, which
 * keeps it as `<name>.before-safepoint`, whole, unless one is there already). Returns what was written and what was skipped.
 */
export async function installHooks(hooksDir: string, command: string, tagPrefix: string, workTree: string, force: boolean): Promise<{ written: string[]; kept: string[] }> {
  const written: string[] = [];
  const kept: string[] = [];
  await mkdir(hooksDir, { recursive: true });
  for (const name of HOOK_NAMES) {
    const path = join(hooksDir, name);
    const before = await existing(path);
    if (before !== null && !before.includes(MARK)) {
      // another tool's hook (maybe a symlink to a shared script): moved aside whole, never overwritten
      if (!force || (await existing(`${path}.before-safepoint`)) !== null) {
        kept.push(name);
        continue;
      }
      await rename(path, `${path}.before-safepoint`);
    }
    await rm(path, { force: true }); // ours, or nothing: a new file (never writing through a link)
    await writeFile(path, hookScript(name, command, tagPrefix, workTree), { mode: 0o755, flag: 'wx' });
    await chmod(path, 0o755);
    written.push(name);
  }
  return { written, kept };
}

/** Removes our hooks (and puts back a hook kept aside by a forced install). */
export async function uninstallHooks(hooksDir: string): Promise<string[]> {
  const removed: string[] = [];
  for (const name of HOOK_NAMES) {
    const path = join(hooksDir, name);
    const text = await existing(path);
    if (text === null || !text.includes(MARK)) continue;
    await rm(path);
    if ((await existing(`${path}.before-safepoint`)) !== null) await rename(`${path}.before-safepoint`, path);
    removed.push(name);
  }
  return removed;
}

/** A warning naming the hooks left alone because they are not ours, or null. */
export function reportKept(kept: readonly string[], hooksDir: string): string | null {
  if (kept.length === 0) return null;
  return `${kept.join(', ')} in ${hooksDir} ${kept.length === 1 ? 'is' : 'are'} not safepoint's: left alone (pass --force to keep ${kept.length === 1 ? 'it' : 'them'} as <name>.before-safepoint and install ours, or call \`safepoint hooks run <hook>\` from ${kept.length === 1 ? 'it' : 'them'})`;
}
