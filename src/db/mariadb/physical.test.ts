import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mariadbSource, type MariadbSource } from '../../config/schema-sources.js';
import type { Repository } from '../../repo/repository.js';
import { fastRepository } from '../../repo/testing.js';
import { loadSnapshots } from '../../repo/snapshot.js';
import { Secret } from '../../util/secret.js';
import { failure } from '../../../test/services/require.js';
import { mariadbForTest, type MariadbServer } from '../../../test/services/mariadb-server.js';
import { baseFor, mariadbPhysicalDriver as driver, parseKeyValues, type MariadbPhysicalMeta } from './physical.js';

function source(s: MariadbServer, extra: Record<string, unknown> = {}): MariadbSource {
  return mariadbSource.parse({ name: 'billing', repository: 'db', type: 'mariadb', mode: 'physical', data_directory: s.dataDir, connection: { host: s.host, port: s.port, user: 'root', database: 'shop' }, ...extra });
}

/** A fingerprint of the data: row count and a sum of row checksums. */
const FINGERPRINT = "SELECT CONCAT(COUNT(*), ':', COALESCE(SUM(CRC32(CONCAT_WS('|', id, name, qty))), 0)) FROM items";

async function withServer(t: TestContext, fn: (s: MariadbServer, repo: Repository, dir: string) => Promise<void>): Promise<void> {
  const server = await mariadbForTest(t);
  if (!server) return;
  const s = server;
  const dir = await mkdtemp(join(tmpdir(), 'sp-mariaphys-'));
  await chmod(dir, 0o755);
  const repo = await fastRepository(join(dir, 'repo'), new Secret('pw'));
  try {
    await s.sql(`CREATE DATABASE shop; USE shop;
      CREATE TABLE items (id INT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(100) NOT NULL, qty INT NOT NULL, KEY (name)) ENGINE=InnoDB;
      CREATE TABLE tags (k VARCHAR(20) PRIMARY KEY, v TEXT) ENGINE=Aria;
      INSERT INTO tags VALUES ('a', 'x'), ('b', 'y');
      INSERT INTO items (name, qty) SELECT CONCAT('item ', seq), seq % 17 FROM seq_1_to_1000;`);
    await fn(s, repo, dir);
  } finally {
    await repo.close();
    await s.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

test('xtrabackup_checkpoints parse; diff builds on the last full, incr on the last backup', () => {
  const cp = parseKeyValues('backup_type = incremental\nfrom_lsn = 46306\nto_lsn = 61234\nlast_lsn = 61234\n');
  assert.equal(cp.get('from_lsn'), '46306');
  assert.equal(cp.get('to_lsn'), '61234');
  const snap = (id: string, type: 'full' | 'incremental' | 'differential') => ({ id, type, complete: true, tags: [] }) as never;
  const chain = [snap('f1', 'full'), snap('i1', 'incremental'), snap('d1', 'differential'), snap('i2', 'incremental')];
  assert.equal(baseFor('full', chain), null);
  assert.equal((baseFor('differential', chain) as { id: string } | null)?.id, 'f1');
  assert.equal((baseFor('incremental', chain) as { id: string } | null)?.id, 'i2');
  assert.equal(baseFor('incremental', []), null);
});

test('MariaDB physical: full, incr and diff with mariadb-backup; each restores (chain prepared automatically) to the data it saw, verified by CHECK TABLE on a throwaway server', async (t) => {
  await withServer(t, async (s, repo, dir) => {
    const src = source(s);
    const t0 = Date.now();
    const full = await driver.backup(repo, src, { type: 'full' });
    const fullMs = Date.now() - t0;
    const fullMeta = full.snapshot.meta as unknown as MariadbPhysicalMeta;
    assert.equal(full.snapshot.type, 'full');
    assert.equal(fullMeta.backup_type, 'full');
    assert.equal(fullMeta.base, null);
    assert.match(fullMeta.to_lsn, /^\d+$/);
    assert.ok(Number(fullMeta.to_lsn) > 0);
    const atFull = await s.sql(FINGERPRINT, 'shop');

    await s.sql("INSERT INTO items (name, qty) SELECT CONCAT('more ', seq), 1 FROM seq_1_to_2000; INSERT INTO tags VALUES ('c', 'z');", 'shop');
    const t1 = Date.now();
    const incr = await driver.backup(repo, src, { type: 'incremental' });
    const incrMs = Date.now() - t1;
    const incrMeta = incr.snapshot.meta as unknown as MariadbPhysicalMeta;
    assert.equal(incr.snapshot.type, 'incremental');
    assert.equal(incr.snapshot.parent, full.snapshotId);
    assert.equal(incrMeta.base, full.snapshotId);
    assert.equal(incrMeta.from_lsn, fullMeta.to_lsn);
    const atIncr = await s.sql(FINGERPRINT, 'shop');

    await s.sql('UPDATE items SET qty = qty + 100 WHERE id % 3 = 0; DELETE FROM items WHERE id % 10 = 0;', 'shop');
    const incr2 = await driver.backup(repo, src, { type: 'incremental' });
    assert.equal((incr2.snapshot.meta as unknown as MariadbPhysicalMeta).base, incr.snapshotId);
    const atIncr2 = await s.sql(FINGERPRINT, 'shop');
    const diff = await driver.backup(repo, src, { type: 'differential' });
    assert.equal((diff.snapshot.meta as unknown as MariadbPhysicalMeta).base, full.snapshotId, 'a diff builds on the full');
    assert.ok(incr.snapshot.summary.total_bytes_processed < full.snapshot.summary.total_bytes_processed, 'an incremental stream holds only changed pages');

    const check = (fp: string): MariadbSource => source(s, { checks: [{ sql: `SELECT (${FINGERPRINT}) = '${fp}'` }] });
    const restoreAndVerify = async (name: string, snap: typeof full, fp: string): Promise<number> => {
      const into = join(dir, name);
      const r0 = Date.now();
      const r = await driver.restore(repo, snap.snapshot, src, { into }, {});
      const ms = Date.now() - r0;
      assert.equal(r.target, into);
      const checks = await driver.verify(check(fp), snap.snapshot, { into });
      assert.deepEqual(checks.map((c) => [c.name, c.ok]), [['files restored', true], ['server starts', true], ['CHECK TABLE', true], [`sql: SELECT (${FINGERPRINT}) = '${fp}'`, true]], JSON.stringify(checks));
      return ms;
    };
    const fullRestoreMs = await restoreAndVerify('full', full, atFull);
    await restoreAndVerify('incr', incr, atIncr);
    const chainMs = await restoreAndVerify('incr2', incr2, atIncr2);
    await restoreAndVerify('diff', diff, atIncr2);
    // the fingerprint check would catch a wrong chain: the full copy does not hold the incr's rows
    const wrong = await driver.verify(check(atIncr), full.snapshot, { into: join(dir, 'full') });
    assert.equal(wrong.at(-1)!.ok, false);

    // in place: the server is stopped (by the procedure's services), the old directory is moved aside
    await s.stop({ keep: true });
    assert.equal(await driver.exists(src, {}), true);
    const r = await driver.restore(repo, full.snapshot, src, {}, {});
    assert.match(r.notes?.join(' ') ?? '', /kept, unchanged/);
    assert.ok((await readdir(join(s.dataDir, '..'))).some((n) => n.startsWith('data.before-')));
    await s.start();
    assert.equal(await s.sql(FINGERPRINT, 'shop'), atFull);
    t.diagnostic(`full ${(full.snapshot.summary.total_bytes_processed / 1048576).toFixed(1)} MiB in ${fullMs} ms (stored ${(full.snapshot.summary.data_added / 1048576).toFixed(1)} MiB); incr ${(incr.snapshot.summary.total_bytes_processed / 1048576).toFixed(1)} MiB in ${incrMs} ms; restore full ${fullRestoreMs} ms, full + 2 incr ${chainMs} ms`);
  });
});

test('MariaDB physical: a running server blocks an in-place restore; a broken chain and a bad server are one-line errors leaving no snapshot', async (t) => {
  await withServer(t, async (s, repo) => {
    const src = source(s);
    const bad = await failure(driver.backup(repo, source(s, { connection: { host: '127.0.0.1', port: 1, user: 'root', database: 'shop' } }), {}));
    assert.doesNotMatch(bad.message, /\n/);
    assert.deepEqual(await loadSnapshots(repo), []);
    const full = await driver.backup(repo, src, {});
    const busy = await failure(driver.restore(repo, full.snapshot, src, {}, {}));
    assert.match(busy.message, /a MariaDB server \(pid \d+\) runs on/);
    const orphan = { ...full.snapshot, meta: { ...full.snapshot.meta, base: 'f'.repeat(64) } };
    const broken = await failure(driver.restore(repo, orphan, src, { into: join(s.root, 'x') }, {}));
    assert.match(broken.message, /needs snapshot ffffffff, which is gone/);
  });
});
