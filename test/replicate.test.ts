/**
 * `safepoint replicate` through the CLI, under a steady write load: what a crash of the machine loses (the RPO
 * actually achieved), a clean stop, and a restore to a time in the middle.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { lastJson, runCli, spawnCli, tempDir } from './helpers.js';

test('replicate under steady writes: a crash loses about one interval, a stop loses nothing, --target-time restores the middle', async (t) => {
  const dir = await tempDir('sp-replicate-');
  const path = join(dir.path, 'app.db');
  const app = new Database(path);
  app.pragma('journal_mode = WAL');
  app.exec('CREATE TABLE ticks (id INTEGER PRIMARY KEY, at INTEGER NOT NULL, pad TEXT)');
  const config = join(dir.path, 'safepoint.yaml');
  await writeFile(config, `version: 1\nproject: demo\nrepositories:\n  db: { targets: [ ${join(dir.path, 'repo')} ] }\nsources:\n  - name: app\n    type: sqlite\n    repository: db\n    path: ${path}\n    continuous: true\n    checks:\n      - sql: "select count(*) > 0 from ticks"\n`);
  let writer: NodeJS.Timeout | undefined;
  try {
    assert.equal((await runCli(['init', '--config', config, '--repo', 'db'])).code, 0);
    const insert = app.prepare('INSERT INTO ticks (at, pad) VALUES (?, ?)');
    writer = setInterval(() => insert.run(Date.now(), 'p'.repeat(200)), 10); // ~100 transactions a second
    const write = (): Promise<void> => new Promise((r) => setTimeout(r, 10));
    await write();

    // a crash: the replicating process is killed, the writer goes on a moment (its last writes are the loss)
    const rep = spawnCli(['replicate', '--config', config, '--json'], { timeoutMs: 60_000 });
    await rep.waitForLine((l) => l.includes('"message_type":"generation"'), 30_000);
    await new Promise((r) => setTimeout(r, 3500));
    const midTime = Date.now();
    await new Promise((r) => setTimeout(r, 2500));
    rep.kill('SIGKILL');
    const crashAt = Date.now();
    await rep.exited;
    const segments = rep.lines.filter((l) => l.includes('"message_type":"segment"')).map((l) => JSON.parse(l) as { seconds: number });
    assert.ok(segments.length >= 4, `segments: ${segments.length}`);

    const restored = join(dir.path, 'restored.db');
    const r = await runCli(['restore', '--config', config, '--source', 'app', '--into', restored, '--json']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const db = new Database(restored, { readonly: true });
    const lastAt = db.prepare('SELECT max(at) FROM ticks').pluck().get() as number;
    db.close();
    const lost = (crashAt - lastAt) / 1000;
    assert.ok(lost >= 0 && lost < 3, `data lost by the crash: ${lost} s`);

    // a clean stop ships what was committed before it
    const rep2 = spawnCli(['replicate', '--config', config, '--json', '--interval', '1s'], { timeoutMs: 60_000 });
    await rep2.waitForLine((l) => l.includes('"message_type":"generation"'), 30_000);
    await new Promise((r) => setTimeout(r, 1500));
    clearInterval(writer);
    writer = undefined;
    const lastWritten = app.prepare('SELECT max(at) FROM ticks').pluck().get() as number;
    rep2.kill('SIGTERM');
    const done = await rep2.exited;
    assert.equal(done.code, 0, done.stderr);
    assert.match(String(lastJson(done.stdout).message_type), /summary/);
    const all = join(dir.path, 'all.db');
    assert.equal((await runCli(['restore', '--config', config, '--source', 'app', '--into', all])).code, 0);
    const db2 = new Database(all, { readonly: true });
    assert.equal(db2.prepare('SELECT max(at) FROM ticks').pluck().get(), lastWritten, 'nothing committed before the stop is lost');
    db2.close();

    // the middle of the first run: every row restored was written by then, and at most an interval is missing
    const mid = join(dir.path, 'mid.db');
    const m = await runCli(['restore', '--config', config, '--source', 'app', '--into', mid, '--target-time', new Date(midTime).toISOString(), '--json']);
    assert.equal(m.code, 0, m.stdout + m.stderr);
    const db3 = new Database(mid, { readonly: true });
    const midLast = db3.prepare('SELECT max(at) FROM ticks').pluck().get() as number;
    db3.close();
    assert.ok(midLast <= midTime && midTime - midLast < 2500, `restored to ${midTime - midLast} ms before the target`);

    // retention: keeping the last restore point removes the first run's generation, base and segments
    const fg = await runCli(['forget', '--config', config, '--source', 'app', '--keep-last', '1', '--json']);
    assert.equal(fg.code, 0, fg.stderr);
    const plan = fg.stdout.split('\n').filter((l) => l.includes('forget_group')).map((l) => JSON.parse(l) as { keep: unknown[]; remove: unknown[] })[0]!;
    assert.ok(plan.remove.length >= segments.length + 1, `removed ${plan.remove.length}`);
    const again = join(dir.path, 'again.db');
    assert.equal((await runCli(['restore', '--config', config, '--source', 'app', '--into', again])).code, 0);
    const db4 = new Database(again, { readonly: true });
    assert.equal(db4.prepare('SELECT max(at) FROM ticks').pluck().get(), lastWritten);
    db4.close();

    const shipping = segments.map((s) => s.seconds).sort((a, b) => a - b);
    t.diagnostic(`crash lost ${lost.toFixed(2)} s of writes; ${segments.length} segments, median shipping ${shipping[Math.floor(shipping.length / 2)]!.toFixed(3)} s; --target-time landed ${midTime - midLast} ms before the target`);
  } finally {
    if (writer) clearInterval(writer);
    app.close();
    await dir.cleanup();
  }
});
