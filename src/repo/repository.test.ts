import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createCipheriv } from 'node:crypto';
import { mkdtemp, open, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IntegrityError, NoRepositoryError, NotFoundError, UserError, WrongPasswordError } from '../util/errors.js';
import { Secret } from '../util/secret.js';
import { LocalStorage } from '../storage/local/local-storage.js';
import type { GetOptions, StorageProperties } from '../storage/storage.js';
import { blobId, masterKeyBytes, newMasterKey } from './crypto.js';
import { packPath } from './ids.js';
import { openJson } from './json-object.js';
import { makeKeyFile, tryUnwrap } from './keys.js';
import { Repository, type RepoConfig } from './repository.js';
import { fastRepository } from './testing.js';

const PASSWORD = new Secret('repository test password');
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** Deterministic incompressible bytes. */
function noise(seed: string, length: number): Buffer {
  const key = createHash('sha256').update(seed).digest();
  return createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(length));
}

/** saveBlob takes ownership of its buffer (it may be moved to a worker thread): tests hand it a copy. */
const own = (b: Buffer): Buffer => Buffer.from(b);

/** Every repository a test opens, closed at the end (they hold worker threads and file handles). */
const repos: Repository[] = [];
const track = (r: Repository): Repository => (repos.push(r), r);

const temps: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'safepoint-repo-test-'));
  temps.push(d);
  return d;
}
after(async () => {
  await Promise.all(repos.map((r) => r.close()));
  await Promise.all(temps.map((d) => rm(d, { recursive: true, force: true })));
});

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string, rel: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const r = rel === '' ? e.name : `${rel}/${e.name}`;
      if (e.isDirectory()) await walk(join(d, e.name), r);
      else out.push(r);
    }
  };
  await walk(dir, '');
  return out.sort();
}

/** Flips one bit of a file in place. */
async function flipByte(path: string, at: number): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, at);
    b[0]! ^= 0x40;
    await fh.write(b, 0, 1, at);
  } finally {
    await fh.close();
  }
}

const openRepo = async (dir: string, pw = PASSWORD): Promise<Repository> => track(await Repository.open(new LocalStorage(dir), pw));

/** A repository with cheap scrypt parameters, opened again as a user would. */
const fastRepo = (dir: string, pw = PASSWORD): Promise<Repository> => fastRepository(dir, pw);

