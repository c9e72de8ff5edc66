import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmod, lstat, mkdir, mkdtemp, open, readdir, readlink, rm, symlink, unlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Secret } from '../util/secret.js';
import { chunkFile } from '../repo/chunker.js';
import type { BlobLoader, Repository } from '../repo/repository.js';
import { saveTree, type NodeType, type TreeNode } from '../repo/tree.js';
import { diffLive, diffTrees, sameTime, type Change, type LiveDiffOptions } from './diff.js';
import { fastRepository } from '../repo/testing.js';

const PASSWORD = new Secret('diff test');

/** A repository with cheap scrypt parameters, opened again as a user would. */
const fastRepo = (dir: string): Promise<Repository> => fastRepository(dir, PASSWORD);

/** Records which blobs were loaded. */
class CountingLoader implements BlobLoader {
  readonly loads: string[] = [];
  readonly #repo: Repository;
  constructor(repo: Repository) {
    this.#repo = repo;
  }
  loadBlob(type: 'data' | 'tree', id: string): Promise<Buffer> {
    this.loads.push(id);
    return this.#repo.loadBlob(type, id);
  }
  hasBlob(id: string): boolean {
    return this.#repo.hasBlob(id);
  }
}

async function collect(changes: AsyncIterable<Change>): Promise<string[]> {
  const out: string[] = [];
  for await (const c of changes) out.push(`${c.kind} ${c.path} ${c.type}`);
  return out;
}

let root: string;
let repo: Repository;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'safepoint-diff-test-'));
  await mkdir(join(root, 'repo'));
  repo = await fastRepo(join(root, 'repo'));
});
after(async () => {
  await repo.close();
  await rm(root, { recursive: true, force: true });
});

const T0 = '1700000000000000000';
function node(name: string, type: NodeType, extra: Partial<TreeNode> = {}): TreeNode {
  return { name, type, mode: type === 'dir' ? 0o755 : 0o644, uid: 1000, gid: 1000, mtime: T0, ctime: T0, inode: 1, dev: 1, nlink: 1, size: 0, ...extra };
}
const file = (name: string, content: string[], extra: Partial<TreeNode> = {}): TreeNode => node(name, 'file', { content, size: content.length * 10, ...extra });
const tree = async (nodes: TreeNode[]): Promise<string> => (await saveTree(repo, nodes)).id;

