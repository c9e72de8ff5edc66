import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmod, chown, link, lstat, mkdir, open, readFile, readdir, readlink, symlink, utimes, writeFile, lutimes } from 'node:fs/promises';
import { join } from 'node:path';
import { CLI, lastJson, pseudoRandom, runCli, tempDir } from './helpers.js';

const isRoot = process.getuid?.() === 0;

/** A tree with every kind of entry we promise to keep. */
async function makeTree(root: string): Promise<void> {
  await mkdir(root, { recursive: true });
  await writeFile(join(root, 'plain.txt'), 'hello\n');
  await writeFile(join(root, 'empty'), '');
  await writeFile(join(root, 'big.bin'), pseudoRandom(3 * 1024 * 1024 + 17, 7));
  await writeFile(join(root, 'name with spaces.txt'), 'spaces');
  await writeFile(join(root, 'ünïcødé-日本.txt'), 'unicode');
  await writeFile(join(root, 'new\nline'), 'newline in the name');
  await writeFile(join(root, '-leading-dash'), 'dash');
  await mkdir(join(root, 'empty-dir'));
  await mkdir(join(root, 'deep/a/b/c'), { recursive: true });
  await writeFile(join(root, 'deep/a/b/c/leaf.txt'), 'leaf');
  await writeFile(join(root, 'secret.key'), 'k', { mode: 0o600 });
  await chmod(join(root, 'secret.key'), 0o600);
  await writeFile(join(root, 'run.sh'), '#!/bin/sh\necho hi\n');
  await chmod(join(root, 'run.sh'), 0o4755);
  await chmod(join(root, 'deep/a'), 0o750);
  await symlink('plain.txt', join(root, 'link-relative'));
  await symlink('/nonexistent/target', join(root, 'link-dangling'));
  await writeFile(join(root, 'hard-1'), 'linked content');
  await link(join(root, 'hard-1'), join(root, 'deep/hard-2'));
  // sparse: 24 MiB with data only at the start and the end
  const fh = await open(join(root, 'sparse.img'), 'w');
  await fh.write(Buffer.from('head'), 0, 4, 0);
  await fh.write(Buffer.from('tail'), 0, 4, 24 * 1024 * 1024 - 4);
  await fh.close();
  execFileSync('mkfifo', [join(root, 'fifo')]);
  if (isRoot) await chown(join(root, 'plain.txt'), 1234, 5678);
  // precise times (microseconds are what we promise)
  await utimes(join(root, 'plain.txt'), 1_600_000_000.123456, 1_600_000_000.654321);
  await lutimes(join(root, 'link-relative'), 1_500_000_000, 1_500_000_000.25);
  await utimes(join(root, 'deep/a/b'), 1_400_000_000, 1_400_000_000.5);
}

interface Entry {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtimeUs: bigint;
  sha?: string;
  target?: string;
  ino: number;
  blocks: number;
}

async function describe(root: string, rel = ''): Promise<Map<string, Entry>> {
  const out = new Map<string, Entry>();
  for (const name of await readdir(join(root, rel))) {
    const r = rel ? `${rel}/${name}` : name;
    const p = join(root, r);
    const st = await lstat(p, { bigint: true });
    const type = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isFIFO() ? 'fifo' : 'other';
    const e: Entry = { type, mode: Number(st.mode & 0o7777n), uid: Number(st.uid), gid: Number(st.gid), size: type === 'file' ? Number(st.size) : 0, mtimeUs: st.mtimeNs / 1000n, ino: Number(st.ino), blocks: Number(st.blocks) };
    if (type === 'file') e.sha = createHash('sha256').update(await readFile(p)).digest('hex');
    if (type === 'symlink') e.target = await readlink(p);
    out.set(r, e);
    if (type === 'dir') for (const [k, v] of await describe(root, r)) out.set(k, v);
  }
  return out;
}

test('backup → restore keeps bytes and metadata of every entry type', async () => {
  const t = await tempDir();
  try {
    const src = join(t.path, 'project');
    await makeTree(src);
    const before = await describe(src);
    const repo = join(t.path, 'repo');
    assert.equal((await runCli(['init', '--repo', repo])).code, 0);
    const b = await runCli(['backup', '--repo', repo, '--json', src]);
    assert.equal(b.code, 0, b.stderr);
    const summary = lastJson(b.stdout);
    assert.equal(summary.message_type, 'summary');
    for (const k of ['snapshot_id', 'files_new', 'files_changed', 'files_unmodified', 'data_added', 'total_files_processed', 'total_bytes_processed', 'total_duration']) assert.ok(k in summary, k);
    assert.equal(summary.files_new, 13);

    const out = join(t.path, 'out');
    const r = await runCli(['restore', 'latest', '--repo', repo, '--target', out, '--verify']);
    assert.equal(r.code, 0, r.stderr);
    const after = await describe(join(out, 'project'));
    assert.deepEqual([...after.keys()].sort(), [...before.keys()].sort());
    for (const [k, e] of before) {
      const a = after.get(k)!;
      assert.equal(a.type, e.type, k);
      assert.equal(a.mode, e.mode, `${k} mode`);
      assert.equal(a.uid, e.uid, `${k} uid`);
      assert.equal(a.gid, e.gid, `${k} gid`);
      assert.equal(a.size, e.size, `${k} size`);
      assert.equal(a.sha, e.sha, `${k} content`);
      assert.equal(a.target, e.target, `${k} target`);
      assert.equal(a.mtimeUs, e.mtimeUs, `${k} mtime`);
    }
    assert.equal(after.get('hard-1')!.ino, after.get('deep/hard-2')!.ino, 'hard links are restored as links');
    assert.ok(after.get('sparse.img')!.blocks * 512 < 1024 * 1024, 'sparse file stays sparse');
  } finally {
    await t.cleanup();
  }
});

