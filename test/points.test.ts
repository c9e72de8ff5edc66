/**
 * Git restore points through the CLI, on a real git repository: `point create | list | show`, the tag's trailers,
 * the state of a point whose backup was forgotten, and the hooks that make points on major commits.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parsePoint } from '../src/git/restore-point.js';
import { gitProject as project } from './git-project.js';


test('point create tags the commit with its backups; list and show report their state; a forgotten backup makes the point incomplete', async (t) => {
  const p = await project(t);
  // a dirty work tree is refused: the point would not hold what is on disk
  await writeFile(join(p.dir, 'app.js'), 'console.log("v2 not committed")\n');
  const dirty = await p.cli('point', 'create');
  assert.equal(dirty.code, 1);
  assert.match(dirty.stderr, /^error: .*1 uncommitted changes \(app\.js\).*commit or stash/);
  assert.equal(dirty.stderr.trim().split('\n').length, 1, dirty.stderr);
  assert.deepEqual(await p.points(), []);
  await p.git('checkout', '--', 'app.js');

  const made = await p.cli('point', 'create', '--label', 'first', '--json');
  assert.equal(made.code, 0, made.stderr);
  const head = (await p.git('rev-parse', 'HEAD')).trim();
  const [tag] = await p.points();
  assert.ok(tag, 'a tag was written');
  assert.match(tag.tag, /^restore-point\/\d{8}T\d{6}Z-first$/);
  assert.equal((await p.git('rev-parse', `${tag.tag}^{commit}`)).trim(), head);
  const point = parsePoint(tag.tag, tag.message);
  assert.ok(point);
  assert.equal(point.commit, head);
  assert.deepEqual(point.snapshots.map((s) => s.source).sort(), ['code-config', 'sessions']);
  assert.deepEqual(point.databases.map((d) => [d.source, d.kind]), [['sessions', 'sqlite']]);
  assert.equal(point.databases[0]!.position.snapshot, point.snapshots.find((s) => s.source === 'sessions')!.id);
  assert.ok(point.bundle, 'a git bundle was stored');
  assert.match(tag.message, /^Safepoint-Point: 1$/m);
  assert.match(tag.message, new RegExp(`^Commit: ${head}$`, 'm'));

  const list = await p.cli('point', 'list', '--json');
  assert.equal(list.code, 0, list.stderr);
  const listed = list.stdout.trim().split('\n').map((l) => JSON.parse(l) as { tag: string; state: string });
  assert.deepEqual(listed.map((l) => [l.tag, l.state]), [[tag.tag, 'complete']]);

  const show = await p.cli('point', 'show', 'latest');
  assert.equal(show.code, 0, show.stderr);
  assert.match(show.stderr + show.stdout, new RegExp(`commit +${head}`));

  // every byte read back
  const verified = await p.cli('point', 'show', 'latest', '--verify', '--json');
  assert.equal(verified.code, 0, verified.stderr);
  assert.equal((JSON.parse(verified.stdout.trim().split('\n').at(-1)!) as { state: string }).state, 'verified');

  // the database backup is forgotten: the point says what it lacks
  const sessions = point.snapshots.find((s) => s.source === 'sessions')!;
  assert.equal((await p.cli('forget', sessions.id, '--repo', 'db')).code, 0);
  const after = await p.cli('point', 'show', tag.tag.split('/')[1]!.slice(0, 8), '--json');
  assert.equal(after.code, 0, after.stderr);
  const shown = JSON.parse(after.stdout.trim().split('\n').at(-1)!) as { state: string; absent: string[] };
  assert.equal(shown.state, 'incomplete');
  assert.match(shown.absent.join('\n'), /sessions: snapshot [0-9a-f]{8} is not in repository db/);

  // a damaged pack of the files repository: --verify finds it
  const dataDir = join(p.root, 'repo-files', 'data');
  for (const sub of await readdir(dataDir)) {
    for (const name of await readdir(join(dataDir, sub))) {
      const file = join(dataDir, sub, name);
      const bytes = await readFile(file);
      bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
      await writeFile(file, bytes);
    }
  }
  const damaged = await p.cli('point', 'list', '--verify', '--json');
  assert.equal(damaged.code, 1);
  assert.match(damaged.stdout, /is damaged \(/);

  const unknown = await p.cli('point', 'show', 'nope');
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /^error: no restore point "nope"/);
  const badLabel = await p.cli('point', 'create', '--label', '../x');
  assert.equal(badLabel.code, 2);
  const badRev = await p.cli('point', 'create', '--rev', 'no-such-branch');
  assert.equal(badRev.code, 1);
  assert.match(badRev.stderr, /^error: revision "no-such-branch" is not a commit/);
});

test('hooks: a breaking change, a v* tag and a merge into main make restore points; other commits do not; foreign hooks are kept', async (t) => {
  const p = await project(t);
  const hooks = join(p.dir, '.git', 'hooks');
  await writeFile(join(hooks, 'post-commit'), '#!/bin/sh\necho mine >> "$(git rev-parse --git-dir)/mine.log"\n', { mode: 0o755 });
  const kept = await p.cli('hooks', 'install');
  assert.equal(kept.code, 0, kept.stderr);
  assert.match(kept.stderr, /post-commit .* not safepoint's: left alone/);
  const forced = await p.cli('hooks', 'install', '--force');
  assert.equal(forced.code, 0, forced.stderr);
  assert.match(await readFile(join(hooks, 'post-commit.before-safepoint'), 'utf8'), /echo mine/);

  const commit = async (file: string, message: string): Promise<void> => {
    await writeFile(join(p.dir, file), `${message}\n`);
    await p.git('add', file);
    await p.git('commit', '-q', '-m', message);
  };
  await commit('a.txt', 'fix: a typo');
  assert.equal((await p.points()).length, 0, 'an ordinary commit makes no point');

  await commit('b.txt', 'feat!: drop the v1 API');
  let points = await p.points();
  assert.equal(points.length, 1, 'a breaking change makes a point');
  const breaking = parsePoint(points[0]!.tag, points[0]!.message);
  assert.equal(breaking?.reason, 'breaking change');
  assert.equal(breaking?.commit, (await p.git('rev-parse', 'HEAD')).trim());
  // code-only: the code and configuration source is backed up; the database is not (no position for SQLite)
  assert.deepEqual(breaking?.snapshots.map((s) => s.source), ['code-config']);

  await new Promise((r) => setTimeout(r, 1100)); // tag names have one-second resolution
  await p.git('tag', '-a', 'v1.0.0', '-m', 'release 1.0.0');
  points = await p.points();
  assert.equal(points.length, 2, 'a v* tag makes a point');
  assert.match(points.map((x) => x.tag).join(' '), /restore-point\/\d{8}T\d{6}Z-v1\.0\.0/);

  await new Promise((r) => setTimeout(r, 1100));
  await p.git('checkout', '-q', '-b', 'feature');
  await commit('c.txt', 'feature work');
  await p.git('checkout', '-q', 'main');
  await p.git('merge', '-q', '--no-ff', '-m', 'Merge branch feature', 'feature');
  points = await p.points();
  assert.equal(points.length, 3, `a merge into main makes a point: ${points.map((x) => x.tag).join(', ')}`);
  assert.ok(points.some((x) => parsePoint(x.tag, x.message)?.reason === 'merge into main'));

  const removed = await p.cli('hooks', 'uninstall');
  assert.equal(removed.code, 0, removed.stderr);
  assert.match(await readFile(join(hooks, 'post-commit'), 'utf8'), /echo mine/, 'the foreign hook is back');
});