describe('Repository.init / open', () => {
  let dir: string;
  let repo: Repository;
  before(async () => {
    dir = await tempDir();
    repo = track(await Repository.init(new LocalStorage(dir), PASSWORD));
  });

  it('writes an encrypted config and one key file named by its hash', async () => {
    const files = await filesUnder(dir);
    assert.equal(files.length, 2, files.join());
    assert.equal(files[0], 'config');
    assert.match(files[1]!, /^keys\/[0-9a-f]{64}$/);
    const keyBytes = await readFile(join(dir, files[1]!));
    assert.equal(files[1], `keys/${sha256(keyBytes)}`);
    assert.equal(files[1], `keys/${repo.keyId}`);
    const config = await readFile(join(dir, 'config'));
    assert.equal(config[0], 0x01, 'a box');
    assert.ok(!config.includes('chunker'), 'not readable without the key');
    assert.equal(repo.config.version, 1);
    assert.match(repo.config.id, /^[0-9a-f]{64}$/);
    assert.deepEqual(repo.config.chunker, { min: 524288, avg: 1048576, max: 4194304 });
    assert.equal(repo.config.compression, 'auto');
  });

  it('opens with the right password: same config and master key', async () => {
    const again = await openRepo(dir);
    assert.deepEqual(again.config, repo.config);
    assert.deepEqual(masterKeyBytes(again.key), masterKeyBytes(repo.key));
    assert.equal(again.keyId, repo.keyId);
  });

  it('refuses a wrong password with WrongPasswordError (exit code 12)', async () => {
    await assert.rejects(openRepo(dir, new Secret('not the password')), (err: unknown) => err instanceof WrongPasswordError && err.exitCode === 12);
  });

  it('fastRepo (used below) opens like a repository made by init', async () => {
    const d = await tempDir();
    const r = await fastRepo(d);
    assert.deepEqual((await filesUnder(d)).map((f) => f.replace(/[0-9a-f]{64}$/, 'ID')), ['config', 'keys/ID']);
    assert.equal(r.config.version, 1);
    await assert.rejects(openRepo(d, new Secret('wrong')), WrongPasswordError);
  });

  it('refuses a second init in the same place, leaving the repository as it was', async () => {
    const was = await filesUnder(dir);
    await assert.rejects(Repository.init(new LocalStorage(dir), new Secret('other')), (err: unknown) => err instanceof UserError && /already exists/.test(err.message));
    assert.deepEqual(await filesUnder(dir), was);
  });

  it('reports NoRepositoryError (exit code 10) for an empty or missing folder, or one without keys', async () => {
    const empty = await tempDir();
    const isNoRepo = (err: unknown): boolean => err instanceof NoRepositoryError && err.exitCode === 10;
    await assert.rejects(openRepo(empty), isNoRepo);
    await assert.rejects(openRepo(join(empty, 'does', 'not', 'exist')), isNoRepo);
    const noKeys = await tempDir();
    await writeFile(join(noKeys, 'config'), await readFile(join(dir, 'config')));
    await assert.rejects(openRepo(noKeys), (err: unknown) => isNoRepo(err) && /no readable key file/.test((err as Error).message));
  });

  it('can be retried after an init that died between writing the key and the config', async () => {
    const d = await tempDir();
    // What the first, interrupted init left behind: a key file and no config.
    const orphan = await makeKeyFile(newMasterKey(), PASSWORD, { N: 1024, r: 8, p: 1 });
    await new LocalStorage(d).put(`keys/${orphan.id}`, orphan.bytes);
    const retried = await Repository.init(new LocalStorage(d), PASSWORD).then(track, (err: unknown) => err);
    if (retried instanceof Error) {
      assert.ok(retried instanceof UserError, 'refusing with a clear message is a fine answer too');
      return;
    }
    assert.ok(retried instanceof Repository);
    for (const { id, file } of await retried.listKeys()) {
      const master = await tryUnwrap(file, PASSWORD);
      if (master) assert.ok(masterKeyBytes(master).equals(masterKeyBytes(retried.key)), `key ${id.slice(0, 8)} opens with the password but wraps another master key`);
    }
    await openRepo(d);
  });

  it('opens with a good key even when another key file is damaged', async () => {
    const d = await tempDir();
    await fastRepo(d);
    const junk = Buffer.from('{"truncated": ');
    await writeFile(join(d, 'keys', sha256(junk)), junk);
    await openRepo(d);
  });

  it('honours the compression option', async () => {
    const d = await tempDir();
    const r = track(await Repository.init(new LocalStorage(d), PASSWORD, { compression: 'off' }));
    assert.equal(r.config.compression, 'off');
    assert.equal(openJson<RepoConfig>(r.key.encKey, await readFile(join(d, 'config')), 'config').compression, 'off');
    assert.equal((await r.saveBlob('data', Buffer.alloc(100_000))).stored, 100_000 + 29, 'stored raw');
  });
});

