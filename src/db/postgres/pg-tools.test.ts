import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PgToolError, errorLines, runTool, toolEnv, toolPath, toolStream, type PgToolsConfig } from './pg-tools.js';
import { createDatabaseSql, databaseSettingsSql, quoteIdent, quoteLiteral, splitSettingList, tocOwners, withSuffix, type DatabaseOptions } from './pg-sql.js';
import { compareCounts, describePostgres } from './logical.js';

const cfg = (extra: Partial<PgToolsConfig['connection']> = {}, bin_dir?: string): PgToolsConfig => ({ connection: { port: 5433, database: 'shop', ...extra }, ...(bin_dir ? { bin_dir } : {}) });

test('the connection goes into the environment, the password from password_file, never into arguments', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sp-pgtools-'));
  try {
    await writeFile(join(dir, 'pw'), 's3cret\n', { mode: 0o600 });
    const env = await toolEnv(cfg({ host: 'db.internal', user: 'backup', password_file: join(dir, 'pw') }), 'other', { PATH: '/bin', PGHOSTADDR: '10.0.0.1', PGPASSWORD: 'old' });
    assert.equal(env.PGHOST, 'db.internal');
    assert.equal(env.PGHOSTADDR, undefined);
    assert.equal(env.PGPORT, '5433');
    assert.equal(env.PGUSER, 'backup');
    assert.equal(env.PGDATABASE, 'other');
    assert.equal(env.PGPASSWORD, 's3cret');
    assert.equal(env.PATH, '/bin');
    // without password_file, PGPASSWORD / .pgpass of the process are left to libpq
    const inherited = await toolEnv(cfg(), 'shop', { PGPASSWORD: 'from-env', PGPASSFILE: '/x' });
    assert.equal(inherited.PGPASSWORD, 'from-env');
    assert.equal(inherited.PGPASSFILE, '/x');
    assert.equal(inherited.PGHOST, undefined);
    await assert.rejects(toolEnv(cfg({ password_file: join(dir, 'missing') }), 'shop'), /cannot read the PostgreSQL password_file .*missing/);

    // a fake tool sees the password in its environment only
    await writeFile(join(dir, 'psql'), '#!/bin/sh\necho "$PGPASSWORD $PGDATABASE $*"\n');
    await chmod(join(dir, 'psql'), 0o755);
    const out = await runTool(cfg({ password_file: join(dir, 'pw') }, dir), 'psql', ['-X'], { database: 'shop' });
    assert.equal(out.toString(), 's3cret shop -X\n');
    assert.equal(toolPath(cfg({}, dir), 'pg_dump'), join(dir, 'pg_dump'));
    assert.equal(toolPath(cfg(), 'pg_dump'), 'pg_dump');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a tool stream throws after its last byte when the tool fails, with its error lines on one line', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sp-pgtools-'));
  try {
    await writeFile(join(dir, 'pg_dump'), '#!/bin/sh\nhead -c 1000000 /dev/zero\necho "pg_dump: warning: something" >&2\necho "pg_dump: error: query failed: ERROR:  boom" >&2\necho "Command was: COPY x TO stdout;" >&2\nexit 1\n');
    await chmod(join(dir, 'pg_dump'), 0o755);
    let bytes = 0;
    const err = await (async () => {
      for await (const b of toolStream(cfg({}, dir), 'pg_dump', [], { database: 'shop', what: 'pg_dump of database "shop"' })) bytes += b.length;
    })().then(() => assert.fail('no error'), (e: unknown) => e as PgToolError);
    assert.equal(bytes, 1_000_000);
    assert.ok(err instanceof PgToolError);
    assert.equal(err.message, 'pg_dump of database "shop" failed (exit code 1): pg_dump: error: query failed: ERROR: boom');
    assert.equal(err.code, 1);

    // a consumer that stops early kills the tool
    await writeFile(join(dir, 'pg_dumpall'), '#!/bin/sh\nexec cat /dev/zero\n');
    await chmod(join(dir, 'pg_dumpall'), 0o755);
    for await (const b of toolStream(cfg({}, dir), 'pg_dumpall', [], { database: 'shop' })) if (b.length > 0) break;

    await assert.rejects(runTool(cfg({}, join(dir, 'none')), 'pg_restore', [], { database: 'shop' }), /pg_restore not found in bin_dir .*none/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('error lines: the last error-like lines, collapsed, joined on one line', () => {
  assert.equal(errorLines('pg_restore: while PROCESSING TOC:\npg_restore: from TOC entry 215; 1259 16390 TABLE t postgres\npg_restore: error: could not execute query: ERROR:  role "x" does not exist\nCommand was: ALTER TABLE public.t OWNER TO x;\n'), 'pg_restore: error: could not execute query: ERROR: role "x" does not exist');
  assert.equal(errorLines('a\nb\nc\nd\n'), 'b | c | d');
  assert.equal(errorLines(''), '');
});

test('SQL quoting, names that fit, settings and TOC owners', () => {
  assert.equal(quoteIdent('a"b'), '"a""b"');
  assert.equal(quoteLiteral("it's"), "'it''s'");
  assert.equal(quoteLiteral('a\\b'), "E'a\\\\b'");
  assert.equal(withSuffix('shop', '__before_1'), 'shop__before_1');
  const long = withSuffix('é'.repeat(40), '__restore_12345678');
  assert.ok(Buffer.byteLength(long) <= 63 && long.endsWith('__restore_12345678'), long);
  assert.deepEqual(splitSettingList('"$user", public'), ['$user', 'public']);
  assert.deepEqual(splitSettingList('app, "we""ird, one"'), ['app', 'we"ird, one']);
  assert.deepEqual(splitSettingList(''), []);
  assert.equal(databaseSettingsSql('shop', ['search_path="$user", public', 'work_mem=8MB', "app.note=it's"]),
    `ALTER DATABASE "shop" SET "search_path" TO '$user', 'public';\nALTER DATABASE "shop" SET "work_mem" TO '8MB';\nALTER DATABASE "shop" SET "app.note" TO 'it''s';\n`);
  const o: DatabaseOptions = { encoding: 'UTF8', collate: 'C.UTF-8', ctype: 'C.UTF-8', locale_provider: 'i', locale: 'und', icu_rules: null, owner: 'app', settings: [] };
  assert.equal(createDatabaseSql('x', o, 150000, true), `CREATE DATABASE "x" TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8' LOCALE_PROVIDER icu ICU_LOCALE 'und' OWNER "app";`);
  assert.equal(createDatabaseSql('x', { ...o, locale_provider: 'c' }, 140000, false), `CREATE DATABASE "x" TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8';`);
  assert.deepEqual([...tocOwners('; header\n7; 2615 16421 SCHEMA - app owner_a\n2; 3079 16413 EXTENSION - amcheck \n216; 1259 16422 TABLE app t postgres\n')], ['owner_a', 'postgres']);
});

test('describe and row count comparison', () => {
  assert.equal(describePostgres(cfg({ host: '127.0.0.1' })), 'postgres://127.0.0.1:5433/shop');
  assert.equal(describePostgres(cfg({ host: '/var/run/postgresql' })), 'postgres://%2Fvar%2Frun%2Fpostgresql:5433/shop');
  assert.equal(describePostgres(cfg({ host: '::1' }), 'a b'), 'postgres://[::1]:5433/a%20b');
  assert.equal(describePostgres(cfg()), 'postgres://localhost:5433/shop');
  assert.deepEqual(compareCounts({ 'public.a': 1, 'public.b': 2 }, { 'public.a': 1, 'public.b': 2 }), { name: 'row counts', ok: true, detail: '2 tables match the backup' });
  const bad = compareCounts({ 'public.a': 1, 'public.b': 2 }, { 'public.a': 0, 'public.c': 5 });
  assert.equal(bad.ok, false);
  assert.equal(bad.detail, 'differ from the backup: public.a has 0 rows, expected 1; public.b is missing; public.c was not in the backup');
});
