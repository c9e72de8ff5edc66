import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { sqliteSource, type SqliteSource } from '../../../config/schema-sources.js';
import { fastRepository } from '../../../repo/testing.js';
import { loadSnapshots } from '../../../repo/snapshot.js';
import { IntegrityError, UserError } from '../../../util/errors.js';
import { Secret } from '../../../util/secret.js';
import { failure } from '../../../../test/services/require.js';
import { sqliteDriver } from '../sqlite-driver.js';
import { Replicator, type ReplicaBaseMeta, type ReplicaSegmentMeta } from './replicator.js';
import { checkChain, replicaEntries, replicaPoint } from './replica-restore.js';
import { parseWalHeader, scanFrames, walChecksum } from './wal-format.js';

async function setup(): Promise<{ dir: string; path: string; source: SqliteSource; app: Database.Database; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'sp-replica-'));
  const path = join(dir, 'app.db');
  const app = new Database(path);
  app.pragma('journal_mode = WAL');
  app.exec('CREATE TABLE events (id INTEGER PRIMARY KEY, body TEXT NOT NULL)');
  const source = sqliteSource.parse({ name: 'app', repository: 'db', type: 'sqlite', path, continuous: true });
  return { dir, path, source, app, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

const insert = (db: Database.Database, from: number, to: number): void => {
  const st = db.prepare('INSERT INTO events (id, body) VALUES (?, ?)');
  for (let i = from; i <= to; i++) st.run(i, `event ${i} ${'x'.repeat(i % 300)}`);
};
const count = (path: string): number => {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare('SELECT count(*) FROM events').pluck().get() as number;
  } finally {
    db.close();
  }
};

test('WAL checksums and frame scans follow the SQLite format: a WAL written by SQLite itself checks out', async () => {
  const s = await setup();
  try {
    s.app.pragma('wal_autocheckpoint = 0');
    insert(s.app, 1, 50);
    const { readFile } = await import('node:fs/promises');
    const wal = await readFile(`${s.path}-wal`);
    const h = parseWalHeader(wal);
    assert.ok(h);
    assert.equal(h.pageSize, 4096);
    const scan = scanFrames(h, wal.subarray(32), h.checksum);
    assert.equal(scan.committedBytes, wal.length - 32, 'every frame of committed transactions is valid');
    assert.equal(scan.commits, 51, 'CREATE TABLE and 50 inserts');
    // a flipped byte in the last frame ends the scan before it
    const bad = Buffer.from(wal);
    bad.writeUInt8(bad.readUInt8(bad.length - 100) ^ 1, bad.length - 100);
    assert.equal(scanFrames(h, bad.subarray(32), h.checksum).commits, 50);
    assert.equal(parseWalHeader(Buffer.alloc(32)), null);
    assert.deepEqual(walChecksum(true, Buffer.alloc(16), [1, 2]), walChecksum(true, Buffer.alloc(16), [1, 2]));
  } finally {
    s.app.close();
    await s.cleanup();
  }
});

test('replication ships each committed transaction; the application cannot checkpoint it away; restore reaches any shipped time, checked for gaps', async () => {
  const s = await setup();
  const repo = await fastRepository(join(s.dir, 'repo'), new Secret('pw'));
  const events: string[] = [];
  const r = new Replicator(repo, s.source, { intervalMs: 50, generationMs: 60_000, onEvent: (e) => events.push(e.kind) });
  try {
    insert(s.app, 1, 100);
    await r.start();
    const gen1 = r.generation;
    assert.deepEqual(events, ['generation']);
    insert(s.app, 101, 200);
    await r.tick();
    await new Promise((res) => setTimeout(res, 20));
    const t1 = new Date();
    await new Promise((res) => setTimeout(res, 20));
    // the application checkpoints (even TRUNCATE) and goes on writing: the pinned WAL keeps every frame
    insert(s.app, 201, 250);
    const ck = s.app.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[];
    assert.equal(ck[0]!.busy, 1, 'a TRUNCATE checkpoint cannot complete while replication reads');
    insert(s.app, 251, 300);
    await r.tick();
    await r.tick(); // nothing new: no segment
    assert.equal(events.filter((e) => e === 'segment').length, 2);
    assert.equal(events.includes('warning'), false);

    const entries = await replicaEntries(repo, 'app');
    const latest = replicaPoint(entries, null)!;
    assert.equal(latest.base.meta.generation, gen1);
    assert.equal(latest.segments.length, 2);
    const atT1 = replicaPoint(entries, t1)!;
    assert.equal(atT1.segments.length, 1);

    const restoreTo = async (name: string, time: Date | null): Promise<number> => {
      const into = join(s.dir, name);
      const out = await sqliteDriver.restore(repo, latest.base, s.source, { into, ...(time ? { recovery: { kind: 'time', time } } : {}) }, {});
      assert.match(out.notes?.join(' ') ?? '', /replayed \d+ replicated WAL segments/);
      const checks = await sqliteDriver.verify(s.source, latest.base, { into });
      assert.ok(checks.every((c) => c.ok), JSON.stringify(checks));
      return count(into);
    };
    assert.equal(await restoreTo('t1.db', t1), 200);
    assert.equal(await restoreTo('latest.db', null), 300);

    // a new generation (base copy after a checkpoint): the WAL restarts, replication follows it
    const big = new Replicator(repo, s.source, { generationMs: 0 });
    r.close();
    await big.start();
    insert(s.app, 301, 400);
    await big.tick(); // ships, then starts another generation
    insert(s.app, 401, 450);
    await big.tick();
    big.close();
    assert.equal(count(s.path), 450);
    const all = await replicaEntries(repo, 'app');
    const gens = new Set(all.map((e) => (e.meta as unknown as ReplicaBaseMeta).generation));
    assert.ok(gens.size >= 3, `generations: ${gens.size}`);
    const last = replicaPoint(all, null)!;
    const into = join(s.dir, 'gen.db');
    await sqliteDriver.restore(repo, last.base, s.source, { into }, {});
    assert.equal(count(into), 450);
    assert.ok((await stat(into)).size > 0);
  } finally {
    r.close();
    s.app.close();
    await repo.close();
    await s.cleanup();
  }
});