describe('Repository blobs, packs and index', () => {
  let dir: string;
  let repo: Repository;
  const data1 = noise('data1', 200_000);
  const data2 = Buffer.from('hello world\n'.repeat(10_000)); // compressible
  const tree1 = Buffer.from(JSON.stringify({ nodes: [] }));
  let ids: { data1: string; data2: string; tree1: string };

  before(async () => {
    dir = await tempDir();
    repo = await fastRepo(dir);
  });

  it('saveBlob stores new content once: a second save is known and stores nothing', async () => {
    const first = await repo.saveBlob('data', own(data1));
    assert.equal(first.id, blobId(repo.key.macKey, data1));
    assert.equal(first.id, repo.blobId(data1));
    assert.equal(first.known, false);
    assert.equal(first.stored, data1.length + 29, 'random data is stored raw (plus the box overhead)');
    assert.equal(repo.hasBlob(first.id), true, 'in flight counts as present');
    assert.deepEqual(await repo.saveBlob('data', own(data1)), { id: first.id, known: true, stored: 0 });

    const c = await repo.saveBlob('data', own(data2));
    assert.equal(c.known, false);
    assert.ok(c.stored < data2.length / 10, `compressible data is compressed (${c.stored} bytes stored)`);
    const t = await repo.saveBlob('tree', own(tree1));
    assert.equal(t.known, false);
    ids = { data1: first.id, data2: c.id, tree1: t.id };
    assert.deepEqual(await filesUnder(join(dir, 'data')), [], 'nothing written before flush');
  });

  it('flush writes one pack per blob type and one index file, all named by their hash', async () => {
    await repo.flush();
    const packs = await filesUnder(join(dir, 'data'));
    assert.equal(packs.length, 2, packs.join());
    for (const p of packs) {
      const [sub, name] = p.split('/') as [string, string];
      assert.equal(sub, name.slice(0, 2));
      assert.equal(name, sha256(await readFile(join(dir, 'data', p))));
    }
    const indexes = await filesUnder(join(dir, 'index'));
    assert.equal(indexes.length, 1);
    assert.equal(indexes[0], sha256(await readFile(join(dir, 'index', indexes[0]!))));
    // The index lists the packs and their blobs, each pack of one type.
    const json = await repo.loadJson<{ packs: { id: string; type: string; blobs: unknown[][] }[] }>('index', indexes[0]!);
    assert.deepEqual(json.packs.map((p) => p.id).sort(), packs.map((p) => p.split('/')[1]).sort());
    const byType = Object.fromEntries(json.packs.map((p) => [p.type, p.blobs.map((b) => b[0]).sort()]));
    assert.deepEqual(byType, { data: [ids.data1, ids.data2].sort(), tree: [ids.tree1] });
    assert.equal((await repo.saveBlob('data', own(data1))).known, true, 'still known after flush');
  });

  it('flush with nothing new writes nothing', async () => {
    const was = await filesUnder(dir);
    await repo.flush();
    assert.deepEqual(await filesUnder(dir), was);
  });

  it('a fresh open finds the blobs after loadIndex and loads them verified', async () => {
    const r = await openRepo(dir);
    assert.equal(r.hasBlob(ids.data1), false, 'nothing known before loadIndex');
    await r.loadIndex();
    for (const [id, plain, type] of [[ids.data1, data1, 'data'], [ids.data2, data2, 'data'], [ids.tree1, tree1, 'tree']] as const) {
      assert.equal(r.hasBlob(id), true);
      assert.equal(r.locate(id)[0]?.rawLength, plain.length);
      assert.deepEqual(await r.loadBlob(type, id), plain);
    }
    assert.equal(r.index.packCount, 2);
    assert.deepEqual(await r.saveBlob('data', own(data2)), { id: ids.data2, known: true, stored: 0 });
    await assert.rejects(r.loadBlob('data', 'ff'.repeat(32)), NotFoundError);
  });

  it('caches trees of network targets (a tree pack read once), not of local ones (read again, nothing kept)', async () => {
    const d = await tempDir();
    const w = await fastRepo(d);
    const trees = [0, 1, 2].map((i) => Buffer.from(JSON.stringify({ nodes: [{ name: `f${i}`, type: 'file' }] })));
    const tids: string[] = [];
    for (const t of trees) tids.push((await w.saveBlob('tree', own(t))).id);
    await w.flush();
    /** The folder seen as a target of `kind`, counting its ranged pack reads. */
    class Counting extends LocalStorage {
      reads = 0;
      constructor(readonly kind: string) {
        super(d);
      }
      override properties(): StorageProperties {
        return { ...super.properties(), kind: this.kind };
      }
      override async get(name: string, options: GetOptions = {}): Promise<Buffer> {
        if (name.startsWith('data/')) this.reads++;
        return super.get(name, options);
      }
    }
    for (const [kind, reads] of [['local', 4], ['sftp', 1]] as const) {
      const storage = new Counting(kind);
      const r = track(await Repository.open(storage, PASSWORD));
      await r.loadIndex();
      for (const i of [0, 1, 2, 0]) assert.deepEqual(await r.loadBlob('tree', tids[i]!), trees[i]);
      assert.equal(storage.reads, reads, `${kind}: pack reads for 4 tree loads`);
    }
  });

  it('loadBlob detects a changed byte in a pack (IntegrityError)', async () => {
    const d = await tempDir();
    const w = await fastRepo(d);
    const plain = noise('tamper', 5000);
    const { id } = await w.saveBlob('data', own(plain));
    await w.flush();
    const r = await openRepo(d);
    await r.loadIndex();
    const [loc] = r.index.lookup(id);
    assert.ok(loc);
    await flipByte(join(d, packPath(loc.pack)), loc.offset + 100);
    await assert.rejects(r.loadBlob('data', id), IntegrityError);
  });

  it('loadBlob falls back to another copy when the first one is damaged', async () => {
    const d = await tempDir();
    await fastRepo(d);
    const plain = noise('two copies', 3000);
    // Two writers that do not see each other's index store the same blob in two packs (format §6).
    for (const seed of ['a', 'b']) {
      const w = await openRepo(d);
      await w.saveBlob('data', own(plain));
      await w.saveBlob('data', own(noise(seed, 100)));
      await w.flush();
    }
    const r = await openRepo(d);
    await r.loadIndex();
    const id = r.blobId(plain);
    const locs = r.index.lookup(id);
    assert.equal(locs.length, 2);
    await flipByte(join(d, packPath(locs[0]!.pack)), locs[0]!.offset + 20);
    assert.deepEqual(await r.loadBlob('data', id), plain);
    await flipByte(join(d, packPath(locs[1]!.pack)), locs[1]!.offset + 20);
    await assert.rejects(r.loadBlob('data', id), IntegrityError);
  });

  it('saves many large blobs concurrently, each content once, and loads them back', async () => {
    const d = await tempDir();
    const w = await fastRepo(d);
    const plains = Array.from({ length: 24 }, (_, i) => (i % 2 === 1 ? noise(`big${i}`, 100_000 + i) : Buffer.from(`text ${i} `.repeat(20_000))));
    const results = await Promise.all([...plains, ...plains].map((p) => w.saveBlob('data', own(p))));
    assert.deepEqual(results.slice(0, 24).map((r) => r.id), plains.map((p) => w.blobId(p)));
    assert.ok(results.slice(0, 24).every((r) => !r.known && r.stored > 0));
    assert.ok(results.slice(24).every((r) => r.known && r.stored === 0), 'a concurrent second save of the same content is known');
    await w.flush();
    const r = await openRepo(d);
    await r.loadIndex();
    assert.equal(r.index.blobCount, 24);
    for (const p of plains) assert.deepEqual(await r.loadBlob('data', r.blobId(p)), p);
  });

  it('saveBlob leaves a larger buffer intact when given a view into it', async () => {
    const d = await tempDir();
    const w = await fastRepo(d);
    const big = Buffer.concat([noise('view', 300_000)]);
    const before = Buffer.from(big);
    const { id } = await w.saveBlob('data', big.subarray(1000, 101_000));
    assert.deepEqual(big, before);
    await w.flush();
    assert.deepEqual(await w.loadBlob('data', id), before.subarray(1000, 101_000));
  });

  it('loadBlob checks the content against the id: an index entry pointing at another blob is refused', async () => {
    const d = await tempDir();
    const w = await fastRepo(d);
    const a = noise('blob a', 700);
    const b = noise('blob b', 700);
    const idA = (await w.saveBlob('data', own(a))).id;
    const idB = (await w.saveBlob('data', own(b))).id;
    await w.flush();
    const r = await openRepo(d);
    await r.loadIndex();
    const locB = r.index.lookup(idB)[0]!;
    const boxB = await r.storage.get(packPath(locB.pack), { offset: locB.offset, length: locB.length });
    assert.deepEqual(r.decodeBlob(idB, locB, boxB), b);
    // The box authenticates (same key), but it holds B, not A.
    assert.throws(() => r.decodeBlob(idA, locB, boxB), (err: unknown) => err instanceof IntegrityError && /does not match its id/.test(err.message));
    assert.throws(() => r.decodeBlob(idB, { ...locB, rawLength: locB.rawLength + 1 }, boxB), IntegrityError);
    assert.throws(() => r.decodeBlob(idB, locB, boxB.subarray(1)), /truncated/);
    // Through the index: a fresh repository whose only index entry for A points at B's bytes.
    const liar = await openRepo(d);
    liar.index.addPack({ id: locB.pack, type: 'data', blobs: [{ id: idA, type: 'data', offset: locB.offset, length: locB.length, rawLength: locB.rawLength, compressed: locB.compressed }] });
    await assert.rejects(liar.loadBlob('data', idA), IntegrityError);
  });

  it('loadJson detects a changed object (IntegrityError)', async () => {
    const sid = await repo.saveJson('snapshots', { hello: 'world' });
    assert.deepEqual(await repo.loadJson('snapshots', sid), { hello: 'world' });
    await flipByte(join(dir, 'snapshots', sid), 20);
    await assert.rejects(repo.loadJson('snapshots', sid), (err: unknown) => err instanceof IntegrityError && /does not match its name/.test(err.message));
    await repo.removeJson('snapshots', sid);
  });
});

