/**
 * `safepoint deploy`, `rollback deploy` and `releases` on a real git repository: releases with restore points, an
 * atomic switch, a release that fails its health check (rolled back at once, migrations reported), one that fails
 * later (rolled back by the health watch), and a rollback by hand that brings the configuration back too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lstat, readFile, readdir, readlink, rm, symlink, writeFile, mkdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { gitProject } from './git-project.js';
import { planSteps, spawnCli } from './helpers.js';

interface Release {
  id: string;
  scripts?: { command: string; ok: boolean; output: string }[];
  status: string;
  commit: string;
  point: string | null;
  ran_migrations: boolean;
  live: boolean;
  reason?: string;
}

test('deploy: releases with restore points; a failed health check rolls back at once, a failing watch later, and rollback deploy by hand restores the configuration too', async (t) => {
  const p = await gitProject(t, {
    deploy: [
      'scripts: [ "echo built > BUILT", "sh migrate.sh" ]',
      'post_switch: [ "echo $SAFEPOINT_RELEASE >> ../../switched.log" ]',
      'health: { command: "sh healthcheck.sh", timeout: 5s }',
      'keep_releases: 3',
      'auto_rollback: { window: 4s, interval: 300ms, failure_limit: 2 }',
    ],
    files: { 'healthcheck.sh': 'exit 0\n', 'migrate.sh': 'echo "applied $(ls migrations | wc -l) migrations"\n', 'migrations/001.sql': 'create table a (id int);\n' },
  });
  const current = join(p.root, 'current');
  const commit = async (files: Record<string, string>, message: string): Promise<void> => {
    for (const [f, text] of Object.entries(files)) {
      await mkdir(join(p.dir, f, '..'), { recursive: true });
      await writeFile(join(p.dir, f), text);
    }
    await p.git('add', '-A');
    await p.git('commit', '-q', '-m', message);
    await new Promise((r) => setTimeout(r, 1100)); // release ids and tags have one-second resolution
  };
  const releases = async (): Promise<Release[]> => {
    const r = await p.cli('releases', '--json');
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Release);
  };
  const live = async (): Promise<string> => basename(await readlink(current));

  // 1. the first release: checked out, scripts run, a restore point made, switched, healthy
  await new Promise((r) => setTimeout(r, 1100));
  const first = await p.cli('deploy', '--json');
  assert.equal(first.code, 0, first.stderr + first.stdout);
  const [r1] = await releases();
  assert.ok(r1);
  assert.equal(r1.status, 'healthy');
  assert.equal(r1.live, true);
  assert.match(r1.point ?? '', /^restore-point\/\d{8}T\d{6}Z-deploy-[0-9a-f]{8}$/);
  assert.equal(await live(), r1.id);
  assert.equal(await readFile(join(current, 'BUILT'), 'utf8'), 'built\n');
  // what the scripts printed is kept with the release and sent as JSON events
  assert.deepEqual(r1.scripts?.map((x) => [x.command, x.ok, x.output]), [['echo built > BUILT', true, ''], ['sh migrate.sh', true, 'applied 1 migrations']]);
  assert.match(first.stdout, /"message_type":"script".*"output":"applied 1 migrations"/);
  // and recorded in the journal of the code's repository, with the run's operation id
  const journal = (await p.cli('journal', '--repo', 'files', '--json')).stdout.split('\n').filter((l) => l.includes('"journal_entry"')).map((l) => JSON.parse(l) as { operation: string; result: string; figures: { scripts?: { command: string; output: string; ok: boolean }[] } });
  const deployed = journal.find((e) => e.operation === 'deploy');
  assert.equal(deployed?.result, 'ok');
  assert.deepEqual(deployed.figures.scripts?.map((x) => [x.command, x.ok, x.output]), [['echo built > BUILT', true, ''], ['sh migrate.sh', true, 'applied 1 migrations']]);
  assert.equal((await lstat(current)).isSymbolicLink(), true);

  // 2. a release with a new migration that fails its health check: rolled back at once, migrations reported
  await commit({ 'healthcheck.sh': 'exit 1\n', 'migrations/002.sql': 'alter table a add b int;\n' }, 'v2: broken');
  const second = await p.cli('deploy', '--json');
  assert.notEqual(second.code, 0);
  const steps2 = planSteps(second.stdout);
  assert.equal(steps2.find((s) => s.status === 'error')?.name, 'run the post-switch commands and health checks');
  assert.match(second.stderr, /ran database migrations: the data may be ahead of the code/);
  assert.equal(await live(), r1.id, 'the previous release is live again');
  let all = await releases();
  assert.deepEqual(all.map((r) => [r.status, r.ran_migrations]), [['healthy', true], ['failed', true]], 'the first release created the schema; the second added 002.sql');

  // 3. a release healthy at first that fails during the watch: rolled back by itself
  await commit({ 'healthcheck.sh': 'test ! -f "$SAFEPOINT_RELEASE/../../broken"\n' }, 'v3: fails later');
  const watched = spawnCli(['deploy', '--auto-rollback', '--json', '--config', p.config], { env: { SAFEPOINT_PASSWORD: undefined }, cwd: p.root, timeoutMs: 60_000 });
  await watched.waitForLine((l) => l.includes('"message_type":"health"'), 30_000); // the first check of the watch passed
  await writeFile(join(p.root, 'broken'), 'x');
  const third = await watched.exited;
  assert.notEqual(third.code, 0);
  const steps3 = planSteps(third.stdout);
  assert.match(steps3.find((s) => s.status === 'error')?.detail ?? '', /2 of \d+ health checks failed within the window.*rolled back to/);
  assert.equal(await live(), r1.id);
  await rm(join(p.root, 'broken'));

  // 4. a healthy release, the configuration changed on the server, then a rollback by hand
  await commit({ 'healthcheck.sh': 'exit 0\n' }, 'v4: fixed');
  const fourth = await p.cli('deploy');
  assert.equal(fourth.code, 0, fourth.stderr);
  all = await releases();
  const r4 = all.at(-1)!;
  assert.equal(r4.live, true);
  await writeFile(join(p.dir, 'config/app.yaml'), 'port: 1\n');
  const safetyCount = async (): Promise<number> => (await p.cli('snapshots', '--json', '--repo', 'files', '--tag', 'safety')).stdout.split('"source":"code-config"').length - 1;
  const safetyBefore = await safetyCount();
  const dry = await p.cli('rollback', 'deploy', '--dry-run');
  assert.equal(dry.code, 0, dry.stderr);
  assert.equal(await live(), r4.id, 'a dry run changes nothing');
  assert.equal(await safetyCount(), safetyBefore, 'a dry run takes no safety backup');
  const back = await p.cli('rollback', 'deploy', '--json');
  assert.equal(back.code, 0, back.stderr + back.stdout);
  assert.equal(await live(), r1.id, 'the failed releases are skipped: back to the first one');
  assert.equal(await readFile(join(p.dir, 'config/app.yaml'), 'utf8'), 'port: 8080\n', "the first release's configuration is back");
  // what the configuration held is kept beside it, never deleted (the automatic rollbacks above kept theirs too)
  const kept = (await readdir(p.dir)).filter((n) => n.startsWith('config.before-')).sort();
  assert.ok(kept.length >= 1, (await readdir(p.dir)).join(', '));
  assert.equal(await readFile(join(p.dir, kept.at(-1)!, 'app.yaml'), 'utf8'), 'port: 1\n');
  await rm(join(p.dir, kept.at(-1)!), { recursive: true });
  assert.equal(await safetyCount(), safetyBefore + 1, 'the configuration was backed up before being replaced');
  all = await releases();
  assert.equal(all.find((r) => r.id === r4.id)?.status, 'rolled-back');
  const switched = (await readFile(join(p.root, 'switched.log'), 'utf8')).trim().split('\n');
  assert.equal(switched.at(-1), join(p.root, 'releases', r1.id), 'post-switch commands ran for the rollback');

  // a deploy script that is missing: the release fails before the switch, the live one stays
  await p.git('rm', '-q', 'migrate.sh');
  await p.git('commit', '-q', '-m', 'v5: migrate.sh lost');
  await new Promise((r) => setTimeout(r, 1100));
  const noScript = await p.cli('deploy', '--json');
  assert.notEqual(noScript.code, 0);
  assert.equal(planSteps(noScript.stdout).find((s) => s.status === 'error')?.name, 'run the deployment scripts');
  assert.equal(await live(), r1.id);
  assert.equal((await releases()).at(-1)?.status, 'failed');

  // bad input: one line each, the live release stays live
  const none = await p.cli('rollback', 'deploy', '--to', 'nope');
  assert.equal(none.code, 2);
  assert.match(none.stderr, /^error: --to nope: no such release/);
  const noPrev = await p.cli('rollback', 'deploy');
  assert.equal(noPrev.code, 1);
  assert.match(noPrev.stderr, /passed its health checks: nothing to roll back to/);
  await writeFile(join(p.dir, 'app.js'), 'not committed\n');
  const dirty = await p.cli('deploy');
  assert.notEqual(dirty.code, 0);
  assert.match(dirty.stdout + dirty.stderr, /1 uncommitted changes \(app\.js\): they would not be deployed/);
  await p.git('checkout', '--', 'app.js');
  const badRev = await p.cli('deploy', '--rev', 'no-such-rev');
  assert.notEqual(badRev.code, 0);
  assert.match(badRev.stderr, /no-such-rev/);
  await rm(current);
  await mkdir(current);
  const notLink = await p.cli('deploy');
  assert.notEqual(notLink.code, 0);
  assert.match(notLink.stdout + notLink.stderr, /is not a symlink/);
  await rm(current, { recursive: true });
  await symlink(join(p.root, 'releases', r1.id), current);
  assert.equal(await live(), r1.id);
});
