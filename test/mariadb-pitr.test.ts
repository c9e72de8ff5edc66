/**
 * MariaDB point-in-time restore through the CLI: a physical backup of a server writing binlogs, binlogs archived
 * (at the backup and by `mariadb binlog-sync`), then restores rolled forward to a time between two markers and after
 * both, each verified on a throwaway server by an SQL check that names the markers it expects.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli, tempDir, planSteps, type PlanStepEvent } from './helpers.js';
import { mariadbForTest } from './services/mariadb-server.js';

test('MariaDB physical backup + archived binlogs: --target-time restores the state between two markers, and after both', async (t) => {
  const server = await mariadbForTest(t, { binlog: true });
  if (!server) return;
  const s = server;
  const dir = await tempDir('sp-mariapitr-');
  await chmod(dir.path, 0o755);
  try {
    const config = join(dir.path, 'safepoint.yaml');
    await writeFile(config, `version: 1
project: shop
repositories:
  db: { targets: [ ${join(dir.path, 'repo')} ] }
sources:
  - name: billing
    type: mariadb
    repository: db
    mode: physical
    data_directory: ${s.dataDir}
    connection: { host: ${s.host}, port: ${s.port}, user: root, database: shop }
    checks:
      - sql: "select coalesce(group_concat(name order by name), '') = '\${EXPECT}' from shop.markers"
`);
    const cli = (args: string[], expect = ''): ReturnType<typeof runCli> => runCli(['--config', config, ...args], { env: { EXPECT: expect } });
    assert.equal((await cli(['init', '--repo', 'db'])).code, 0);
    await s.sql('CREATE DATABASE shop; CREATE TABLE shop.markers (name VARCHAR(10) PRIMARY KEY, at TIMESTAMP(6) DEFAULT CURRENT_TIMESTAMP(6)) ENGINE=InnoDB;');
    const b = await cli(['backup', '--source', 'billing', '--type', 'full']);
    assert.equal(b.code, 0, b.stderr);
    assert.match(b.stdout, /binlogs: \d+ archived/);

    await s.sql("INSERT INTO shop.markers (name) VALUES ('A')");
    await new Promise((r) => setTimeout(r, 1100));
    const between = new Date(Math.floor(Date.now() / 1000) * 1000);
    await new Promise((r) => setTimeout(r, 1100));
    await s.sql("INSERT INTO shop.markers (name) VALUES ('B')");
    const insertedB = new Date();
    await new Promise((r) => setTimeout(r, 1100));
    const after = new Date();
    const sync = await cli(['mariadb', 'binlog-sync', '--json']);
    assert.equal(sync.code, 0, sync.stderr);
    assert.ok((JSON.parse(sync.stdout.trim().split('\n').at(-1)!) as { stored: string[] }).stored.length >= 1);

    const restore = async (name: string, time: Date, expect: string): Promise<PlanStepEvent[]> => {
      const r = await cli(['restore', '--source', 'billing', '--into', join(dir.path, name), '--target-time', time.toISOString(), '--json'], expect);
      assert.equal(r.code, 0, `${name} (${time.toISOString()}, B inserted ${insertedB.toISOString()}): ${r.stdout}${r.stderr}`);
      const st = planSteps(r.stdout);
      t.diagnostic(`${name}: ${st.map((x) => `${x.name} ${(x as unknown as { seconds: number }).seconds.toFixed(1)} s`).join(', ')}`);
      return st;
    };
    const mid = await restore('between', between, 'A');
    assert.match(mid.find((x) => x.name.startsWith('restore'))!.detail, /replayed binlog events from .* up to/);
    assert.match(mid.find((x) => x.name === 'verify integrity')!.detail, /sql: .* ok/);
    await restore('after', after, 'A,B');
    // a wrong expectation fails the verify step: the check really looks at the data
    const wrong = await cli(['restore', '--source', 'billing', '--into', join(dir.path, 'wrong'), '--target-time', between.toISOString()], 'A,B');
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr + wrong.stdout, /checks failed/);
    // a PostgreSQL-only target is refused in one line
    const lsn = await cli(['restore', '--source', 'billing', '--into', join(dir.path, 'x'), '--target-lsn', '0/1']);
    assert.equal(lsn.code, 2);
    assert.match(lsn.stderr, /MariaDB restores to a point in time with --target-time/);
  } finally {
    await s.stop();
    await dir.cleanup();
  }
});