describe('diffTrees', () => {
  it('reports +, -, M, T and U, recursing into changed folders only', async () => {
    const [c1, c2, c3] = ['c1', 'c2', 'c3'].map((s) => s.repeat(32)) as [string, string, string];
    const same = await tree([file('a', [c1]), file('b', [c2])]);
    const removedSub = await tree([file('x', [c1]), node('deeper', 'dir', { subtree: await tree([file('y', [c2])]) })]);
    const addedSub = await tree([file('n1', [c1]), node('n2', 'symlink', { target: 't' })]);
    const left = await tree([
      node('changed', 'dir', {
        subtree: await tree([
          file('content', [c1]),
          file('gone', [c1]),
          file('mode', [c1]),
          file('owner', [c1]),
          file('mtime', [c1]),
          file('mtime-ns', [c1]),
          file('grown', [c1], { size: 10 }),
          file('to-link', [c1]),
          node('sub', 'dir', { subtree: removedSub }),
        ]),
      }),
      node('dirmode', 'dir', { subtree: same }),
      node('link', 'symlink', { target: '/old/target' }),
      node('same', 'dir', { subtree: same }),
      file('unchanged', [c1, c2]),
    ]);
    const right = await tree([
      node('changed', 'dir', {
        mtime: '1800000000000000000', // folder mtimes are not compared
        subtree: await tree([
          file('added', [c3]),
          file('content', [c3]),
          file('mode', [c1], { mode: 0o600 }),
          file('mtime', [c1], { mtime: '1700000000000001000' }),
          file('mtime-ns', [c1], { mtime: '1700000000000000999' }), // same microsecond
          file('owner', [c1], { gid: 0 }),
          file('grown', [c1], { size: 11 }),
          node('to-link', 'symlink', { target: 'x' }),
        ]),
      }),
      node('dirmode', 'dir', { subtree: same, mode: 0o700 }),
      node('link', 'symlink', { target: '/new/target' }),
      node('new', 'dir', { subtree: addedSub }),
      node('same', 'dir', { subtree: same }),
      file('unchanged', [c1, c2]),
    ]);
    await repo.flush();
    const loader = new CountingLoader(repo);
    assert.deepEqual(await collect(diffTrees(loader, left, right)), [
      '+ changed/added file',
      'M changed/content file',
      '- changed/gone file',
      'M changed/grown file',
      'U changed/mode file',
      'U changed/mtime file',
      'U changed/owner file',
      '- changed/sub dir',
      '- changed/sub/deeper dir',
      '- changed/sub/deeper/y file',
      '- changed/sub/x file',
      'T changed/to-link symlink',
      'U dirmode dir',
      'M link symlink',
      '+ new dir',
      '+ new/n1 file',
      '+ new/n2 symlink',
    ]);
    assert.ok(!loader.loads.includes(same), 'identical subtrees are not loaded');
  });

  it('reports a type change as T only, like restic (the new folder\'s content is not listed)', async () => {
    const left = await tree([file('x', ['aa'.repeat(32)])]);
    const right = await tree([node('x', 'dir', { subtree: await tree([file('inside', [])]) })]);
    await repo.flush();
    assert.deepEqual(await collect(diffTrees(repo, left, right)), ['T x dir']);
    assert.deepEqual(await collect(diffTrees(repo, right, left)), ['T x file']);
  });

  it('reports a folder\'s metadata change before the changes inside it', async () => {
    const left = await tree([node('d', 'dir', { subtree: await tree([file('f', ['aa'.repeat(32)])]) })]);
    const right = await tree([node('d', 'dir', { uid: 0, subtree: await tree([file('f', ['bb'.repeat(32)])]) })]);
    await repo.flush();
    assert.deepEqual(await collect(diffTrees(repo, left, right)), ['U d dir', 'M d/f file']);
  });

  it('reports nothing, without loading anything, for the same tree', async () => {
    const t = await tree([file('a', ['aa'.repeat(32)]), node('d', 'dir', { subtree: await tree([]) })]);
    await repo.flush();
    const loader = new CountingLoader(repo);
    assert.deepEqual(await collect(diffTrees(loader, t, t)), []);
    assert.deepEqual(loader.loads, []);
  });

  it('treats a missing side as empty', async () => {
    const t = await tree([file('a', []), node('d', 'dir', { subtree: await tree([file('b', [])]) })]);
    await repo.flush();
    assert.deepEqual(await collect(diffTrees(repo, undefined, t)), ['+ a file', '+ d dir', '+ d/b file']);
    assert.deepEqual(await collect(diffTrees(repo, t, undefined)), ['- a file', '- d dir', '- d/b file']);
    assert.deepEqual(await collect(diffTrees(repo, undefined, undefined)), []);
  });

  it('orders entries by byte order of their names', async () => {
    const a = await tree([]);
    const b = await tree([file('b', []), file('B', []), file('é', []), file('a b', []), file('a', [])]);
    await repo.flush();
    assert.deepEqual(await collect(diffTrees(repo, a, b)), ['+ B file', '+ a file', '+ a b file', '+ b file', '+ é file']);
  });
});

describe('sameTime', () => {
  it('compares nanosecond times at microsecond resolution', () => {
    assert.equal(sameTime('1700000000123456789', '1700000000123456789'), true);
    assert.equal(sameTime('1700000000123456000', '1700000000123456999'), true);
    assert.equal(sameTime('1700000000123456999', '1700000000123457000'), false);
    assert.equal(sameTime('0', '1000'), false);
  });
});

// ---- diffLive against a real folder ----------------------------------------------------------------

const opts = (content: boolean): LiveDiffOptions => ({ content, gear: repo.gear, chunkerParams: repo.chunkerParams, blobId: (p) => repo.blobId(p) });

/** Backs up a folder's listing like the archiver does (format §8.1) and returns its tree id. */
async function snapshotDir(dir: string): Promise<string> {
  const nodes: TreeNode[] = [];
  for (const name of await readdir(dir)) {
    const p = join(dir, name);
    const st = await lstat(p, { bigint: true });
    const type: NodeType = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'fifo';
    const n = node(name, type, { mode: Number(st.mode & 0o7777n), uid: Number(st.uid), gid: Number(st.gid), mtime: st.mtimeNs.toString(), ctime: st.ctimeNs.toString(), inode: Number(st.ino), dev: Number(st.dev), nlink: Number(st.nlink), size: type === 'file' ? Number(st.size) : 0 });
    if (type === 'file') {
      const fh = await open(p, 'r');
      try {
        n.content = [];
        for await (const c of chunkFile(fh, repo.gear, repo.chunkerParams)) n.content.push((await repo.saveBlob('data', c)).id);
      } finally {
        await fh.close();
      }
    } else if (type === 'dir') n.subtree = await snapshotDir(p);
    else if (type === 'symlink') n.target = await readlink(p);
    nodes.push(n);
  }
  return tree(nodes);
}

