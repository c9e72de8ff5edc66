// How a restore reads packs: small ranged reads from a local disk (memory), larger ones from a network target
// (round trips), neighbouring blobs sharing a read either way, and the files whole.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Repository } from '../src/repo/repository.js';
import { FAST_KDF } from '../src/repo/testing.js';
import { loadSnapshots } from '../src/repo/snapshot.js';
import { LocalStorage } from '../src/storage/local/local-storage.js';
import type { GetOptions, StorageProperties } from '../src/storage/storage.js';
import { backup } from '../src/snapshot/archiver.js';
import { restoreTree } from '../src/snapshot/restorer.js';
import { Secret } from '../src/util/secret.js';
import { hashTree, pseudoRandom, tempDir, writeTree } from './helpers.js';

const pw = new Secret('restore-reads-password');
const MiB = 1024 * 1024;

/** A real folder seen as a target of `kind`, recording the length of each ranged pack read. */
class RecordingStorage extends LocalStorage {
  readonly reads: number[] = [];
  constructor(root: string, readonly kind: string) {
    super(root);
  }
  override properties(): StorageProperties {
    return { ...super.properties(), kind: this.kind };
  }
  override async get(name: string, options: GetOptions = {}): Promise<Buffer> {
    if (name.startsWith('data/') && options.length !== undefined) this.reads.push(options.length);
    return super.get(name, options);
  }
}

test('a restore reads at most 2 MiB at a time from a local disk and up to 4 MiB from a network target', async () => {
  const t = await tempDir();
  try {
    const src = join(t.path, 'src');
    const files: Record<string, Buffer | string> = { 'big-1.bin': pseudoRandom(6 * MiB, 7), 'big-2.bin': pseudoRandom(5 * MiB, 8) };
    for (let i = 0; i < 30; i++) files[`small/${i}.txt`] = `file ${i}\n`.repeat(i + 1);
    await writeTree(src, files);
    const repoDir = join(t.path, 'repo');
    await (await Repository.init(new LocalStorage(repoDir), pw, { kdf: FAST_KDF })).close();
    const writer = await Repository.open(new LocalStorage(repoDir), pw);
    await backup(writer, { paths: [src] });
    await writer.close();

    const largest = { local: 0, network: 0 };
    for (const [kind, limit] of [['local', 2 * MiB], ['sftp', 4 * MiB]] as const) {
      const storage = new RecordingStorage(repoDir, kind);
      const repo = await Repository.open(storage, pw);
      try {
        await repo.loadIndex();
        const blobs = [...repo.index.packs()].filter((p) => p.type === 'data').flatMap((p) => p.blobs);
        const biggestBlob = Math.max(...blobs.map((b) => b.length));
        const [sn] = await loadSnapshots(repo);
        const out = join(t.path, `out-${kind}`);
        storage.reads.length = 0;
        const r = await restoreTree(repo, sn!.tree, { target: out });
        assert.deepEqual(r.errors, []);
        assert.deepEqual(await hashTree(join(out, 'src')), await hashTree(src), `${kind}: restored files equal`);
        assert.ok(storage.reads.length < blobs.length, `${kind}: neighbouring blobs share reads (${storage.reads.length} reads, ${blobs.length} blobs)`);
        // a read longer than the limit is one blob that is longer itself
        for (const n of storage.reads) assert.ok(n <= Math.max(limit, biggestBlob), `${kind}: a read of ${n} bytes`);
        largest[kind === 'local' ? 'local' : 'network'] = Math.max(...storage.reads);
      } finally {
        await repo.close();
      }
    }
    assert.ok(largest.network > 2 * MiB, `a network target gets reads above 2 MiB (largest ${largest.network})`);
  } finally {
    await t.cleanup();
  }
});
