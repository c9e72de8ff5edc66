/**
 * `safepoint restore code` on a real git repository: the checkout at a restore point with its configuration backup,
 * the deployment scripts and the health check; the git bundle when the git server is gone; bad input.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gitProject } from './git-project.js';
import { planSteps } from './helpers.js';

test('restore code at a point: the commit, the configuration backed up with it, the scripts and the health check; the bundle when the server is gone', async (t) => {
  const p = await gitProject(t, {
    deploy: ['scripts: [ "echo built > BUILT" ]', 'health: { command: "test -f BUILT && grep -q 8080 config/app.yaml" }'],
    server: true,
  });
  // the live configuration differs from what is committed: the backup, not git, is the truth for it
  await writeFile(join(p.dir, 'config/app.yaml'), 'port: 8080\nsecret: from-the-server\n');
  await p.git('update-index', '--assume-unchanged', 'config/app.yaml');
  assert.equal((await p.cli('point', 'create', '--label', 'one')).code, 0);
  // later: new code, new configuration
  await writeFile(join(p.dir, 'app.js'), 'console.log("v2")\n');
  await p.git('commit', '-q', '-am', 'v2');
  await writeFile(join(p.dir, 'config/app.yaml'), 'port: 9090\n');
  assert.equal((await p.cli('backup', '--source', 'code-config')).code, 0);
  await new Promise((r) => setTimeout(r, 1100)); // commit times have one-second resolution
  await writeFile(join(p.dir, 'app.js'), 'console.log("v3")\n');
  await p.git('commit', '-q', '-am', 'v3');
  await p.git('push', '-q', 'origin', 'main');

  const into = join(p.root, 'restored');
  const dry = await p.cli('restore', 'code', '--point', 'latest', '--into', into, '--dry-run', '--json');
  assert.equal(dry.code, 0, dry.stderr);
  assert.deepEqual(planSteps(dry.stdout).map((s) => s.status), ['not_executed', 'not_executed', 'not_executed', 'not_executed']);

  const r = await p.cli('restore', 'code', '--point', 'latest', '--into', into, '--json');
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.deepEqual(planSteps(r.stdout).map((s) => s.status), ['success', 'success', 'success', 'success']);
  assert.equal(await readFile(join(into, 'app.js'), 'utf8'), 'console.log("v1")\n', 'the code of the point');
  assert.equal(await readFile(join(into, 'config/app.yaml'), 'utf8'), 'port: 8080\nsecret: from-the-server\n', 'the configuration backed up with the point');
  assert.equal(await readFile(join(into, 'BUILT'), 'utf8'), 'built\n', 'the deploy script ran in the checkout');

  // --rev: the newest configuration backup at or before that commit (port 9090: the health check fails)
  const byRev = join(p.root, 'by-rev');
  const r2 = await p.cli('restore', 'code', '--rev', 'main', '--into', byRev);
  assert.equal(r2.code, 1, r2.stderr);
  assert.equal(await readFile(join(byRev, 'app.js'), 'utf8'), 'console.log("v3")\n');
  assert.equal(await readFile(join(byRev, 'config/app.yaml'), 'utf8'), 'port: 9090\n');
  assert.match(r2.stderr, /stopped at step 4 \(run the health checks\)/);

  // the git server is gone: the bundle stored with the point has the commit
  const server = join(p.root, 'server.git');
  await rename(server, `${server}.gone`);
  const offline = join(p.root, 'offline');
  const r3 = await p.cli('restore', 'code', '--point', 'latest', '--into', offline, '--json');
  assert.equal(r3.code, 0, r3.stderr + r3.stdout);
  assert.match(planSteps(r3.stdout)[0]!.detail, /from the git bundle in snapshot [0-9a-f]{8}/);
  assert.equal(await readFile(join(offline, 'app.js'), 'utf8'), 'console.log("v1")\n');
  assert.match(planSteps(r3.stdout)[0]!.detail, /server\.git failed/);
  await rename(`${server}.gone`, server);

  // bad input: one line, nothing written
  for (const [args, pattern] of [
    [['--point', 'latest'], /needs --into DIR/],
    [['--point', 'latest', '--rev', 'main', '--into', join(p.root, 'x')], /--point P .* or --rev R/],
    [['--rev', 'no-such', '--into', join(p.root, 'y')], /no-such/],
    [['--point', 'latest', '--into', into], /is not empty/],
  ] as const) {
    const bad = await p.cli('restore', 'code', ...args);
    assert.notEqual(bad.code, 0, args.join(' '));
    assert.match(bad.stderr, pattern);
    assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
  }
  for (const never of ['x', 'y']) await assert.rejects(stat(join(p.root, never)), /ENOENT/, `${never}/ was not created`);
});
