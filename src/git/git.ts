/**
 * The git command line, for what safepoint asks of a project's repository: its root, commits, state, tags and
 * bundles. Every call is `git -C <dir> ...` with a fixed environment (no pager, no prompts, C locale); failures
 * become GitError with git's own first line.
 */
import { execFile, spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { keepOutput } from '../util/child-output.js';
import { UserError } from '../util/errors.js';

/** A git command failed, or git is missing. */
export class GitError extends UserError {}

const ENV = { GIT_TERMINAL_PROMPT: '0', GIT_PAGER: 'cat', LC_ALL: 'C', GIT_OPTIONAL_LOCKS: '0' };

/**
 * The environment of our git calls. Inside a hook, git exports GIT_DIR (often relative) and GIT_INDEX_FILE for the
 * repository it runs in; `-C <dir>` must find the repository by itself instead.
 */
function gitEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...ENV, ...extra };
  for (const k of ['GIT_DIR', 'GIT_WORK_TREE', 'GIT_INDEX_FILE', 'GIT_PREFIX', 'GIT_COMMON_DIR']) delete env[k];
  return env;
}

/** Runs git in `dir`; resolves with stdout. */
export function git(dir: string, args: readonly string[], o: { input?: string; env?: NodeJS.ProcessEnv; maxBuffer?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile('git', ['-C', dir, ...args], { env: gitEnv(o.env), maxBuffer: o.maxBuffer ?? 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return reject(new GitError('git is not installed (apt-get install git)', { cause: err }));
      const first = stderr.split('\n').map((l) => l.replace(/^(fatal|error): /, '').trim()).find((l) => l !== '') ?? err.message;
      reject(new GitError(`git ${args[0] ?? ''} in ${dir}: ${first}`, { cause: err }));
    });
    if (o.input !== undefined) child.stdin?.end(o.input);
  });
}

/** The top folder of the work tree holding `dir`. @throws GitError when `dir` is not in one. */
export async function workTree(dir: string): Promise<string> {
  try {
    return (await git(dir, ['rev-parse', '--show-toplevel'])).trim();
  } catch (err) {
    if (err instanceof GitError && /not a git repository/i.test(err.message)) throw new GitError(`${dir} is not in a git work tree: run safepoint from the project's checkout (or git init it)`, { cause: err });
    throw err;
  }
}

/** The full commit id of `rev` (a branch, tag, short id...). @throws GitError naming the revision when unknown. */
export async function resolveCommit(dir: string, rev: string): Promise<string> {
  if (rev.startsWith('-')) throw new GitError(`${JSON.stringify(rev)} is not a revision`);
  try {
    return (await git(dir, ['rev-parse', '--verify', '--quiet', '--end-of-options', `${rev}^{commit}`])).trim();
  } catch (err) {
    throw new GitError(`revision ${JSON.stringify(rev)} is not a commit of ${dir} (see git log, or fetch it first)`, { cause: err });
  }
}

/** Paths with uncommitted changes (staged, unstaged, untracked), as `git status --porcelain` lists them. */
export async function changedPaths(dir: string): Promise<string[]> {
  const out = await git(dir, ['status', '--porcelain=v1', '-z', '--untracked-files=normal']);
  return out.split('\0').filter((l) => l.length > 3).map((l) => l.slice(3));
}

export interface CommitInfo {
  readonly id: string;
  readonly parents: readonly string[];
  readonly subject: string;
  readonly body: string;
  readonly time: string;
}

export async function commitInfo(dir: string, rev: string): Promise<CommitInfo> {
  const id = await resolveCommit(dir, rev);
  const out = await git(dir, ['show', '-s', '--format=%H%x00%P%x00%cI%x00%s%x00%b', id]);
  const [h = id, p = '', time = '', subject = '', body = ''] = out.split('\0');
  return { id: h, parents: p.trim() === '' ? [] : p.trim().split(' '), time, subject, body: body.trimEnd() };
}

export interface TagInfo {
  readonly name: string;
  /** The commit the tag points to. */
  readonly commit: string;
  readonly message: string;
  readonly taggerDate: string;
}

/** Annotated tags whose name starts with `prefix` (any prefix, not only a folder), oldest first. */
export async function listTags(dir: string, prefix: string): Promise<TagInfo[]> {
  const sep = '\x1e';
  // for-each-ref matches a pattern only up to a slash: list every tag, filter here
  const out = await git(dir, ['for-each-ref', '--sort=creatordate', `--format=%(refname:strip=2)%00%(*objectname)%00%(objectname)%00%(creatordate:iso-strict)%00%(contents)${sep}`, 'refs/tags/']);
  return out.split(`${sep}\n`).filter((r) => r.trim() !== '').map((r) => {
    const [name = '', peeled = '', object = '', date = '', message = ''] = r.split('\0');
    return { name, commit: peeled || object, message: message.trimEnd(), taggerDate: date };
  }).filter((t) => t.name.startsWith(prefix));
}

/** @throws GitError when git would refuse `name` as a tag name (checked before anything is backed up). */
export async function checkTagName(dir: string, name: string): Promise<void> {
  await git(dir, ['check-ref-format', `refs/tags/${name}`]).catch((err: unknown) => {
    throw new GitError(`${JSON.stringify(name)} is not a valid tag name (check deploy.restore_points.tag_prefix and --label)`, { cause: err });
  });
}

/** Creates annotated tag `name` on `commit` with `message`; refuses to replace one. */
export async function createTag(dir: string, name: string, commit: string, message: string): Promise<void> {
  await checkTagName(dir, name);
  await git(dir, ['tag', '--annotate', '--file=-', '--end-of-options', name, commit], { input: message, env: identityEnv() });
}

/** Deletes a tag (a restore point whose parts could not be recorded). */
export async function deleteTag(dir: string, name: string): Promise<void> {
  await git(dir, ['tag', '--delete', '--end-of-options', name]);
}

/** A committer identity for tags when the user has none configured (a server, a CI job, a git hook of a service user). */
function identityEnv(): NodeJS.ProcessEnv {
  return { GIT_COMMITTER_NAME: process.env.GIT_COMMITTER_NAME ?? process.env.GIT_AUTHOR_NAME ?? 'safepoint', GIT_COMMITTER_EMAIL: process.env.GIT_COMMITTER_EMAIL ?? process.env.GIT_AUTHOR_EMAIL ?? 'safepoint@localhost' };
}

/** The git folder of a work tree (hooks live in `<git dir>/hooks` unless core.hooksPath says otherwise). */
export async function hooksDir(dir: string): Promise<string> {
  return (await git(dir, ['rev-parse', '--path-format=absolute', '--git-path', 'hooks'])).trim();
}

/** `git bundle create - <refs>` as a stream of bytes (the whole history needed to clone those refs offline). */
export function bundleStream(dir: string, refs: readonly string[]): { stream: Readable; done: Promise<void> } {
  const child = spawn('git', ['-C', dir, 'bundle', 'create', '-q', '-', ...refs], { env: gitEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<void>((resolve, reject) => {
    child.on('error', (err) => reject(new GitError(`git bundle: ${err.message}`, { cause: err })));
    child.on('close', (code) => (code === 0 ? resolve() : reject(new GitError(`git bundle create in ${dir}: ${stderr.trim().split('\n')[0] ?? `exit ${code}`}`))));
  });
  return { stream: keepOutput(child.stdout), done };
}