describe('Repository index loading', () => {
  it('ignores index files that another index supersedes', async () => {
    const dir = await tempDir();
    const w = await fastRepo(dir);
    const fake = (n: number): { id: string; type: 'data'; blobs: { id: string; type: 'data'; offset: number; length: number; rawLength: number; compressed: boolean }[] } => ({
      id: `${n}`.repeat(64),
      type: 'data',
      blobs: [{ id: `${n + 1}`.repeat(64), type: 'data', offset: 0, length: 10, rawLength: 5, compressed: false }],
    });
    const old = await w.writeIndex([fake(1)]);
    await w.writeIndex([fake(3)], [old]);
    const r = await openRepo(dir);
    await r.loadIndex();
    assert.equal(r.index.pack('1'.repeat(64)), undefined, 'superseded');
    assert.equal(r.hasBlob('2'.repeat(64)), false);
    assert.ok(r.index.pack('3'.repeat(64)));
    assert.equal(r.hasBlob('4'.repeat(64)), true);
  });

  it('skips the index with a warning and reads the pack headers instead', async () => {
    const dir = await tempDir();
    const w = await fastRepo(dir);
    // Enough blobs that the pack header (42 bytes each) is larger than the 64 KiB tail probe.
    const plains = Array.from({ length: 1700 }, (_, i) => Buffer.from(`blob number ${i}`));
    for (const p of plains) await w.saveBlob('data', own(p));
    const tree = Buffer.from('{"nodes":[]}');
    await w.saveBlob('tree', own(tree));
    await w.flush();
    // A second, healthy index for a later pack.
    const late = noise('late', 1000);
    await w.saveBlob('data', own(late));
    await w.flush();
    const indexes = await filesUnder(join(dir, 'index'));
    assert.equal(indexes.length, 2);
    const damaged = (await Promise.all(indexes.map(async (i) => ({ i, n: (await readFile(join(dir, 'index', i))).length })))).sort((a, b) => b.n - a.n)[0]!.i;
    await flipByte(join(dir, 'index', damaged), 40);

    const r = await openRepo(dir);
    const warnings: string[] = [];
    await r.loadIndex({ onWarning: (m) => warnings.push(m) });
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.match(warnings[0]!, new RegExp(`index ${damaged.slice(0, 8)} is damaged`));
    assert.equal(r.index.packCount, 3);
    for (const i of [0, 1, 1234, 1699]) assert.deepEqual(await r.loadBlob('data', r.blobId(plains[i]!)), plains[i]);
    assert.deepEqual(await r.loadBlob('tree', r.blobId(tree)), tree);
    assert.deepEqual(await r.loadBlob('data', r.blobId(late)), late);
  });

  it('reads pack headers the same way the index describes them', async () => {
    const dir = await tempDir();
    const w = await fastRepo(dir);
    for (let i = 0; i < 20; i++) await w.saveBlob(i % 3 === 0 ? 'tree' : 'data', noise(`h${i}`, 50 + i * 37));
    await w.flush();
    const r = await openRepo(dir);
    const fromHeaders = await r.readUnindexedPackHeaders();
    await r.loadIndex();
    assert.equal(fromHeaders.length, 2);
    for (const p of fromHeaders) {
      const indexed = r.index.pack(p.id)!;
      assert.deepEqual(p, { ...indexed, blobs: indexed.blobs.map((blob) => {
        const { pack, ...b } = blob as typeof blob & { pack: string };
        assert.equal(pack, p.id);
        return b;
      }) });
    }
    assert.deepEqual(await r.readUnindexedPackHeaders(), [], 'every pack is indexed now');
  });
});

