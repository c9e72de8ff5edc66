import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmod, lstat, mkdtemp, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { SqliteSource } from '../../config/schema.js';
import type { Repository } from '../../repo/repository.js';
import { fastRepository } from '../../repo/testing.js';
import { backupStreams } from '../../snapshot/stream-backup.js';
import { IntegrityError, UserError } from '../../util/errors.js';
import { Secret } from '../../util/secret.js';
import { sqliteDriver } from './sqlite-driver.js';

const BETTER_SQLITE3 = createRequire(import.meta.url).resolve('better-sqlite3');

function sourceFor(path: string, checks: SqliteSource['checks'] = []): SqliteSource {
  return { name: 'app', repository: 'main', type: 'sqlite', path, tags: ['app'], services: [], continuous: false, checks };
}

async function withRepo(run: (repo: Repository, dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'sp-sqlite-'));
  const repo = await fastRepository(join(dir, 'repo'), new Secret('pw'));
  try {
    await run(repo, dir);
  } finally {
    await repo.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** A WAL-mode database with `customers` (3 rows) and `events` (`events` rows of ~1 KB). */
function createDatabase(path: string, events: number): void {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL); CREATE TABLE events (id INTEGER PRIMARY KEY, at INTEGER, payload BLOB); CREATE INDEX events_at ON events(at)');
  db.exec("INSERT INTO customers (name) VALUES ('ada'), ('grace'), ('linus')");
  const insert = db.prepare('INSERT INTO events (at, payload) VALUES (?, randomblob(1000))');
  db.transaction(() => {
    for (let i = 0; i < events; i++) insert.run(i);
  })();
  db.close();
}

function query<T>(path: string, sql: string): T {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return db.prepare(sql).pluck().get() as T;
  } finally {
    db.close();
  }
}

/** Runs `code` in a child Node process with `Database` (better-sqlite3) and `path` defined. */
function child(code: string, path: string) {
  const script = `const Database = require(process.argv[1]); const path = process.argv[2];\n${code}`;
  return spawn(process.execPath, ['-e', script, BETTER_SQLITE3, path], { stdio: ['pipe', 'pipe', 'inherit'] });
}

async function leftovers(dir: string, prefix: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.startsWith(prefix));
}

test('an online backup while another process inserts continuously is consistent and does not hold the writer up', async () => {
  await withRepo(async (repo, dir) => {
    const path = join(dir, 'app.db');
    createDatabase(path, 10_000);
    // the writer: one transaction per row, as fast as it can, yielding now and then to notice the end of stdin
    const writer = child(
      `const db = new Database(path, { timeout: 5000 });
      db.pragma('journal_mode = WAL');
      const insert = db.prepare('INSERT INTO events (at, payload) VALUES (?, randomblob(1000))');
      let rows = 0, maxGap = 0, last = performance.now(), stop = false, started = false;
      process.stdin.on('end', () => { stop = true; }).resume();
      (function loop() {
        for (const until = performance.now() + 5; performance.now() < until; ) {
          insert.run(Date.now());
          rows++;
          const now = performance.now();
          maxGap = Math.max(maxGap, now - last);
          last = now;
        }
        if (!started) { started = true; process.stdout.write('started\\n'); }
        if (!stop) return setImmediate(loop);
        db.close();
        process.stdout.write(JSON.stringify({ rows, maxGap }) + '\\n');
      })();`,
      path,
    );
    let out = '';
    writer.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((ok) => writer.on('exit', ok));
    while (!out.includes('started')) await new Promise((ok) => setTimeout(ok, 10));
    const tmpBefore = await leftovers(tmpdir(), 'safepoint-sqlite-');

    const before = query<number>(path, 'SELECT count(*) FROM events');
    const started = performance.now();
    const { snapshot } = await sqliteDriver.backup(repo, sourceFor(path), { tags: ['nightly'] });
    const took = performance.now() - started;
    const after = query<number>(path, 'SELECT count(*) FROM events');
    writer.stdin.end();
    assert.equal(await exited, 0);
    const stats = JSON.parse(out.split('\n').find((l) => l.startsWith('{')) ?? '{}') as { rows: number; maxGap: number };

    const meta = snapshot.meta as { kind: string; page_size: number; sqlite_version: string; tables: Record<string, number> };
    assert.equal(meta.kind, 'sqlite');
    assert.equal(meta.page_size, 4096);
    assert.match(meta.sqlite_version, /^3\.\d+\.\d+$/);
    assert.equal(meta.tables.customers, 3);
    const copied = meta.tables.events!;
    assert.ok(before <= copied && copied <= after, `copied ${copied} rows, live had ${before} before and ${after} after`);
    assert.ok(after > before, 'the writer committed rows while the backup ran');
    // not a lock: a reader blocks no writer in WAL mode; the longest pause (~0.1-0.2 s, when the copy ends) is the
    // writer's own checkpoint catching up with the WAL that grew while the copy held its snapshot
    assert.ok(stats.maxGap < 2000, `the writer waited ${stats.maxGap.toFixed(0)} ms for a commit (backup took ${took.toFixed(0)} ms)`);
    assert.deepEqual(snapshot.tags, ['app', 'nightly'], 'the source\'s tags, then the caller\'s (the same order for every database source)');
    assert.deepEqual(snapshot.paths, [path]);
    assert.deepEqual(await leftovers(tmpdir(), 'safepoint-sqlite-'), tmpBefore, 'the temporary copy is removed');

    const into = join(dir, 'restored', 'copy.db');
    const restored = await sqliteDriver.restore(repo, snapshot, sourceFor(path), { into }, {});
    assert.deepEqual(restored, { target: into, bytes: (await stat(into)).size });
    assert.equal(query<number>(into, 'SELECT count(*) FROM events'), copied);
    const checks = await sqliteDriver.verify(sourceFor(path), snapshot, { into });
    assert.deepEqual(checks.map((c) => [c.name, c.ok]), [['opens', true], ['integrity_check', true], ['row counts', true]]);
  });
});

