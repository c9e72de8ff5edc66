/**
 * PostgreSQL WAL archiving and point-in-time recovery through the CLI, on a throwaway cluster whose archive_command
 * is `safepoint pg archive-push`. Everything runs as the cluster's OS user, as it would on a database host: the
 * server calls safepoint (archive-push, archive-get) with the same repository.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, chown, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CLI, lastJson, runCli, tempDir, planSteps } from './helpers.js';
import { archivingClusterForTest, asUser, physicalSourceYaml, type PgCluster } from './services/pg-cluster.js';
import { freePort } from '../src/util/net.js';

const exec = promisify(execFile);

async function query(c: PgCluster, port: number, sql: string): Promise<string> {
  const { stdout } = await exec(join(c.binDir, 'psql'), ['-X', '-A', '-t', '-w', '-h', '127.0.0.1', '-p', String(port), '-U', c.user, '-d', 'shop', '-c', sql]);
  return stdout.trim();
}

async function stopCopy(c: PgCluster, dir: string): Promise<void> {
  const [cmd, args] = asUser(c.osUser, join(c.binDir, 'pg_ctl'), ['-D', dir, '-m', 'fast', '-w', 'stop']);
  await exec(cmd, args).catch(() => undefined);
}

test('WAL archiving and point-in-time recovery: archive-push from the server, pg check, restore to a time, an LSN, a restore point, immediate and the latest WAL', async (t) => {
  const dir = await tempDir('sp-pitr-');
  await chmod(dir.path, 0o755);
  const config = join(dir.path, 'safepoint.yaml');
  const pwFile = join(dir.path, 'password');
  const archive = `${process.execPath} ${CLI} --config ${config} pg archive-push %p --source shop-db`;
  const cluster = await archivingClusterForTest(t, archive);
  if (!cluster) return;
  const c = cluster;
  const as = c.osUser;
  const copies: string[] = [];
  const pgCtl = join(c.binDir, 'pg_ctl');
  try {
    await writeFile(pwFile, 'pitr-password\n', { mode: 0o600 });
    await writeFile(config, `version: 1
project: shop
repositories:
  db: { targets: [ ${join(dir.path, 'repo')} ], password_file: ${pwFile} }
sources:
${physicalSourceYaml(c, { name: 'shop-db', repository: 'db', database: 'shop' })}    services: [ pg ]
services:
  pg:
    stop: ${pgCtl} -D ${c.dataDir} -m fast -w stop
    start: ${pgCtl} -D ${c.dataDir} -l ${join(c.socketDir, 'server.log')} -o "-p ${c.port} -k ${c.socketDir} -c listen_addresses=127.0.0.1" -w -t 120 start
    health: { command: "for i in $(seq 120); do [ \\"$(${join(c.binDir, 'psql')} -XAtw -h 127.0.0.1 -p ${c.port} -U ${c.user} -d shop -c 'select pg_is_in_recovery()')\\" = f ] && exit 0; sleep 0.5; done; exit 1", timeout: 90s }
`);
    if (as) for (const f of [dir.path, pwFile, config]) await chown(f, as.uid, as.gid);
    const cli = (args: string[]): ReturnType<typeof runCli> => runCli(['--config', config, ...args], { as, env: { SAFEPOINT_PASSWORD: undefined } });

    assert.equal((await cli(['init', '--repo', 'db'])).code, 0);
    await c.sql('postgres', 'CREATE DATABASE shop');
    await c.sql('shop', 'CREATE TABLE markers (name text PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())');

    const b = await cli(['backup', '--source', 'shop-db', '--json']);
    assert.equal(b.code, 0, b.stderr);
    const base = lastJson(b.stdout) as { snapshot_id: string; meta: { restore_point: { name: string; lsn: string } | null } };
    assert.match(base.meta.restore_point?.name ?? '', /^safepoint-shop-db-/);

    // archive-push runs as the server's archive_command; pg check proves the chain
    const check = await cli(['pg', 'check', '--json']);
    assert.equal(check.code, 0, check.stdout + check.stderr);
    assert.match(String(lastJson(check.stdout).segment), /^[0-9A-F]{24}$/);

    // marker A, then a time, an LSN and a restore point, then marker B
    await c.sql('shop', "INSERT INTO markers (name) VALUES ('A')");
    await new Promise((r) => setTimeout(r, 1100));
    const midTime = await c.sql('shop', "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')");
    const midLsn = await c.sql('shop', 'SELECT pg_current_wal_lsn()');
    await c.sql('shop', "SELECT pg_create_restore_point('before-B')");
    await new Promise((r) => setTimeout(r, 1100));
    await c.sql('shop', "INSERT INTO markers (name) VALUES ('B')");
    const last = await cli(['pg', 'check']); // switches WAL and waits until the segment with B is archived
    assert.equal(last.code, 0, last.stderr);

    const restoreTo = async (name: string, target: string[], expect: string): Promise<void> => {
      const into = join(dir.path, name);
      copies.push(into);
      const port = await freePort();
      const r = await cli(['restore', '--source', 'shop-db', '--into', into, ...target, '--port', String(port), '--start', '--json']);
      assert.equal(r.code, 0, `${name}: ${r.stdout}${r.stderr}`);
      const s = planSteps(r.stdout);
      assert.deepEqual(s.map((x) => x.status), ['skipped', 'skipped', 'success', 'success', 'success', 'skipped'], JSON.stringify(s));
      assert.equal(await query(c, port, 'SELECT string_agg(name, \',\' ORDER BY name) FROM markers'), expect, name);
      assert.equal(await query(c, port, 'SELECT pg_is_in_recovery()'), 'f');
      // the copy does not archive into the source's repository
      assert.equal(await query(c, port, 'SHOW archive_mode'), 'off');
      await stopCopy(c, into);
    };
    await restoreTo('by-time', ['--target-time', midTime], 'A');
    await restoreTo('by-lsn', ['--target-lsn', midLsn], 'A');
    await restoreTo('by-name', ['--target-name', 'before-B'], 'A');
    await restoreTo('immediate', ['--target', 'immediate'], '');
    await restoreTo('latest', [], 'A,B');

    // in place (the disaster case): the service stops the server, the data directory is moved aside, the server
    // recovers to the restore point on start, promotes, and archives its new timeline into the same repository
    const refused = await cli(['restore', '--source', 'shop-db', '--target-name', 'before-B']);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /add --force/);
    const inPlace = await cli(['restore', '--source', 'shop-db', '--target-name', 'before-B', '--force', '--json']);
    assert.equal(inPlace.code, 0, inPlace.stdout + inPlace.stderr);
    assert.deepEqual(planSteps(inPlace.stdout).map((x) => x.status), ['success', 'skipped', 'success', 'success', 'success']);
    assert.equal(await query(c, c.port, 'SELECT string_agg(name, \',\' ORDER BY name) FROM markers'), 'A');
    assert.ok((await readdir(join(c.dataDir, '..'))).some((n) => n.startsWith('data.before-')), 'the replaced data directory is kept');
    assert.equal(await query(c, c.port, 'SHOW archive_mode'), 'on');
    const after = await cli(['pg', 'check', '--json']);
    assert.equal(after.code, 0, after.stdout + after.stderr);
    assert.match(String(lastJson(after.stdout).segment), /^00000002/, 'archiving goes on, on the new timeline');

    // restore_command asks for what the archive does not hold: archive-get says so and exits 1
    const miss = await cli(['pg', 'archive-get', '0000000900000000000000AA', join(dir.path, 'x')]);
    assert.equal(miss.code, 1);
    assert.match(miss.stderr, /not in the WAL archive/);
    const bad = await cli(['pg', 'archive-get', '../../etc/passwd', join(dir.path, 'x')]);
    assert.equal(bad.code, 2);
    // archive-get writes an archived segment; pushing it again succeeds; a different file under that name is refused
    const first = String(lastJson(check.stdout).segment);
    const fake = join(dir.path, 'fake');
    await mkdir(fake);
    if (as) await chown(fake, as.uid, as.gid);
    const got = await cli(['pg', 'archive-get', first, join(fake, first)]);
    assert.equal(got.code, 0, got.stderr);
    assert.equal((await readFile(join(fake, first))).length, 16 << 20);
    const again = await cli(['pg', 'archive-push', join(fake, first), '--json']);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(lastJson(again.stdout).stored, false);
    await writeFile(join(fake, first), Buffer.alloc(16 << 20, 1));
    const clash = await cli(['pg', 'archive-push', join(fake, first)]);
    assert.equal(clash.code, 1, clash.stderr);
    assert.match(clash.stderr, /already archived with different contents/);
    // snapshots hides the WAL archive unless asked
    const plain = await cli(['snapshots']);
    assert.match(plain.stdout, /and \d+ WAL archive and replication entries \(--wal lists them\)/);
    t.diagnostic(`${/and (\d+) WAL archive and replication entries/.exec(plain.stdout)?.[1]} WAL files archived; ${(await readFile(join(c.socketDir, 'server.log'), 'utf8')).split('\n').filter((l) => /archive-push/.test(l) && /failed/.test(l)).length} failed pushes in the server log`);
  } finally {
    for (const copy of copies) await stopCopy(c, copy);
    await c.stop();
    await dir.cleanup();
  }
});