describe('Repository keys', () => {
  it('adds, lists and removes keys; the last key cannot be removed', async () => {
    const dir = await tempDir();
    const repo = await fastRepo(dir);
    const second = new Secret('second password');
    const id2 = await repo.addKey(second);
    assert.deepEqual((await repo.listKeys()).map((k) => k.id).sort(), [repo.keyId, id2].sort());
    const viaSecond = await openRepo(dir, second);
    assert.equal(viaSecond.keyId, id2);
    assert.deepEqual(masterKeyBytes(viaSecond.key), masterKeyBytes(repo.key));
    await assert.rejects(repo.addKey(new Secret('')), UserError);
    await assert.rejects(repo.removeKey('00'.repeat(32)), NotFoundError);

    await repo.removeKey(repo.keyId);
    assert.deepEqual((await repo.listKeys()).map((k) => k.id), [id2]);
    await assert.rejects(openRepo(dir), WrongPasswordError);
    await assert.rejects(viaSecond.removeKey(id2), (err: unknown) => err instanceof UserError && /last key/.test(err.message));
    assert.deepEqual((await viaSecond.listKeys()).map((k) => k.id), [id2]);
  });
});

describe('Repository.resolveId', () => {
  let repo: Repository;
  const snaps: string[] = [];
  before(async () => {
    const dir = await tempDir();
    repo = await fastRepo(dir);
    // 17 ids: at least two share their first hex digit.
    for (let i = 0; i < 17; i++) snaps.push(await repo.saveJson('snapshots', { n: i }));
  });

  it('resolves a unique prefix and a full id', async () => {
    for (const id of snaps) {
      let n = 1;
      while (snaps.filter((s) => s.startsWith(id.slice(0, n))).length > 1) n++;
      assert.equal(await repo.resolveId('snapshots', id.slice(0, n)), id);
      assert.equal(await repo.resolveId('snapshots', id), id);
    }
  });

  it('refuses an ambiguous prefix with UserError', async () => {
    const first = snaps.map((s) => s[0]!);
    const shared = first.find((c, i) => first.indexOf(c) !== i);
    assert.ok(shared);
    await assert.rejects(repo.resolveId('snapshots', shared), (err: unknown) => err instanceof UserError && /ambiguous/.test(err.message));
    await assert.rejects(repo.resolveId('snapshots', ''), /ambiguous \(17 matches\)/);
  });

  it('reports an absent prefix with NotFoundError', async () => {
    let absent = '';
    for (let i = 0; i < 256 && absent === ''; i++) {
      const p = i.toString(16).padStart(2, '0');
      if (!snaps.some((s) => s.startsWith(p))) absent = p;
    }
    await assert.rejects(repo.resolveId('snapshots', absent), (err: unknown) => err instanceof NotFoundError && /no snapshot with id/.test(err.message));
    await assert.rejects(repo.resolveId('snapshots', 'zz'), NotFoundError);
    await assert.rejects(repo.resolveId('index', ''), NotFoundError);
  });

  it('resolves key ids too', async () => {
    assert.equal(await repo.resolveId('keys', repo.keyId.slice(0, 6)), repo.keyId);
    await assert.rejects(repo.resolveId('keys', repo.keyId[0] === 'a' ? 'b' : 'a'), /no key with id/);
  });
});
