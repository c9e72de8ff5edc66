/**
 * Drills of a restore point (the code from its git bundle, each source's snapshot the point recorded) and a drill
 * interrupted half-way (issue 6): the sandbox is torn down on SIGINT too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gitProject } from './git-project.js';
import { spawnCli, tempDir, writeTree, runCli } from './helpers.js';

interface Drill { source: string; ok: boolean; snapshot_id: string | null; where: string | null; checks: { name: string; ok: boolean }[] }
const drills = (stdout: string): Drill[] => stdout.split('\n').filter((l) => l.includes('"message_type":"drill"')).map((l) => JSON.parse(l) as Drill);

test('drill --point: every source at the snapshot the point recorded, and the code from the point\'s git bundle', async (t) => {
  const p = await gitProject(t);
  const made = await p.cli('point', 'create', '--label', 'drilled', '--json');
  assert.equal(made.code, 0, made.stderr);
  const point = JSON.parse(made.stdout.split('\n').find((l) => l.includes('"message_type":"point"'))!) as { snapshots: { source: string; id: string }[] };
  // newer backups after the point: --point must still drill the point's own snapshots
  await writeFile(join(p.dir, 'config', 'app.yaml'), 'port: 9090\n');
  assert.equal((await p.cli('backup', '--source', 'code-config')).code, 0);

  const d = await p.cli('drill', '--point', 'latest', '--json');
  assert.equal(d.code, 0, d.stdout + d.stderr);
  const r = drills(d.stdout);
  assert.deepEqual(r.map((x) => [x.source, x.ok]), [['code-config', true], ['sessions', true], ['code', true]]);
  assert.equal(r[0]!.snapshot_id, point.snapshots.find((s) => s.source === 'code-config')!.id);
  assert.deepEqual(r[2]!.checks.map((c) => c.name), ['git bundle restored and verified', 'checked out at the point\'s commit']);

  // without --point, a project with deploy: the latest backups, and the code of the latest point
  const latest = await p.cli('drill', '--json');
  assert.equal(latest.code, 0, latest.stderr);
  const l = drills(latest.stdout);
  assert.deepEqual(l.map((x) => x.source), ['code-config', 'sessions', 'code']);
  assert.notEqual(l[0]!.snapshot_id, r[0]!.snapshot_id);
  const j = await p.cli('journal', '--repo', 'files', '--json');
  assert.ok(j.stdout.split('\n').some((x) => x.includes('"operation":"drill"') && x.includes('"source":"code"')));
});

test('a drill interrupted by SIGINT tears its sandbox down and exits 130', async () => {
  const t = await tempDir();
  try {
    await writeTree(join(t.path, 'app'), { 'a.txt': 'a\n', 'b/c.txt': 'c\n' });
    const tmp = join(t.path, 'tmp');
    await mkdir(tmp);
    const config = join(t.path, 'safepoint.yaml');
    await writeFile(config, `version: 1
project: shop
repositories:
  main: { targets: [ ${join(t.path, 'repo')} ] }
sources:
  - name: app
    type: files
    repository: main
    paths: [ ${join(t.path, 'app')} ]
    checks:
      - command: echo smoke-test-started; sleep 20
`);
    assert.equal((await runCli(['init', '--config', config, '--repo', 'main'])).code, 0);
    assert.equal((await runCli(['backup', '--config', config, '--source', 'app'])).code, 0);
    const drill = spawnCli(['drill', '--config', config], { env: { TMPDIR: tmp } });
    await drill.waitForLine((l) => /restoring snapshot/.test(l));
    // the restore is done and the smoke test runs once the sandbox holds the files
    for (let i = 0; i < 100 && (await readdir(tmp)).length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await readdir(tmp)).length, 1, 'the sandbox exists while the drill runs');
    drill.kill('SIGINT');
    const end = await drill.exited;
    assert.equal(end.code, 130, end.stderr);
    assert.match(end.stderr, /SIGINT: tearing the sandbox down/);
    assert.deepEqual(await readdir(tmp), []);
  } finally {
    await t.cleanup();
  }
});
