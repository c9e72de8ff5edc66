/**
 * Restore drills and the status of objectives (issue 6), through the CLI on real files and a real SQLite database:
 * a drill restores into a sandbox that is gone afterwards, never touches the live data, measures the RTO, records
 * itself in the journal, and `status` reads the journal and the snapshots to judge each source.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { hashTree, runCli, tempDir, writeTree } from './helpers.js';

interface Project { root: string; config: string; env: NodeJS.ProcessEnv; tmp: string }

async function project(root: string, o: { appRto?: string; appRpo?: string; sessionCheck?: string } = {}): Promise<Project> {
  await writeTree(join(root, 'app'), { 'config.json': '{"port": 8080}\n', 'src/main.js': 'console.log("shop")\n'.repeat(50), 'public/index.html': '<h1>shop</h1>\n' });
  const db = join(root, 'sessions.db');
  const d = new Database(db);
  d.exec("create table if not exists sessions (id integer primary key, who text); insert into sessions (who) values ('ann'), ('bob');");
  d.close();
  const config = join(root, 'safepoint.yaml');
  await writeConfig(config, root, o);
  const tmp = join(root, 'tmp');
  await mkdir(tmp);
  return { root, config, tmp, env: { TMPDIR: tmp } };
}

async function writeConfig(config: string, root: string, o: { appRto?: string; appRpo?: string; sessionCheck?: string }): Promise<void> {
  await writeFile(config, `version: 1
project: shop
repositories:
  main: { targets: [ ${join(root, 'repo')} ] }
sources:
  - name: app
    type: files
    repository: main
    paths: [ ${join(root, 'app')} ]
    rpo: ${o.appRpo ?? '1h'}
    rto: ${o.appRto ?? '1h'}
    checks:
      - command: test -f "$SAFEPOINT_RESTORED/app/config.json" && test "$SAFEPOINT_DRILL" = 1
  - name: sessions
    type: sqlite
    repository: main
    path: ${join(root, 'sessions.db')}
    rpo: 1h
    rto: 15m
    checks:
      - sql: "${o.sessionCheck ?? 'select count(*) = 2 from sessions'}"
`);
}

const events = (stdout: string, type: string): Record<string, unknown>[] =>
  stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>).filter((e) => e.message_type === type);

test('drill restores every source into a sandbox, verifies it, measures the RTO, journals it; status reads it', async () => {
  const t = await tempDir();
  try {
    const p = await project(t.path);
    const cli = (args: string[]): ReturnType<typeof runCli> => runCli([...args, '--config', p.config], { env: p.env });
    assert.equal((await cli(['init', '--repo', 'main'])).code, 0);
    for (const s of ['app', 'sessions']) assert.equal((await cli(['backup', '--source', s])).code, 0);
    await writeFile(join(t.path, 'app', 'config.json'), '{"port": 8081}\n');
    assert.equal((await cli(['backup', '--source', 'app'])).code, 0);

    // before any drill or check: backed up within the RPO, but the RTO is unproven
    const before = await cli(['status', '--json']);
    assert.equal(before.code, 0, before.stderr);
    const st0 = events(before.stdout, 'source_status');
    assert.deepEqual(st0.map((s) => [s.source, s.verdict]), [['app', 'at risk'], ['sessions', 'at risk']]);
    assert.ok((st0[0]!.reasons as string[]).some((r) => /never drilled/.test(r)));
    assert.equal((st0[0]!.immutability as { state: string }).state, 'none');

    const live = await hashTree(join(t.path, 'app'));
    const d = await cli(['drill', '--all', '--sample-older', '--json']);
    assert.equal(d.code, 0, d.stderr);
    const drills = events(d.stdout, 'drill');
    // app has an older backup to sample; sessions has only one
    assert.deepEqual(drills.map((x) => [x.source, x.sampled_older, x.ok]), [['app', false, true], ['app', true, true], ['sessions', false, true]]);
    for (const x of drills) {
      assert.equal(typeof x.rto_seconds, 'number');
      assert.ok((x.rto_seconds as number) > 0 && (x.rto_seconds as number) < 60);
      assert.ok((x.checks as { ok: boolean }[]).every((c) => c.ok));
    }
    assert.deepEqual((drills[0]!.checks as { name: string }[]).map((c) => c.name), ['files restored', 'file hashes match the snapshot', 'test -f "$SAFEPOINT_RESTORED/app/config.json" && test "$SAFEPOINT_DRILL" = 1']);
    assert.ok((drills[2]!.checks as { name: string }[]).some((c) => /integrity_check/.test(c.name)));
    assert.equal(drills[2]!.rto_objective_seconds, 900);
    // the sandbox is gone and production untouched
    assert.deepEqual(await readdir(p.tmp), []);
    assert.deepEqual(await hashTree(join(t.path, 'app')), live);

    assert.equal((await cli(['check'])).code, 0);
    const after = await cli(['status', '--json']);
    assert.equal(after.code, 0, after.stderr);
    const st1 = events(after.stdout, 'source_status');
    assert.deepEqual(st1.map((s) => [s.source, s.verdict, s.reasons]), [['app', 'ok', []], ['sessions', 'ok', []]]);
    const drill = st1[1]!.last_drill as { ok: boolean; rto_seconds: number };
    assert.equal(drill.ok, true);
    assert.equal((st1[0]!.last_check as { ok: boolean }).ok, true);
    const human = await cli(['status']);
    assert.match(human.stdout, /^SOURCE\s+TYPE\s+VERDICT\s+EXPOSURE \/ RPO\s+DRILL RTO \/ RTO\s+LAST CHECK\s+IMMUTABILITY$/m);
    assert.match(human.stdout, /^sessions\s+sqlite\s+ok\s+[\d.]+s \/ 1h 00m\s+[\d.]+s \/ 15m\s+ok [\d.]+s ago\s+none$/m);
  } finally {
    await t.cleanup();
  }
});

test('a drill whose checks fail, or that takes longer than the RTO, fails; status then reports the objective violated (exit 4)', async () => {
  const t = await tempDir();
  try {
    const p = await project(t.path, { sessionCheck: 'select count(*) = 99 from sessions', appRto: '1ms' });
    const cli = (args: string[]): ReturnType<typeof runCli> => runCli([...args, '--config', p.config], { env: p.env });
    assert.equal((await cli(['init', '--repo', 'main'])).code, 0);
    for (const s of ['app', 'sessions']) assert.equal((await cli(['backup', '--source', s])).code, 0);
    const d = await cli(['drill', '--json']);
    assert.equal(d.code, 1);
    const lines = d.stderr.trim().split('\n');
    assert.match(lines.at(-1)!, /^error: 2 of 2 drills failed: app: restore took \S+, over the RTO of 0s; sessions: 1 of \d+ checks failed: sql: select count\(\*\) = 99 from sessions: /);
    assert.deepEqual(await readdir(p.tmp), [], 'a failed drill leaves no sandbox behind');
    const s = await cli(['status', '--json']);
    assert.equal(s.code, 4);
    assert.match(s.stderr, /^error: 2 of 2 sources violate an objective: app, sessions$/m);
    const st = events(s.stdout, 'source_status');
    assert.match((st[0]!.reasons as string[])[0]!, /^last drill \(.*\) failed: restore took/);

    // a drill of one source only; an unknown source is a one-line error
    const bad = await cli(['drill', '--source', 'nope']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^error: .*nope/);
    assert.equal(bad.stderr.trim().split('\n').length, 1);
  } finally {
    await t.cleanup();
  }
});

test('status: a source never backed up, or backed up longer ago than its RPO, violates its objective', async () => {
  const t = await tempDir();
  try {
    const p = await project(t.path, { appRpo: '1ms' });
    const cli = (args: string[]): ReturnType<typeof runCli> => runCli([...args, '--config', p.config], { env: p.env });
    assert.equal((await cli(['init', '--repo', 'main'])).code, 0);
    assert.equal((await cli(['backup', '--source', 'app'])).code, 0);
    const s = await cli(['status', '--json']);
    assert.equal(s.code, 4);
    const st = events(s.stdout, 'source_status');
    assert.match((st[0]!.reasons as string[])[0]!, /^last protection \S+ ago, over the RPO of 0s$/);
    assert.deepEqual(st[1]!.reasons, ['never backed up']);
    assert.equal(st[1]!.exposure_seconds, null);
  } finally {
    await t.cleanup();
  }
});

test('forget --all applies each source\'s retention but never removes its last drilled snapshot nor a quarantined one', async () => {
  const t = await tempDir();
  try {
    const p = await project(t.path);
    const yaml = await readFile(p.config, 'utf8');
    await writeFile(p.config, yaml.replace('    rto: 15m\n', '    rto: 15m\n    retention: { keep_last: 1 }\n').replace('    rto: 1h\n', '    rto: 1h\n    retention: { keep_last: 1 }\n'));
    const cli = (args: string[]): ReturnType<typeof runCli> => runCli([...args, '--config', p.config], { env: p.env });
    assert.equal((await cli(['init', '--repo', 'main'])).code, 0);
    const snap = async (source: string, tags: string[] = []): Promise<string> => {
      const b = await cli(['backup', '--source', source, '--json', ...tags.flatMap((x) => ['--tag', x])]);
      assert.equal(b.code, 0, b.stderr);
      return b.stdout.split('\n').filter((l) => l.includes('"summary"')).map((l) => (JSON.parse(l) as { snapshot_id: string }).snapshot_id)[0]!;
    };
    const drilledApp = await snap('app');
    const drilledDb = await snap('sessions');
    assert.equal((await cli(['drill', '--all'])).code, 0);
    await writeFile(join(t.path, 'app', 'config.json'), '{"port": 1}\n');
    const quarantined = await snap('app', ['quarantine']);
    await writeFile(join(t.path, 'app', 'config.json'), '{"port": 2}\n');
    const middle = await snap('app');
    await writeFile(join(t.path, 'app', 'config.json'), '{"port": 3}\n');
    const newest = await snap('app');
    const oldDb = await snap('sessions');
    const newDb = await snap('sessions');

    assert.equal((await cli(['forget', '--all', '--source', 'app'])).code, 2);
    const f = await cli(['forget', '--all', '--json']);
    assert.equal(f.code, 0, f.stderr);
    const left = JSON.parse((await cli(['snapshots', '--repo', 'main', '--json'])).stdout) as { id: string }[];
    const ids = new Set(left.map((s) => s.id));
    assert.deepEqual([drilledApp, quarantined, middle, newest].map((id) => ids.has(id)), [true, true, false, true]);
    assert.deepEqual([drilledDb, oldDb, newDb].map((id) => ids.has(id)), [true, false, true]);
    const groups = f.stdout.split('\n').filter((l) => l.includes('"forget_group"')).map((l) => JSON.parse(l) as { keep: { id: string; reasons: string[] }[] });
    const reasons = new Map(groups.flatMap((g) => g.keep.map((k) => [k.id, k.reasons.join(', ')] as const)));
    assert.equal(reasons.get(drilledApp), 'last snapshot that passed a drill');
    assert.equal(reasons.get(quarantined), 'tagged quarantine');
    assert.equal(reasons.get(drilledDb), 'last snapshot that passed a drill');
    // each source's forget is in the journal with its own figures, not one entry for the run
    const j = await cli(['journal', '--repo', 'main', '--json']);
    const forgets = j.stdout.split('\n').filter((l) => l.includes('"journal_entry"') && l.includes('"forget"')).map((l) => JSON.parse(l) as { source: string | null; result: string; figures: { snapshots_removed?: number } });
    assert.deepEqual(forgets.map((e) => [e.source, e.result, e.figures.snapshots_removed]), [['app', 'ok', 1], ['sessions', 'ok', 1]]);
  } finally {
    await t.cleanup();
  }
});

test('status of an application (a group of sources): the oldest exposure against its RPO, the sum of its sources\' restore times in one drill against its RTO', async () => {
  const t = await tempDir();
  try {
    const p = await project(t.path);
    const yaml = await readFile(p.config, 'utf8');
    await writeFile(p.config, `${yaml}applications:\n  shop: { sources: [ app, sessions ], rpo: 1h, rto: 10m }\n  strict: { sources: [ app, sessions ], rto: 1ms }\n`);
    const cli = (args: string[]): ReturnType<typeof runCli> => runCli([...args, '--config', p.config], { env: p.env });
    assert.equal((await cli(['init', '--repo', 'main'])).code, 0);
    for (const s of ['app', 'sessions']) assert.equal((await cli(['backup', '--source', s])).code, 0);
    assert.equal((await cli(['check'])).code, 0);
    // drilled one at a time: never together, so the application's RTO stays unproven
    assert.equal((await cli(['drill', '--source', 'app'])).code, 0);
    const alone = await cli(['status', '--json']);
    const apps0 = events(alone.stdout, 'application_status');
    assert.match((apps0[0]!.reasons as string[]).join(' | '), /never drilled together/);
    const d = await cli(['drill', '--all', '--json']);
    assert.equal(d.code, 0, d.stderr);
    const sum = events(d.stdout, 'drill').reduce((n, x) => n + (x.rto_seconds as number), 0);
    const s = await cli(['status', '--json']);
    assert.equal(s.code, 4, 'the strict application violates its RTO');
    const apps = events(s.stdout, 'application_status');
    assert.deepEqual(apps.map((a) => [a.application, a.verdict]), [['shop', 'ok'], ['strict', 'violated']]);
    assert.ok(Math.abs((apps[0]!.last_drill as { rto_seconds: number }).rto_seconds - sum) < 0.02, 'the sum of the restore times of one drill run');
    assert.match((apps[1]!.reasons as string[])[0]!, /^restoring all its sources took \S+ in the last drill, over the RTO of 0s$/);
    assert.match(s.stderr, /^error: 1 of 4 sources and applications violate an objective: application strict$/m);
    const bad = await runCli(['status', '--config', p.config], { env: { ...p.env } });
    assert.match(bad.stdout, /^APPLICATION\s+SOURCES\s+VERDICT/m);
    await writeFile(p.config, `${yaml}applications:\n  shop: { sources: [ app, nope ] }\n`);
    const wrong = await cli(['status']);
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /applications\.shop\.sources\[1\].*unknown source "nope"/);
  } finally {
    await t.cleanup();
  }
});
