/**
 * `rollback data` (issue 6) on a real SQLite database: the plan first, a confirmation (or --force), then the restore
 * procedure to the time before the corruption; the state it replaced is kept as a safety snapshot; the rollback is
 * journaled, and the journal's chain verifies.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { planSteps, runCli, tempDir } from './helpers.js';

const rows = (db: string): unknown[] => {
  const d = new Database(db, { readonly: true });
  try {
    return d.prepare('select who from sessions order by id').all().map((r) => (r as { who: string }).who);
  } finally {
    d.close();
  }
};

test('rollback data: plan, refuse without a terminal or --force, then restore to the time before the corruption', async () => {
  const t = await tempDir();
  try {
    const db = join(t.path, 'sessions.db');
    const d = new Database(db);
    d.exec("create table sessions (id integer primary key, who text); insert into sessions (who) values ('ann'), ('bob');");
    d.close();
    const config = join(t.path, 'safepoint.yaml');
    await writeFile(config, `version: 1
project: shop
repositories:
  main: { targets: [ ${join(t.path, 'repo')} ] }
sources:
  - name: sessions
    type: sqlite
    repository: main
    path: ${db}
  - name: app
    type: files
    repository: main
    paths: [ ${t.path} ]
`);
    const cli = (args: string[]): ReturnType<typeof runCli> => runCli([...args, '--config', config]);
    assert.equal((await cli(['init', '--repo', 'main'])).code, 0);
    assert.equal((await cli(['backup', '--source', 'sessions'])).code, 0);
    await sleep(1100);
    const before = new Date().toISOString();
    await sleep(1100);
    const bad = new Database(db);
    bad.exec("delete from sessions where who = 'ann'; insert into sessions (who) values ('mallory');");
    bad.close();
    assert.equal((await cli(['backup', '--source', 'sessions'])).code, 0);

    const refused = await cli(['rollback', 'data', '--source', 'sessions', '--to', before]);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /^error: roll sessions back to .* \(the current state is kept as a safety backup\): confirm with --force \(no terminal to ask on\)$/m);
    assert.deepEqual(planSteps((await cli(['rollback', 'data', '--source', 'sessions', '--to', before, '--dry-run', '--json'])).stdout).map((s) => s.status), Array(5).fill('not_executed'));
    assert.deepEqual(rows(db), ['bob', 'mallory'], 'neither the refusal nor the dry run changed anything');

    const r = await cli(['rollback', 'data', '--source', 'sessions', '--to', before, '--force', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const steps = planSteps(r.stdout);
    assert.deepEqual(steps.slice(-5).map((s) => s.status), ['skipped', 'success', 'success', 'success', 'skipped']);
    assert.match(steps.at(-4)!.detail, /snapshot \w+ \(tag safety\)/);
    assert.deepEqual(rows(db), ['ann', 'bob']);

    const j = await cli(['journal', '--verify', '--json']);
    assert.equal(j.code, 0, j.stderr);
    const entries = j.stdout.split('\n').filter((l) => l.includes('"journal_entry"')).map((l) => JSON.parse(l) as { operation: string; result: string; source: string });
    assert.deepEqual(entries.filter((e) => e.operation.startsWith('rollback')).map((e) => [e.operation, e.source, e.result]), [['rollback-data', 'sessions', 'ok']]);
    assert.deepEqual(entries.filter((e) => e.operation === 'backup').map((e) => [e.source, e.result]), [['sessions', 'ok'], ['sessions', 'ok']]);

    for (const [args, message] of [
      [['--source', 'sessions', '--to', 'yesterday-ish'], /^error: --to "yesterday-ish" is not a time/],
      [['--source', 'sessions', '--to', '2999-01-01T00:00:00Z'], /^error: --to 2999-01-01T00:00:00Z is in the future$/m],
      [['--source', 'app', '--to', before], /^error: source app is a files source: rollback data restores databases/],
      [['--source', 'nope', '--to', before], /^error: .*nope/],
    ] as const) {
      const e = await cli(['rollback', 'data', ...args]);
      assert.equal(e.code, 2, e.stderr);
      assert.match(e.stderr, message);
      assert.equal(e.stderr.trim().split('\n').length, 1);
    }
  } finally {
    await t.cleanup();
  }
});