test('a reader holding an old snapshot delays the next generation, and nothing is lost meanwhile', async () => {
  const s = await setup();
  const repo = await fastRepository(join(s.dir, 'repo'), new Secret('pw'));
  const warnings: string[] = [];
  const r = new Replicator(repo, s.source, { generationMs: 0, onEvent: (e) => e.kind === 'warning' && warnings.push(e.detail) });
  const reader = new Database(s.path);
  try {
    insert(s.app, 1, 50);
    await r.start();
    const first = r.generation;
    reader.exec('BEGIN');
    reader.prepare('SELECT count(*) FROM events').get(); // an old snapshot: the checkpoint cannot complete
    insert(s.app, 51, 100);
    await r.tick();
    assert.equal(r.generation, first, 'the generation goes on');
    assert.match(warnings.join(' '), /checkpoint incomplete/);
    insert(s.app, 101, 150);
    await r.tick();
    reader.exec('COMMIT');
    insert(s.app, 151, 200);
    await r.tick(); // now the checkpoint completes: a new generation
    assert.notEqual(r.generation, first);
    const entries = await replicaEntries(repo, 'app');
    const oldGen = entries.filter((e) => e.meta?.generation === first);
    const point = replicaPoint(oldGen, null)!;
    const into = join(s.dir, 'old-gen.db');
    await sqliteDriver.restore(repo, point.base, s.source, { into }, {});
    assert.equal(count(into), 200, 'every frame read before the new generation was stored in the old one');
  } finally {
    reader.close();
    r.close();
    s.app.close();
    await repo.close();
    await s.cleanup();
  }
});

test('a gap in the shipped chain is found before anything is restored', () => {
  const base = { time: '2026-11-29T00:00:00Z', meta: { kind: 'sqlite', mode: 'replica-base', generation: 'g', page_size: 4096, wal: { salt1: 1, salt2: 2, offset: 32 + 4120 * 3 } } as ReplicaBaseMeta };
  const seg = (seq: number, start: number, end: number, salt1 = 1): { meta: ReplicaSegmentMeta } => ({ meta: { kind: 'sqlite', mode: 'replica-wal', generation: 'g', seq, salt1, salt2: 2, start, end, frames: 1, commits: 1, page_size: 4096, time: `2026-11-29T00:00:0${seq + 1}Z` } });
  const f = 4120;
  checkChain(base, [seg(0, 32 + 3 * f, 32 + 4 * f), seg(1, 32 + 4 * f, 32 + 6 * f)]);
  checkChain(base, [seg(0, 32, 32 + f, 9)]); // the WAL restarted after the base: its first frame
  assert.throws(() => checkChain(base, [seg(0, 32 + 3 * f, 32 + 4 * f), seg(2, 32 + 4 * f, 32 + 5 * f)]), (e: unknown) => e instanceof IntegrityError && /segment 1 is missing/.test(e.message));
  assert.throws(() => checkChain(base, [seg(0, 32 + 3 * f, 32 + 4 * f), seg(1, 32 + 5 * f, 32 + 6 * f)]), /starts at byte .* the previous one ended/);
  assert.throws(() => checkChain(base, [seg(0, 32 + 4 * f, 32 + 5 * f)]), /the base ends at/);
  assert.throws(() => checkChain(base, [seg(0, 32 + 3 * f, 32 + 4 * f), seg(1, 32, 32 + f, 7)]), /of another WAL/);
});

test('replication refuses a database that is not in WAL mode, in one line', async () => {
  const s = await setup();
  const repo = await fastRepository(join(s.dir, 'repo'), new Secret('pw'));
  try {
    s.app.pragma('journal_mode = DELETE');
    const err = await failure(new Replicator(repo, s.source).start());
    assert.ok(err instanceof UserError);
    assert.match(err.message, /delete journal mode: continuous replication reads the WAL/);
    assert.deepEqual(await loadSnapshots(repo), []);
  } finally {
    s.app.close();
    await repo.close();
    await s.cleanup();
  }
});