const STAMP = 1_700_000_000; // whole seconds: restored exactly by utimes

describe('diffLive', () => {
  let dir: string;
  let snap: string;

  before(async () => {
    dir = join(root, 'live');
    await mkdir(join(dir, 'sub'), { recursive: true });
    await mkdir(join(dir, 'olddir'));
    const files: Record<string, string> = {
      'keep.txt': 'unchanged',
      'remove.txt': 'to be removed',
      'same-size.txt': 'aaaa',
      'grown.txt': 'short',
      'mode.txt': 'mode',
      'touched.txt': 'touched',
      'to-dir': 'a file that becomes a folder',
      'sub/inner.txt': 'inner',
      'olddir/y': 'y',
      'empty': '',
    };
    for (const [rel, text] of Object.entries(files)) {
      await writeFile(join(dir, rel), text);
      await chmod(join(dir, rel), 0o644);
      await utimes(join(dir, rel), STAMP, STAMP);
    }
    await symlink('target-one', join(dir, 'link'));
    snap = await snapshotDir(dir);
    await repo.flush();

    await writeFile(join(dir, 'added.txt'), 'new');
    await unlink(join(dir, 'remove.txt'));
    await writeFile(join(dir, 'same-size.txt'), 'bbbb'); // same size...
    await utimes(join(dir, 'same-size.txt'), STAMP, STAMP); // ...and same mtime
    await writeFile(join(dir, 'grown.txt'), 'longer');
    await utimes(join(dir, 'grown.txt'), STAMP, STAMP);
    await chmod(join(dir, 'mode.txt'), 0o600);
    await utimes(join(dir, 'touched.txt'), STAMP + 60, STAMP + 60);
    await unlink(join(dir, 'to-dir'));
    await mkdir(join(dir, 'to-dir'));
    await writeFile(join(dir, 'sub', 'new.txt'), 'n');
    await rm(join(dir, 'olddir'), { recursive: true });
    await mkdir(join(dir, 'newdir'));
    await writeFile(join(dir, 'newdir', 'x'), 'x');
    await unlink(join(dir, 'link'));
    await symlink('target-two', join(dir, 'link'));
  });

  const common = (withContent: boolean): string[] => [
    '+ added.txt file',
    'M grown.txt file',
    'M link symlink',
    'U mode.txt file',
    '+ newdir dir',
    '+ newdir/x file',
    '- olddir dir',
    '- olddir/y file',
    '- remove.txt file',
    ...(withContent ? ['M same-size.txt file'] : []),
    '+ sub/new.txt file',
    'T to-dir dir',
    'U touched.txt file',
  ];

  it('finds a same-size, same-mtime content change when comparing content', async () => {
    assert.deepEqual(await collect(diffLive(repo, snap, dir, opts(true))), common(true));
  });

  it('trusts size and mtime when not comparing content', async () => {
    assert.deepEqual(await collect(diffLive(repo, snap, dir, opts(false))), common(false));
  });

  it('reports nothing for an unchanged folder', async () => {
    const d = join(root, 'still');
    await mkdir(join(d, 'a', 'b'), { recursive: true });
    await writeFile(join(d, 'a', 'b', 'f'), randomBytes(3000));
    await writeFile(join(d, 'g'), 'g');
    await symlink('somewhere', join(d, 'l'));
    const t = await snapshotDir(d);
    await repo.flush();
    assert.deepEqual(await collect(diffLive(repo, t, d, opts(true))), []);
    assert.deepEqual(await collect(diffLive(repo, t, d, opts(false))), []);
  });

  it('lists everything as added without a snapshot tree, and as removed for a missing folder', async () => {
    const d = join(root, 'fresh');
    await mkdir(join(d, 'x'), { recursive: true });
    await writeFile(join(d, 'x', 'y'), 'y');
    assert.deepEqual(await collect(diffLive(repo, undefined, d, opts(true))), ['+ x dir', '+ x/y file']);
    const t = await snapshotDir(d);
    await repo.flush();
    assert.deepEqual(await collect(diffLive(repo, t, join(root, 'no-such-folder'), opts(true))), ['- x dir', '- x/y file']);
  });
});
