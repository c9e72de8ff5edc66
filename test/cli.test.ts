import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { lastJson, runCli, tempDir, writeTree } from './helpers.js';

async function withRepo(fn: (dir: string, repo: string) => Promise<void>): Promise<void> {
  const t = await tempDir();
  try {
    const repo = join(t.path, 'repo');
    const r = await runCli(['init', '--repo', repo]);
    assert.equal(r.code, 0, r.stderr);
    await fn(t.path, repo);
  } finally {
    await t.cleanup();
  }
}

/** One clear line on stderr, no stack trace. */
function assertCleanError(stderr: string, pattern: RegExp): void {
  assert.match(stderr, pattern);
  assert.doesNotMatch(stderr, /\n\s+at |internal error/, 'no stack trace');
  assert.equal(stderr.trim().split('\n').length, 1, `one line: ${stderr}`);
}

test('bad input gets a one-line error and the right exit code', async () => {
  await withRepo(async (dir, repo) => {
    const wrong = await runCli(['snapshots', '--repo', repo], { env: { SAFEPOINT_PASSWORD: 'nope' } });
    assert.equal(wrong.code, 12);
    assertCleanError(wrong.stderr, /wrong password/);

    const none = await runCli(['snapshots', '--repo', join(dir, 'missing')]);
    assert.equal(none.code, 10);
    assertCleanError(none.stderr, /not a safepoint repository/);

    const path = await runCli(['backup', '--repo', repo, join(dir, 'no-such-path')]);
    assert.equal(path.code, 1);
    assertCleanError(path.stderr, /does not exist/);

    await writeTree(dir, { 'src/a': 'a', 'target/x': 'x' });
    await runCli(['backup', '--repo', repo, join(dir, 'src')]);
    const nonEmpty = await runCli(['restore', 'latest', '--repo', repo, '--target', join(dir, 'target')]);
    assert.equal(nonEmpty.code, 1);
    assertCleanError(nonEmpty.stderr, /not empty.*--overwrite/);

    const again = await runCli(['init', '--repo', repo]);
    assertCleanError(again.stderr, /already exists/);

    const unknown = await runCli(['frobnicate']);
    assert.equal(unknown.code, 2);

    const noPw = await runCli(['snapshots', '--repo', repo], { env: { SAFEPOINT_PASSWORD: undefined } });
    assert.equal(noPw.code, 2);
    assertCleanError(noPw.stderr, /SAFEPOINT_PASSWORD/);

    const badSnap = await runCli(['restore', 'deadbeef', '--repo', repo, '--target', join(dir, 'o')]);
    assertCleanError(badSnap.stderr, /no snapshot with id deadbeef/);
  });
});

