import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fastRepository } from '../repo/testing.js';
import { loadSnapshots } from '../repo/snapshot.js';
import { Secret } from '../util/secret.js';
import { backupStreams, listStreams, readStream } from './stream-backup.js';

async function all(it: AsyncIterable<Buffer>): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const b of it) out.push(b);
  return out;
}
function* pieces(data: Buffer, size: number): Generator<Buffer> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}
async function* slowly(data: Buffer): AsyncGenerator<Buffer> {
  for (const p of pieces(data, 70_001)) yield p;
}
function random(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

test('streams are stored as the files of a snapshot, read back in order, and deduplicated across days', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sp-stream-'));
  const repo = await fastRepository(dir, new Secret('pw'));
  try {
    const day1 = random(6 << 20, 1);
    const first = await backupStreams(repo, [{ name: 'shop.dump', data: slowly(day1) }, { name: 'globals.sql', data: slowly(Buffer.from('CREATE ROLE app;\n')) }], { source: 'db', meta: { kind: 'test' }, paths: ['test://db'] });
    assert.equal(first.snapshot.source, 'db');
    assert.deepEqual(first.snapshot.meta, { kind: 'test' });
    assert.deepEqual((await listStreams(repo, first.snapshot)).map((s) => [s.name, s.size]), [['globals.sql', 17], ['shop.dump', day1.length]]);
    const back = Buffer.concat(await all(readStream(repo, first.snapshot, 'shop.dump')));
    assert.ok(back.equals(day1));
    // day 2: the same dump with an insert in the middle stores only the chunks around it
    const day2 = Buffer.concat([day1.subarray(0, 3 << 20), Buffer.from('a new row'), day1.subarray(3 << 20)]);
    const second = await backupStreams(repo, [{ name: 'shop.dump', data: slowly(day2) }], { source: 'db' });
    assert.ok(second.snapshot.summary.data_added < 3 << 20, `stored ${second.snapshot.summary.data_added} bytes again`);
    assert.equal((await loadSnapshots(repo)).length, 2);
    await assert.rejects(all(readStream(repo, second.snapshot, 'missing')), /no stream named missing/);
  } finally {
    await repo.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('a failing stream records no snapshot', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sp-stream-'));
  const repo = await fastRepository(dir, new Secret('pw'));
  try {
    async function* broken(): AsyncGenerator<Buffer> {
      yield random(3 << 20, 2);
      throw new Error('pg_dump exited with code 1');
    }
    await assert.rejects(backupStreams(repo, [{ name: 'x.dump', data: broken() }], { source: 'db' }), /pg_dump exited/);
    assert.equal((await loadSnapshots(repo)).length, 0);
  } finally {
    await repo.close();
    await rm(dir, { recursive: true, force: true });
  }
});