test('an unchanged re-backup reads no file and stores nothing; a changed file is re-read', async () => {
  const t = await tempDir();
  try {
    const src = join(t.path, 'src');
    await makeTree(src);
    const repo = join(t.path, 'repo');
    await runCli(['init', '--repo', repo]);
    await runCli(['backup', '--repo', repo, src]);
    const again = lastJson((await runCli(['backup', '--repo', repo, '--json', src])).stdout);
    assert.equal(again.files_new, 0);
    assert.equal(again.files_changed, 0);
    assert.equal(again.files_unmodified, 13);
    assert.equal(again.data_added, 0);
    await writeFile(join(src, 'plain.txt'), 'changed\n');
    const third = lastJson((await runCli(['backup', '--repo', repo, '--json', src])).stdout);
    assert.equal(third.files_changed, 1);
    assert.equal(third.files_unmodified, 12);
    const forced = lastJson((await runCli(['backup', '--repo', repo, '--json', '--force', src])).stdout);
    assert.equal(forced.files_new, 13, '--force re-reads everything');
    assert.equal(forced.data_added, 0, 'but stores nothing new');
  } finally {
    await t.cleanup();
  }
});

test('an insertion in the middle of a large file stores only the chunks around it', async () => {
  const t = await tempDir();
  try {
    const src = join(t.path, 'src');
    await mkdir(src);
    const data = pseudoRandom(24 * 1024 * 1024, 3);
    await writeFile(join(src, 'big'), data);
    const repo = join(t.path, 'repo');
    await runCli(['init', '--repo', repo, '--compression', 'off']);
    await runCli(['backup', '--repo', repo, src]);
    await writeFile(join(src, 'big'), Buffer.concat([data.subarray(0, 12_000_000), Buffer.from('INSERTED BYTES'), data.subarray(12_000_000)]));
    const s = lastJson((await runCli(['backup', '--repo', repo, '--json', src])).stdout);
    assert.ok((s.data_added as number) < 8 * 1024 * 1024 + 65536, `re-stored ${String(s.data_added)} bytes of 24 MiB`);
  } finally {
    await t.cleanup();
  }
});

test('files that cannot be read give warnings, an incomplete snapshot and exit code 3', async () => {
  const t = await tempDir();
  try {
    const src = join(t.path, 'src');
    await mkdir(src);
    await writeFile(join(src, 'ok'), 'ok');
    await writeFile(join(src, 'locked'), 'no', { mode: 0 });
    await chmod(join(src, 'locked'), 0);
    const repo = join(t.path, 'repo');
    // root reads everything: run the CLI as nobody, in folders nobody may use
    const asNobody = isRoot ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', 'env', 'SAFEPOINT_PASSWORD=test-password', process.execPath, CLI] : null;
    if (asNobody) await chmod(t.path, 0o777);
    const run = async (args: string[]): Promise<{ code: number | null; stderr: string; stdout: string }> =>
      asNobody ? spawnSyncResult(asNobody[0]!, [...asNobody.slice(1), ...args]) : runCli(args);
    assert.equal((await run(['init', '--repo', repo])).code, 0);
    const b = await run(['backup', '--repo', repo, '--json', src]);
    assert.equal(b.code, 3, b.stderr);
    assert.match(b.stderr, /locked: permission denied/);
    assert.equal(lastJson(b.stdout).complete, false);
    const snaps = JSON.parse((await run(['snapshots', '--repo', repo, '--json'])).stdout) as { complete: boolean }[];
    assert.equal(snaps[0]!.complete, false, 'the snapshot is marked incomplete');
  } finally {
    await t.cleanup();
  }
});

function spawnSyncResult(cmd: string, args: string[]): { code: number | null; stderr: string; stdout: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return { code: r.status, stderr: r.stderr, stdout: r.stdout };
}