test('a malformed config names file, line and problem', async () => {
  const t = await tempDir();
  try {
    const cfg = join(t.path, 'safepoint.yaml');
    await writeFile(cfg, 'version: 1\nproject: x\nrepositories:\n  files:\n    targets: [ ./repo ]\n    compresion: auto\nsources: []\n');
    const r = await runCli(['snapshots', '--config', cfg]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /safepoint\.yaml:6:5: .*compresion.*unknown key.*compression/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  } finally {
    await t.cleanup();
  }
});

test('sources and retention from safepoint.yaml', async () => {
  const t = await tempDir();
  try {
    await writeTree(t.path, { 'app/config/app.env': 'A=1', 'app/app.log': 'log', 'pw': 'file-password\n' });
    const cfg = join(t.path, 'safepoint.yaml');
    await writeFile(
      cfg,
      [
        'version: 1',
        'project: demo',
        'repositories:',
        '  files: { targets: [ ./repo ], password_file: ./pw }',
        'sources:',
        '  - name: app',
        '    type: files',
        '    repository: files',
        '    paths: [ ./app ]',
        '    exclude: [ "*.log" ]',
        '    retention: { keep_last: 2 }',
      ].join('\n'),
    );
    const env = { SAFEPOINT_PASSWORD: undefined, SAFEPOINT_CONFIG: cfg };
    assert.equal((await runCli(['init', '--repo', 'files'], { env })).code, 0);
    for (let i = 0; i < 4; i++) {
      await writeFile(join(t.path, 'app/config/app.env'), `A=${i}`);
      const b = await runCli(['backup', '--source', 'app', '--json'], { env });
      assert.equal(b.code, 0, b.stderr);
    }
    const ls = await runCli(['ls', 'latest'], { env });
    assert.doesNotMatch(ls.stdout, /app\.log/);
    const f = await runCli(['forget', '--source', 'app', '--prune'], { env });
    assert.equal(f.code, 0, f.stderr);
    const snaps = JSON.parse((await runCli(['snapshots', '--json'], { env })).stdout) as { source: string }[];
    assert.equal(snaps.length, 2);
    assert.ok(snaps.every((s) => s.source === 'app'));
    assert.equal((await runCli(['check', '--read-data'], { env })).code, 0);
  } finally {
    await t.cleanup();
  }
});

test('key add, list, passwd and remove', async () => {
  await withRepo(async (dir, repo) => {
    const add = await runCli(['key', 'add', '--repo', repo], { env: { SAFEPOINT_NEW_PASSWORD: 'second' } });
    assert.equal(add.code, 0, add.stderr);
    const list = JSON.parse((await runCli(['key', 'list', '--repo', repo, '--json'])).stdout) as { id: string; current: boolean }[];
    assert.equal(list.length, 2);
    assert.equal((await runCli(['snapshots', '--repo', repo], { env: { SAFEPOINT_PASSWORD: 'second' } })).code, 0);
    const other = list.find((k) => !k.current)!;
    const self = list.find((k) => k.current)!;
    const removeSelf = await runCli(['key', 'remove', '--repo', repo, self.id.slice(0, 8)]);
    assert.notEqual(removeSelf.code, 0);
    assert.equal((await runCli(['key', 'remove', '--repo', repo, other.id.slice(0, 8)])).code, 0);
    const pw = await runCli(['key', 'passwd', '--repo', repo], { env: { SAFEPOINT_NEW_PASSWORD: 'third' } });
    assert.equal(pw.code, 0, pw.stderr);
    assert.equal((await runCli(['snapshots', '--repo', repo])).code, 12, 'old password no longer opens');
    assert.equal((await runCli(['snapshots', '--repo', repo], { env: { SAFEPOINT_PASSWORD: 'third' } })).code, 0);
    void dir;
  });
});

test('forget by policy and prune free space; diff and stats report changes', async () => {
  await withRepo(async (dir, repo) => {
    const src = join(dir, 'src');
    await mkdir(src);
    for (let i = 0; i < 3; i++) {
      await writeFile(join(src, `f${i}`), Buffer.alloc(200_000, i + 1));
      await runCli(['backup', '--repo', repo, src]);
    }
    const snaps = JSON.parse((await runCli(['snapshots', '--repo', repo, '--json'])).stdout) as { id: string }[];
    const diff = await runCli(['diff', '--repo', repo, snaps[0]!.id, snaps[2]!.id, '--json']);
    const changes = diff.stdout.trim().split('\n').map((l) => JSON.parse(l) as { message_type: string; path?: string; modifier?: string });
    assert.deepEqual(changes.filter((c) => c.message_type === 'change').map((c) => `${c.modifier} ${c.path}`), ['+ src/f1', '+ src/f2']);
    const dry = await runCli(['forget', '--repo', repo, '--keep-last', '1', '--dry-run']);
    assert.match(dry.stdout, /would remove 2 snapshots/);
    assert.equal(JSON.parse((await runCli(['snapshots', '--repo', repo, '--json'])).stdout).length, 3);
    await runCli(['forget', '--repo', repo, '--keep-last', '1']);
    await writeFile(join(src, 'f2'), 'now small');
    await runCli(['backup', '--repo', repo, src]);
    await runCli(['forget', '--repo', repo, '--keep-last', '1']);
    const prune = await runCli(['prune', '--repo', repo, '--json']);
    assert.equal(prune.code, 0, prune.stderr);
    const p = lastJson(prune.stdout);
    assert.ok((p.bytes_freed as number) > 0);
    assert.equal((await runCli(['check', '--repo', repo, '--read-data'])).code, 0);
    const stats = lastJson((await runCli(['stats', '--repo', repo, '--json'])).stdout);
    assert.equal(stats.snapshots, 1);
    const out = join(dir, 'out');
    assert.equal((await runCli(['restore', 'latest', '--repo', repo, '--target', out])).code, 0);
    assert.deepEqual((await readdir(join(out, 'src'))).sort(), ['f0', 'f1', 'f2']);
    assert.equal(await readFile(join(out, 'src/f2'), 'utf8'), 'now small');
  });
});

test('diff --live spots files changed on disk, even with size and mtime preserved', async () => {
  await withRepo(async (dir, repo) => {
    const src = join(dir, 'site');
    await writeTree(dir, { 'site/index.html': 'hello', 'site/app.js': 'good();' });
    await runCli(['backup', '--repo', repo, src]);
    const clean = await runCli(['diff', '--repo', repo, 'latest', '--live']);
    assert.equal(clean.code, 0, clean.stdout + clean.stderr);
    const { stat, utimes } = await import('node:fs/promises');
    const st = await stat(join(src, 'app.js'));
    await writeFile(join(src, 'app.js'), 'evil();');
    await utimes(join(src, 'app.js'), st.atime, st.mtime);
    await writeFile(join(src, 'shell.php'), '<?php');
    const r = await runCli(['diff', '--repo', repo, 'latest', '--live']);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /M {4}site\/app\.js/);
    assert.match(r.stdout, /\+ {4}site\/shell\.php/);
  });
});

