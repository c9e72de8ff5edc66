import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalStorage } from './local-storage.js';

let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'safepoint-local-storage-test-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

let n = 0;
/** A fresh storage in its own folder. */
async function fresh(): Promise<{ s: LocalStorage; dir: string }> {
  const dir = join(root, `s${n++}`);
  await mkdir(dir);
  return { s: new LocalStorage(dir), dir };
}

/** Every file below dir, temp files included, as relative paths. */
async function allFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath ?? (e as unknown as { path: string }).path, e.name).slice(dir.length + 1))
    .sort();
}

async function names(s: LocalStorage, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const o of s.list(prefix)) out.push(o.name);
  return out.sort();
}

async function errorOf(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  assert.fail('expected a rejection');
}

describe('LocalStorage', () => {
  it('puts and gets an object, creating folders as needed', async () => {
    const { s, dir } = await fresh();
    const data = randomBytes(10_000);
    await s.put('data/ab/abcdef', data);
    assert.deepEqual(await s.get('data/ab/abcdef'), data);
    assert.deepEqual(await readFile(join(dir, 'data', 'ab', 'abcdef')), data);
    assert.deepEqual(await s.stat('data/ab/abcdef'), { name: 'data/ab/abcdef', size: 10_000 });
    await s.put('empty', new Uint8Array(0));
    assert.deepEqual(await s.get('empty'), Buffer.alloc(0));
    assert.deepEqual(s.properties(), { location: dir, kind: 'local' });
  });

  it('writes files readable only by the owner', async () => {
    const { s, dir } = await fresh();
    await s.put('config', Buffer.from('x'));
    assert.equal((await stat(join(dir, 'config'))).mode & 0o777, 0o600);
  });

  it('put is create-only: a second put of a name fails unless overwrite is set', async () => {
    const { s, dir } = await fresh();
    await s.put('snapshots/one', Buffer.from('first'));
    const err = await errorOf(s.put('snapshots/one', Buffer.from('second')));
    assert.equal((err as NodeJS.ErrnoException).code, 'EEXIST');
    assert.equal(s.isPermanent(err), true);
    assert.equal(s.isNotFound(err), false);
    assert.deepEqual(await s.get('snapshots/one'), Buffer.from('first'), 'the object is unchanged');
    await s.put('snapshots/one', Buffer.from('third'), { overwrite: true });
    assert.deepEqual(await s.get('snapshots/one'), Buffer.from('third'));
    await s.put('snapshots/new', Buffer.from('x'), { overwrite: true });
    assert.deepEqual(await s.get('snapshots/new'), Buffer.from('x'), 'overwrite also creates');
    assert.deepEqual(await allFiles(dir), ['snapshots/new', 'snapshots/one'], 'no temporary files left');
  });

  it('gets a byte range; a range past the end returns fewer bytes', async () => {
    const { s } = await fresh();
    const data = randomBytes(1000);
    await s.put('obj', data);
    assert.deepEqual(await s.get('obj', { offset: 100, length: 50 }), data.subarray(100, 150));
    assert.deepEqual(await s.get('obj', { offset: 0, length: 1 }), data.subarray(0, 1));
    assert.deepEqual(await s.get('obj', { offset: 990 }), data.subarray(990));
    assert.deepEqual(await s.get('obj', { length: 10 }), data.subarray(0, 10));
    assert.deepEqual(await s.get('obj', { offset: 995, length: 10 }), data.subarray(995));
    assert.deepEqual(await s.get('obj', { offset: 1000, length: 10 }), Buffer.alloc(0));
    assert.deepEqual(await s.get('obj', { offset: 2000 }), Buffer.alloc(0));
    assert.deepEqual(await s.get('obj', { offset: 10, length: 0 }), Buffer.alloc(0));
  });

  it('lists by prefix, recursively, with sizes, skipping temporary files', async () => {
    const { s, dir } = await fresh();
    await s.put('data/ab/ab01', Buffer.alloc(3));
    await s.put('data/cd/cd02', Buffer.alloc(5));
    await s.put('snapshots/s1', Buffer.alloc(7));
    await s.put('snapshots/s2', Buffer.alloc(1));
    await s.put('config', Buffer.alloc(2));
    // A writer killed mid-put leaves a temporary file behind.
    await writeFile(join(dir, 'data', 'ab', '.tmp-0123456789abcdef'), 'partial');
    await writeFile(join(dir, 'snapshots', '.tmp-fedcba9876543210'), 'partial');
    const data: { name: string; size: number }[] = [];
    for await (const o of s.list('data/')) data.push(o);
    assert.deepEqual(data.sort((a, b) => a.name.localeCompare(b.name)), [{ name: 'data/ab/ab01', size: 3 }, { name: 'data/cd/cd02', size: 5 }]);
    assert.deepEqual(await names(s, 'snapshots/'), ['snapshots/s1', 'snapshots/s2']);
    assert.deepEqual(await names(s, 'snapshots/s1'), ['snapshots/s1']);
    assert.deepEqual(await names(s, 'data/ab/'), ['data/ab/ab01']);
    assert.deepEqual(await names(s, 'index/'), [], 'a missing folder lists nothing');
    assert.deepEqual(await names(s, ''), ['config', 'data/ab/ab01', 'data/cd/cd02', 'snapshots/s1', 'snapshots/s2']);
  });

  it('lists nothing for a storage whose folder does not exist', async () => {
    const s = new LocalStorage(join(root, 'does-not-exist'));
    assert.deepEqual(await names(s, ''), []);
    assert.deepEqual(await names(s, 'keys/'), []);
  });

  it('removes objects; removing an absent object is fine', async () => {
    const { s } = await fresh();
    await s.put('locks/l1', Buffer.from('x'));
    await s.remove('locks/l1');
    assert.deepEqual(await names(s, 'locks/'), []);
    await s.remove('locks/l1');
    await s.remove('nowhere/at/all');
    await s.put('locks/l1', Buffer.from('y'));
    assert.deepEqual(await s.get('locks/l1'), Buffer.from('y'), 'a removed name can be written again');
  });

  it('reports missing objects with errors for which isNotFound is true', async () => {
    const { s } = await fresh();
    // one at a time: a rejection nobody awaits yet would fail the test as unhandled
    for (const op of [() => s.get('config'), () => s.get('data/xx/yy', { offset: 1, length: 2 }), () => s.stat('keys/k')]) {
      const err = await errorOf(op());
      assert.equal(s.isNotFound(err), true);
    }
    assert.equal(s.isNotFound(new Error('other')), false);
    assert.equal(s.isNotFound(undefined), false);
    assert.equal(s.isNotFound(Object.assign(new Error('x'), { code: 'EACCES' })), false);
    assert.equal(s.isPermanent(Object.assign(new Error('x'), { code: 'EACCES' })), true);
    assert.equal(s.isPermanent(Object.assign(new Error('x'), { code: 'ECONNRESET' })), false);
  });

  it('a writer leaves no temporary file: not after a commit, a refused commit or an abort', async () => {
    const { s, dir } = await fresh();
    const w = await s.openWriter();
    await w.write([Buffer.from('ab'), Buffer.from('c')]);
    await w.commit('data/ab/pack');
    const clash = await s.openWriter();
    await clash.write([Buffer.from('x')]);
    await assert.rejects(clash.commit('data/ab/pack'));
    const dropped = await s.openWriter();
    await dropped.write([Buffer.from('y')]);
    await dropped.abort();
    assert.deepEqual(await allFiles(dir), ['data/ab/pack']);
    assert.deepEqual(await s.get('data/ab/pack'), Buffer.from('abc'));
  });

  it('leaves no temporary file after a failed write', async () => {
    const { s, dir } = await fresh();
    await s.put('a/existing', Buffer.from('1'));
    // 1. create-only collision (link fails)
    await assert.rejects(s.put('a/existing', Buffer.from('2')));
    // 2. the write itself fails (not a byte array)
    await assert.rejects(s.put('a/bad', { length: 10 } as unknown as Uint8Array));
    // 3. the rename fails: the target is a non-empty folder
    await mkdir(join(dir, 'a', 'folder'));
    await writeFile(join(dir, 'a', 'folder', 'inside'), 'x');
    await assert.rejects(s.put('a/folder', Buffer.from('3'), { overwrite: true }));
    assert.deepEqual(await allFiles(dir), ['a/existing', 'a/folder/inside']);
    assert.deepEqual(await s.get('a/existing'), Buffer.from('1'));
  });

  it('refuses names that leave the root', async () => {
    const { s } = await fresh();
    await assert.rejects(s.put('../escape', Buffer.from('x')), /invalid object name/);
    await assert.rejects(s.put('/etc/escape', Buffer.from('x')), /invalid object name/);
    await assert.rejects(s.get('data/../../x'), /invalid object name/);
    await assert.rejects(s.remove('..'), /invalid object name/);
  });

  it('writes many objects concurrently into the same new folder', async () => {
    const { s } = await fresh();
    const objs = Array.from({ length: 50 }, (_, i) => ({ name: `data/00/obj${i}`, data: randomBytes(100 + i) }));
    await Promise.all(objs.map((o) => s.put(o.name, o.data)));
    for (const o of objs) assert.deepEqual(await s.get(o.name), o.data);
    assert.equal((await names(s, 'data/')).length, 50);
  });

  it('recreates a folder that was removed behind its back', async () => {
    const { s, dir } = await fresh();
    await s.put('locks/one', Buffer.from('1'));
    await rm(join(dir, 'locks'), { recursive: true });
    await s.put('locks/two', Buffer.from('2'));
    assert.deepEqual(await s.get('locks/two'), Buffer.from('2'));
  });

  it('puts an object given in parts as their concatenation', async () => {
    const { s, dir } = await fresh();
    const parts = [randomBytes(1000), Buffer.alloc(0), randomBytes(1).subarray(0, 1), randomBytes(70_000), Buffer.from([1, 2, 3, 4])];
    await s.put('data/aa/pack', parts);
    assert.deepEqual(await s.get('data/aa/pack'), Buffer.concat(parts));
    assert.deepEqual(await s.get('data/aa/pack', { offset: 999, length: 3 }), Buffer.concat(parts).subarray(999, 1002));
    await s.put('data/aa/none', []);
    assert.deepEqual(await s.get('data/aa/none'), Buffer.alloc(0));
    await assert.rejects(s.put('data/aa/pack', [Buffer.from('x')]), (err: unknown) => (err as NodeJS.ErrnoException).code === 'EEXIST');
    assert.deepEqual(await allFiles(dir), ['data/aa/none', 'data/aa/pack']);
    await s.close();
  });

  it('serves many ranged pack reads (cached handles) and releases every handle on close', async () => {
    const { s } = await fresh();
    const fds = async (): Promise<number> => (await readdir('/proc/self/fd')).length;
    const packs = Array.from({ length: 100 }, (_, i) => ({ name: `data/${String(i % 10).padStart(2, '0')}/p${i}`, data: randomBytes(500 + i) }));
    for (const p of packs) await s.put(p.name, p.data);
    const baseline = await fds();
    const reads = async (): Promise<void> => {
      await Promise.all(
        packs.flatMap((p) => [7, 100, 300].map(async (off) => assert.deepEqual(await s.get(p.name, { offset: off, length: 50 }), p.data.subarray(off, off + 50)))),
      );
    };
    await reads();
    await reads(); // the second round hits handles opened (and evicted) in the first
    assert.ok((await fds()) <= baseline + 64, 'at most 64 pack handles stay open');
    await s.close();
    assert.ok((await fds()) <= baseline, `handles closed: ${await fds()} open, ${baseline} before`);
    await reads(); // usable again after close
    await s.close();
    assert.ok((await fds()) <= baseline);
  });

  it('reports a missing pack on a ranged read as not found, and finds it once written', async () => {
    const { s } = await fresh();
    const err = await errorOf(s.get('data/ab/missing', { offset: 0, length: 10 }));
    assert.equal(s.isNotFound(err), true);
    await s.put('data/ab/missing', Buffer.from('now it exists'));
    assert.deepEqual(await s.get('data/ab/missing', { offset: 4, length: 2 }), Buffer.from('it'));
    await s.close();
  });

  it('puts a view into a larger buffer as exactly its bytes', async () => {
    const { s } = await fresh();
    const big = randomBytes(100);
    await s.put('view', big.subarray(10, 20));
    assert.deepEqual(await s.get('view'), big.subarray(10, 20));
  });
});