test('excludes, exclude files, tags and include on restore', async () => {
  const t = await tempDir();
  try {
    const src = join(t.path, 'app');
    await mkdir(join(src, 'node_modules/x'), { recursive: true });
    await mkdir(join(src, 'config'), { recursive: true });
    await writeFile(join(src, 'node_modules/x/index.js'), 'x');
    await writeFile(join(src, 'app.log'), 'log');
    await writeFile(join(src, 'tmp.cache'), 'c');
    await writeFile(join(src, 'config/app.yaml'), 'a: 1');
    await writeFile(join(src, 'main.js'), 'main');
    await writeFile(join(t.path, 'excludes'), '# comment\n*.cache\n');
    const repo = join(t.path, 'repo');
    await runCli(['init', '--repo', repo]);
    const b = await runCli(['backup', '--repo', repo, '--exclude', 'node_modules', '--exclude', '*.log', '--exclude-file', join(t.path, 'excludes'), '--tag', 'nightly', src]);
    assert.equal(b.code, 0, b.stderr);
    const ls = await runCli(['ls', '--repo', repo, 'latest']);
    assert.deepEqual(ls.stdout.trim().split('\n').sort(), ['app', 'app/config', 'app/config/app.yaml', 'app/main.js']);
    const snaps = JSON.parse((await runCli(['snapshots', '--repo', repo, '--json'])).stdout) as { tags: string[] }[];
    assert.deepEqual(snaps[0]!.tags, ['nightly']);
    const out = join(t.path, 'out');
    await runCli(['restore', 'latest', '--repo', repo, '--target', out, '--include', 'app/config/**']);
    assert.deepEqual(await readdir(join(out, 'app')), ['config']);
  } finally {
    await t.cleanup();
  }
});

test('restore never writes through a symlink out of the target', async () => {
  const t = await tempDir();
  try {
    const src = join(t.path, 'src');
    await mkdir(join(src, 'conf'), { recursive: true });
    await writeFile(join(src, 'conf/file'), 'from the snapshot');
    const repo = join(t.path, 'repo');
    await runCli(['init', '--repo', repo]);
    await runCli(['backup', '--repo', repo, src]);
    const outside = join(t.path, 'outside');
    await mkdir(outside);
    const target = join(t.path, 'target');
    await mkdir(join(target, 'src'), { recursive: true });
    await symlink(outside, join(target, 'src', 'conf')); // an attacker's link where a folder will be restored
    const r = await runCli(['restore', 'latest', '--repo', repo, '--target', target, '--overwrite']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await readdir(outside), [], 'nothing was written outside the target');
    assert.equal(await readFile(join(target, 'src/conf/file'), 'utf8'), 'from the snapshot');
  } finally {
    await t.cleanup();
  }
});

test('--one-file-system does not descend into another mounted file system', { skip: isRoot ? false : 'needs root to mount a tmpfs' }, async (t) => {
  const dir = await tempDir();
  const mnt = join(dir.path, 'src', 'mounted');
  try {
    await mkdir(mnt, { recursive: true });
    await writeFile(join(dir.path, 'src', 'local.txt'), 'local');
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt]);
    } catch (err) {
      if (process.env.CI === 'true') throw err;
      t.skip(`cannot mount a tmpfs here: ${(err as Error).message}`);
      return;
    }
    await writeFile(join(mnt, 'other-fs.txt'), 'elsewhere');
    const repo = join(dir.path, 'repo');
    await runCli(['init', '--repo', repo]);
    assert.equal((await runCli(['backup', '--repo', repo, '-x', join(dir.path, 'src')])).code, 0);
    const one = (await runCli(['ls', '--repo', repo, 'latest'])).stdout;
    assert.doesNotMatch(one, /other-fs\.txt/);
    assert.match(one, /src\/local\.txt/);
    assert.equal((await runCli(['backup', '--repo', repo, join(dir.path, 'src')])).code, 0);
    assert.match((await runCli(['ls', '--repo', repo, 'latest'])).stdout, /src\/mounted\/other-fs\.txt/);
  } finally {
    try {
      execFileSync('umount', [mnt]);
    } catch {
      // not mounted
    }
    await dir.cleanup();
  }
});

test('check --read-data-subset reads a share of the packs', async () => {
  const t = await tempDir();
  try {
    const repo = join(t.path, 'repo');
    await runCli(['init', '--repo', repo]);
    for (let i = 0; i < 6; i++) {
      await mkdir(join(t.path, `s${i}`));
      await writeFile(join(t.path, `s${i}`, 'f.bin'), pseudoRandom(50_000, 100 + i));
      await runCli(['backup', '--repo', repo, join(t.path, `s${i}`)]);
    }
    const all = lastJson((await runCli(['check', '--repo', repo, '--read-data', '--json'])).stdout);
    const some = lastJson((await runCli(['check', '--repo', repo, '--read-data-subset', '30%', '--json'])).stdout);
    assert.equal(all.packs_read, all.packs);
    assert.ok((some.packs_read as number) >= 1 && (some.packs_read as number) < (all.packs as number), `read ${String(some.packs_read)} of ${String(all.packs)}`);
    const bad = await runCli(['check', '--repo', repo, '--read-data-subset', '150%']);
    assert.equal(bad.code, 2);
  } finally {
    await t.cleanup();
  }
});