test('--help lists the commands; --version prints the version', async () => {
  const h = await runCli(['--help']);
  assert.equal(h.code, 0);
  for (const c of ['init', 'backup', 'restore', 'snapshots', 'ls', 'diff', 'check', 'forget', 'prune', 'key', 'unlock', 'stats', 'repair', 'storage', 'sync', 'copy', 'point', 'hooks', 'deploy', 'rollback', 'releases', 'demo']) assert.match(h.stdout, new RegExp(`\\n  ${c}\\b`));
  const v = await runCli(['--version']);
  assert.match(v.stdout, /^\d+\.\d+\.\d+/);
});

test('storage validate runs the storage checks against a target', async () => {
  const t = await tempDir();
  try {
    const r = await runCli(['storage', 'validate', join(t.path, 'target'), '--json']);
    assert.equal(r.code, 0, r.stderr);
    const checks = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { message_type: string; status: string });
    assert.ok(checks.length >= 8);
    assert.ok(checks.every((c) => c.message_type === 'check' && c.status === 'pass'));
    const { readdir } = await import('node:fs/promises');
    assert.deepEqual((await readdir(join(t.path, 'target'))).filter((n) => !n.startsWith('validate-')), []);
  } finally {
    await t.cleanup();
  }
});

test('storage validate without a URL checks every target of the configured repository', async () => {
  const t = await tempDir();
  try {
    const config = join(t.path, 'safepoint.yaml');
    const { writeFile } = await import('node:fs/promises');
    await writeFile(config, `version: 1\nproject: v\nrepositories:\n  r:\n    targets: [ ${join(t.path, 'a')}, ${join(t.path, 'b')} ]\n`);
    const r = await runCli(['storage', 'validate', '--config', config, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const targets = new Set(r.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { target: string }).target));
    assert.deepEqual([...targets], [join(t.path, 'a'), join(t.path, 'b')]);
  } finally {
    await t.cleanup();
  }
});

test('the demo (npm start) recovers the project, reading the damaged target\'s packs from the second one, then rolls a failed deploy back', async () => {
  const r = await runCli(['demo', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { message_type: string; title?: string; detail?: string; ok?: boolean });
  const titles = events.filter((e) => e.message_type === 'demo_step').map((e) => e.title);
  assert.ok(titles.includes('damage the first backup target too (bit flips in its packs)'), titles.join('; '));
  assert.match(events.find((e) => e.title === 'verify every byte against the snapshot')?.detail ?? '', /no difference with snapshot .* whole .* all \d+ altered packs detected/);
  assert.match(events.find((e) => e.title === 'restore the database to the last good point and verify it')?.detail ?? '', /integrity_check ok, row counts ok/);
  assert.match(events.find((e) => e.title === 'the timeline of the releases')?.detail ?? '', /healthy, live at .* → .* failed \(health check failed: .*\).*live now: .*\(rolled back automatically\)/);
  assert.equal(events.at(-1)?.ok, true);
});

test('bin/safepoint runs the CLI through a link (as npm installs it), tunes glibc\'s allocator and V8\'s young generation, and lets the caller override the allocator', async () => {
  const { execFileSync } = await import('node:child_process');
  const { symlink, chmod } = await import('node:fs/promises');
  const { CLI } = await import('./helpers.js');
  const wrapper = join(CLI, '..', '..', '..', '..', 'bin', 'safepoint');
  const t = await tempDir();
  try {
    await symlink(wrapper, join(t.path, 'safepoint'));
    const version = execFileSync(join(t.path, 'safepoint'), ['--version'], { encoding: 'utf8', env: { ...process.env, NODE: process.execPath } });
    assert.match(version.trim(), /^\d+\.\d+\.\d+/);
    // a stand-in runtime that prints what it was given
    const fake = join(t.path, 'fake-node');
    await writeFile(fake, '#!/bin/sh\necho "$MALLOC_ARENA_MAX $MALLOC_MMAP_THRESHOLD_ $MALLOC_TRIM_THRESHOLD_ [$SAFEPOINT_MALLOC_SET] $*"\n');
    await chmod(fake, 0o755);
    const env = { ...process.env, NODE: fake, MALLOC_ARENA_MAX: undefined, MALLOC_MMAP_THRESHOLD_: undefined, MALLOC_TRIM_THRESHOLD_: undefined };
    assert.equal(execFileSync(join(t.path, 'safepoint'), ['backup', 'a b'], { encoding: 'utf8', env }).trim(), `2 131072 131072 [MALLOC_ARENA_MAX MALLOC_MMAP_THRESHOLD_ MALLOC_TRIM_THRESHOLD_] --max-semi-space-size=2 ${CLI} backup a b`);
    assert.match(execFileSync(join(t.path, 'safepoint'), [], { encoding: 'utf8', env: { ...env, MALLOC_ARENA_MAX: '8' } }), /^8 131072 131072 \[MALLOC_MMAP_THRESHOLD_ MALLOC_TRIM_THRESHOLD_\]/, 'what the caller set is theirs');
  } finally {
    await t.cleanup();
  }
});