test('a restore in place gives the old content back and removes the stale WAL of the database it replaces', async () => {
  await withRepo(async (repo, dir) => {
    const path = join(dir, 'app.db');
    createDatabase(path, 200);
    const source = sourceFor(path);
    assert.equal(sqliteDriver.describe(source), `sqlite:${path}`);
    const { snapshot } = await sqliteDriver.backup(repo, source, {});
    // later: a process changes the database and dies before any checkpoint, leaving its changes in app.db-wal
    const crash = child(
      `const db = new Database(path); db.pragma('wal_autocheckpoint = 0');
      db.exec("DELETE FROM events WHERE id > 50; UPDATE customers SET name = 'changed'; CREATE TABLE extra (x)");
      process.kill(process.pid, 'SIGKILL');`,
      path,
    );
    await new Promise((ok) => crash.on('exit', ok));
    assert.ok((await stat(`${path}-wal`)).size > 0, 'a stale WAL is there');
    assert.ok(await stat(`${path}-shm`));
    await chmod(path, 0o640);
    assert.equal(await sqliteDriver.exists(source, {}), true);

    const result = await sqliteDriver.restore(repo, snapshot, source, {}, {});
    assert.equal(result.target, path);
    await assert.rejects(stat(`${path}-wal`), { code: 'ENOENT' });
    await assert.rejects(stat(`${path}-shm`), { code: 'ENOENT' });
    assert.equal((await stat(path)).mode & 0o777, 0o640, 'the mode of the replaced file is kept');
    assert.equal(query<number>(path, 'SELECT count(*) FROM events'), 200);
    assert.equal(query<string>(path, "SELECT group_concat(name, ',') FROM customers"), 'ada,grace,linus');
    assert.equal(query<number>(path, "SELECT count(*) FROM sqlite_schema WHERE name = 'extra'"), 0);
    assert.deepEqual(await leftovers(dir, '.app.db.restore-'), []);
    assert.ok((await sqliteDriver.verify(source, snapshot, {})).every((c) => c.ok));

    // into another (new) folder
    const into = join(dir, 'elsewhere', 'deeper', 'app-copy.db');
    assert.equal(await sqliteDriver.exists(source, { into }), false);
    const other = await sqliteDriver.restore(repo, snapshot, source, { into }, {});
    assert.equal(other.target, into);
    assert.equal((await stat(into)).mode & 0o777, 0o600, 'a new file is private');
    assert.ok((await readFile(into)).equals(await readFile(path)));
    assert.equal(await sqliteDriver.exists(source, { into }), true);

    // through a symbolic link: the file it points to is replaced, the link stays
    const link = join(dir, 'link.db');
    await symlink(into, link);
    await writeFile(into, 'overwritten');
    assert.deepEqual(await sqliteDriver.restore(repo, snapshot, source, { into: link }, {}), { target: into, bytes: other.bytes });
    assert.ok((await lstat(link)).isSymbolicLink());
    assert.equal(query<number>(link, 'SELECT count(*) FROM events'), 200);
  });
});

