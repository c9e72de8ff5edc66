/** A git project with a safepoint config, for the restore point, code restore and deploy tests. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { runCli, tempDir, writeTree } from './helpers.js';

const exec = promisify(execFile);

export interface Project {
  readonly root: string;
  readonly dir: string;
  readonly config: string;
  git(...args: string[]): Promise<string>;
  cli(...args: string[]): ReturnType<typeof runCli>;
  points(): Promise<{ tag: string; message: string }[]>;
}

/** A git project with a files source (its config folder) and a SQLite database, both repositories initialised. */
export async function gitProject(t: { after(fn: () => Promise<void>): void }, o: { deploy?: readonly string[]; files?: Record<string, string>; server?: boolean } = {}): Promise<Project> {
  const tmp = await tempDir('sp-points-');
  t.after(tmp.cleanup);
  const root = tmp.path;
  const dir = join(root, 'shop');
  const password = join(root, 'password');
  await writeFile(password, 'points-test\n', { mode: 0o600 });
  const db = new Database(join(root, 'sessions.db'));
  db.exec('CREATE TABLE s (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO s (v) VALUES (\'a\'), (\'b\');');
  db.close();
  const config = join(dir, 'safepoint.yaml');
  await writeTree(dir, {
    'app.js': 'console.log("v1")\n',
    'config/app.yaml': 'port: 8080\n',
    ...o.files,
    'safepoint.yaml': [
      'version: 1',
      'project: shop',
      'repositories:',
      `  files: { targets: [ ${join(root, 'repo-files')} ], password_file: ${password} }`,
      `  db: { targets: [ ${join(root, 'repo-db')} ], password_file: ${password} }`,
      'sources:',
      '  - { name: code-config, type: files, repository: files, paths: [ config ], schedule: on-major-commit }',
      `  - { name: sessions, type: sqlite, repository: db, path: ${join(root, 'sessions.db')} }`,
      'deploy:',
      `  git: ${o.server ? join(root, 'server.git') : dir}`,
      `  releases_dir: ${join(root, 'releases')}`,
      `  current: ${join(root, 'current')}`,
      ...(o.deploy ?? []).map((l) => `  ${l}`),
      '',
    ].join('\n'),
  });
  const env = { ...process.env, SAFEPOINT_PASSWORD: undefined, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@x', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@x' };
  const git = async (...args: string[]): Promise<string> => (await exec('git', ['-C', dir, ...args], { env })).stdout;
  await git('init', '-q', '-b', 'main');
  await git('add', '-A');
  await git('commit', '-q', '-m', 'first');
  if (o.server) {
    // a bare repository playing the git server (push to it with git('push', '-q', 'origin', 'main'))
    await exec('git', ['clone', '-q', '--bare', dir, join(root, 'server.git')], { env });
    await git('remote', 'add', 'origin', join(root, 'server.git'));
  }
  const cli = (...args: string[]): ReturnType<typeof runCli> => runCli([...args, '--config', config], { env: { SAFEPOINT_PASSWORD: undefined as unknown as string }, cwd: root });
  for (const r of ['files', 'db']) assert.equal((await cli('init', '--repo', r)).code, 0);
  const points = async (): Promise<{ tag: string; message: string }[]> => {
    const names = (await git('tag', '-l', 'restore-point/*')).split('\n').filter(Boolean);
    return Promise.all(names.map(async (tag) => ({ tag, message: await git('tag', '-l', '--format=%(contents)', tag) })));
  };
  return { root, dir, config, git, cli, points };
}

