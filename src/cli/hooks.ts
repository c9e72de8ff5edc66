/**
 * `safepoint hooks install | uninstall | run`: git hooks that back up code and configuration and create a restore
 * point when a commit is major (deploy.restore_points.major: tag:<glob>, merge:<branch>, breaking).
 */
import type { Command } from 'commander';
import { fileURLToPath } from 'node:url';
import { git, commitInfo, hooksDir, workTree } from '../git/git.js';
import { HOOK_NAMES, installHooks, reportKept, uninstallHooks } from '../git/hooks.js';
import { majorReason, parseMajorRules, type GitEvent } from '../git/major.js';
import { DEFAULT_TAG_PREFIX, safeLabel } from '../git/restore-point.js';
import { UsageError, errorMessage } from '../util/errors.js';
import { shellWord } from '../util/shell.js';
import type { Context } from './context.js';
import { runCreate } from './point.js';

export function registerHooks(program: Command, ctx: () => Context): void {
  const hooks = program.command('hooks').description('git hooks that create a restore point (code and configuration backed up, database positions recorded) on each major commit');
  hooks
    .command('install')
    .description(`install the ${HOOK_NAMES.join(', ')} hooks in the project's git repository (hooks that are not safepoint's are left alone unless --force)`)
    .option('--git-dir <dir>', "the project's git work tree (default: the config file's folder)")
    .option('--force', "keep another tool's hook as <name>.before-safepoint and install ours")
    .action(async (f: { gitDir?: string; force?: boolean }) => {
      const c = ctx();
      const cfg = await c.requireConfig();
      const dir = await workTree(f.gitDir ?? cfg.dir);
      const where = await hooksDir(dir);
      const cli = fileURLToPath(new URL('./main.js', import.meta.url));
      const command = [process.execPath, cli, '--config', cfg.file].map(shellWord).join(' ');
      const prefix = cfg.deploy?.restore_points?.tag_prefix ?? DEFAULT_TAG_PREFIX;
      const rules = parseMajorRules(cfg.deploy?.restore_points?.major ?? []);
      const { written, kept } = await installHooks(where, command, prefix, dir, f.force ?? false);
      c.out.event({ message_type: 'hooks', dir: where, written, kept });
      if (written.length > 0) c.out.info(`installed ${written.join(', ')} in ${where}: a restore point is made on ${rules.map((r) => (r.kind === 'tag' ? `a tag ${r.glob}` : r.kind === 'merge' ? `a merge into ${r.branch}` : 'a breaking change')).join(', ')}`);
      const warn = reportKept(kept, where);
      if (warn) c.out.warn(warn);
      process.exitCode = written.length === 0 ? 1 : 0;
    });
  hooks
    .command('uninstall')
    .description("remove safepoint's git hooks (putting back hooks a forced install kept aside)")
    .option('--git-dir <dir>', "the project's git work tree (default: the config file's folder)")
    .action(async (f: { gitDir?: string }) => {
      const c = ctx();
      const cfg = await c.requireConfig();
      const where = await hooksDir(await workTree(f.gitDir ?? cfg.dir));
      const removed = await uninstallHooks(where);
      c.out.event({ message_type: 'hooks', dir: where, removed });
      c.out.info(removed.length > 0 ? `removed ${removed.join(', ')} from ${where}` : `no safepoint hook in ${where}`);
    });
  hooks
    .command('run')
    .description('what the hooks call: decide whether the event is major and, if so, create a restore point (never fails the git command)')
    .argument('<hook>', `${HOOK_NAMES.filter((h) => h !== 'reference-transaction').join(' | ')} | tag`)
    .argument('[tags...]', 'tag: the tags just created')
    .option('--git-dir <dir>', 'the work tree the hooks were installed in (written into them)')
    .action(async (hook: string, tags: string[], f: { gitDir?: string }) => {
      process.exitCode = await runHook(ctx(), hook, tags, f.gitDir);
    });
}

/** The events of a hook call. */
async function eventsOf(dir: string, hook: string, tags: readonly string[]): Promise<{ event: GitEvent; rev: string }[]> {
  const branch = (await git(dir, ['symbolic-ref', '--short', '-q', 'HEAD']).catch(() => '')).trim() || null;
  if (hook === 'post-commit') {
    const info = await commitInfo(dir, 'HEAD');
    return [{ event: { kind: 'commit', branch, parents: info.parents.length, message: `${info.subject}\n\n${info.body}` }, rev: info.id }];
  }
  if (hook === 'post-merge') return [{ event: { kind: 'merge', branch }, rev: 'HEAD' }];
  if (hook === 'tag') return tags.map((name) => ({ event: { kind: 'tag', name }, rev: `refs/tags/${name}` }));
  throw new UsageError(`hooks run ${hook}: expected post-commit, post-merge or tag`);
}

async function runHook(c: Context, hook: string, tags: readonly string[], gitDir: string | undefined): Promise<number> {
  try {
    const cfg = await c.requireConfig();
    const dir = await workTree(gitDir ?? cfg.dir);
    // hooks shared by several repositories (core.hooksPath): only the one they were installed for makes points
    if (gitDir !== undefined && (await workTree(process.cwd()).catch(() => null)) !== dir) return 0;
    const rules = parseMajorRules(cfg.deploy?.restore_points?.major ?? []);
    for (const { event, rev } of await eventsOf(dir, hook, tags)) {
      const reason = majorReason(rules, event);
      if (reason === null) continue;
      c.out.info(`safepoint: ${reason}: creating a restore point`);
      const label = safeLabel(reason.startsWith('tag ') ? reason.slice(4) : reason);
      await runCreate(c, { rev, source: [], codeOnly: true, allowDirty: true, bundle: true, reason, gitDir: dir, ...(label ? { label } : {}) });
    }
  } catch (err) {
    // a hook must not break the user's git command: say what went wrong, exit 0
    c.out.warn(`safepoint: no restore point: ${errorMessage(err)}`);
  }
  return 0;
}