test('verify reports row counts that differ from the snapshot and failing SQL checks', async () => {
  await withRepo(async (repo, dir) => {
    const path = join(dir, 'app.db');
    createDatabase(path, 20);
    const source = sourceFor(path, [{ sql: 'SELECT count(*) = 3 FROM customers' }, { sql: "SELECT 'true'" }, { command: 'exit 1' }, { sql: 'SELECT count(*) FROM customers WHERE name = ?' }]);
    const { snapshot } = await sqliteDriver.backup(repo, source, {});
    const into = join(dir, 'check.db');
    await sqliteDriver.restore(repo, snapshot, source, { into }, {});
    const names = ['opens', 'integrity_check', 'row counts', 'sql: SELECT count(*) = 3 FROM customers', "sql: SELECT 'true'", 'sql: SELECT count(*) FROM customers WHERE name = ?'];
    const first = await sqliteDriver.verify(source, snapshot, { into });
    assert.deepEqual(first.map((c) => c.name), names, 'command checks are left to the caller');
    assert.deepEqual(first.map((c) => c.ok), [true, true, true, true, true, false]);
    assert.match(first[5]!.detail, /parameter/i);

    // the snapshot says otherwise
    const tampered = { ...snapshot, meta: { ...snapshot.meta, tables: { customers: 4, events: 20, gone: 1 } } };
    const byMeta = (await sqliteDriver.verify(source, tampered, { into })).find((c) => c.name === 'row counts')!;
    assert.equal(byMeta.ok, false);
    assert.match(byMeta.detail, /customers: 3 rows, expected 4; gone: missing \(expected 1 rows\)/);
    const noMeta = (await sqliteDriver.verify(source, { ...snapshot, meta: {} }, { into })).find((c) => c.name === 'row counts')!;
    assert.equal(noMeta.ok, false);

    // the restored file changed
    const db = new Database(into);
    db.exec("DELETE FROM customers WHERE name = 'ada'; CREATE TABLE surprise (x)");
    db.close();
    const after = await sqliteDriver.verify(source, snapshot, { into });
    assert.deepEqual(after.map((c) => c.ok), [true, true, false, false, true, false]);
    assert.match(after[2]!.detail, /customers: 2 rows, expected 3; surprise: not in the snapshot/);
    assert.equal(after[3]!.detail, 'returned 0');

    const missing = await sqliteDriver.verify(source, snapshot, { into: join(dir, 'nothing.db') });
    assert.deepEqual(missing.map((c) => c.name), names);
    assert.ok(missing.every((c) => !c.ok));
    assert.match(missing[1]!.detail, /not run/);
  });
});

test('a snapshot whose copy is damaged is refused and the destination is left untouched', async () => {
  await withRepo(async (repo, dir) => {
    const path = join(dir, 'app.db');
    createDatabase(path, 300);
    const source = sourceFor(path);
    const good = await readFile(path);
    const truncated = good.subarray(0, good.length >> 1);
    const garbage = Buffer.alloc(64 << 10, 'not a database ');
    await writeFile(`${path}-wal`, 'the live database WAL');
    for (const bytes of [garbage, truncated]) {
      const { snapshot } = await backupStreams(repo, [{ name: 'database.sqlite', data: (async function* () { yield bytes; })() }], { source: 'app', meta: { kind: 'sqlite', tables: {} } });
      await assert.rejects(sqliteDriver.restore(repo, snapshot, source, {}, {}), (err: unknown) => {
        assert.ok(err instanceof IntegrityError);
        assert.match(err.message, /fails integrity_check .*was left untouched/);
        return true;
      });
      assert.ok((await readFile(path)).equals(good));
      assert.equal(await readFile(`${path}-wal`, 'utf8'), 'the live database WAL');
      assert.deepEqual(await leftovers(dir, '.app.db.restore-'), []);
    }
  });
});

test('a missing database file or an unsupported backup type is the user’s error', async () => {
  await withRepo(async (repo, dir) => {
    const path = join(dir, 'nowhere', 'app.db');
    await assert.rejects(sqliteDriver.backup(repo, sourceFor(path), {}), (err: unknown) => err instanceof UserError && err.message.includes(path));
    createDatabase(join(dir, 'app.db'), 1);
    await assert.rejects(sqliteDriver.backup(repo, sourceFor(join(dir, 'app.db')), { type: 'incremental' }), UserError);
    assert.equal(await sqliteDriver.exists(sourceFor(path), {}), false);
  });
});
