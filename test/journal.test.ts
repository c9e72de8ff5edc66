/**
 * The journal of every operation and the structured log (issue 7): backups, restores, forget and prune are recorded
 * with their figures and the run's operation id; a failure is recorded with its cause; dry runs are not; the log
 * file follows the same run; --verify finds a removed entry.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli, tempDir, writeTree } from './helpers.js';

interface Entry { id: string; seq: number; operation: string; source: string | null; result: string; error?: string; op_id: string; inputs: Record<string, unknown>; figures: Record<string, unknown> }

test('every operation is journaled with its figures and op id, and logged as JSON lines; --verify finds a removed entry', async () => {
  const t = await tempDir();
  try {
    await writeTree(join(t.path, 'app'), { 'a.txt': 'alpha\n', 'b/c.txt': 'gamma\n' });
    const config = join(t.path, 'safepoint.yaml');
    await writeFile(config, `version: 1\nproject: shop\nrepositories:\n  main: { targets: [ ${join(t.path, 'repo')} ] }\nsources:\n  - { name: app, type: files, repository: main, paths: [ ${join(t.path, 'app')} ] }\n`);
    const log = join(t.path, 'logs', 'safepoint.jsonl');
    const cli = (...args: string[]): ReturnType<typeof runCli> => runCli([...args, '--config', config], { env: { SAFEPOINT_LOG_FILE: log, SAFEPOINT_STATE_DIR: join(t.path, 'state') } });
    assert.equal((await cli('init', '--repo', 'main')).code, 0);
    const b1 = await cli('backup', '--source', 'app', '--json');
    assert.equal(b1.code, 0);
    const snap = (JSON.parse(b1.stdout.trim().split('\n').at(-1)!) as { snapshot_id: string }).snapshot_id;
    await writeFile(join(t.path, 'app', 'a.txt'), 'alpha 2\n');
    assert.equal((await cli('backup', '--source', 'app')).code, 0);
    assert.equal((await cli('restore', snap, '--target', join(t.path, 'out'))).code, 0);
    assert.equal((await cli('forget', '--source', 'app', '--keep-last', '1', '--dry-run')).code, 0);
    assert.equal((await cli('forget', '--source', 'app', '--keep-last', '1')).code, 0);
    assert.equal((await cli('prune')).code, 0);
    const failed = await cli('restore', snap, '--target', join(t.path, 'out'));
    assert.equal(failed.code, 1, 'the target is not empty');

    const j = await cli('journal', '--json', '--verify');
    assert.equal(j.code, 0, j.stderr);
    const entries = j.stdout.split('\n').filter((l) => l.includes('"journal_entry"')).map((l) => JSON.parse(l) as Entry);
    assert.deepEqual(entries.map((e) => [e.seq, e.operation, e.result]), [[1, 'backup', 'ok'], [2, 'backup', 'ok'], [3, 'restore', 'ok'], [4, 'forget', 'ok'], [5, 'prune', 'ok'], [6, 'restore', 'failed']]);
    assert.equal(entries[0]!.figures.snapshot_id, snap);
    assert.equal(entries[0]!.source, 'app');
    assert.equal(typeof entries[0]!.figures.data_added, 'number');
    assert.equal(entries[2]!.figures.files_restored, 2);
    assert.deepEqual(entries[2]!.inputs.args, [snap]);
    assert.match(entries[5]!.error ?? '', /^no snapshot with id \w+/, 'the cause: the snapshot was forgotten');
    assert.equal(new Set(entries.map((e) => e.op_id)).size, 6, 'one operation id per run');

    // the log: JSON lines, the run's start and end with the journal entry's op id
    const lines = (await readFile(log, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { op_id: string; msg: string; command?: string; result?: string; level: number });
    const first = lines.filter((l) => l.op_id === entries[0]!.op_id);
    assert.equal(first[0]!.msg, 'start backup');
    assert.equal(first.at(-1)!.msg, 'end ok');
    assert.ok(first.some((l) => /^snapshot \w+ saved$/.test(l.msg)));
    assert.equal(lines.filter((l) => l.op_id === entries[5]!.op_id).at(-1)!.result, 'failed');

    // an entry removed from the middle is found
    const dir = join(t.path, 'repo', 'journal');
    assert.equal((await readdir(dir)).length, 6);
    await rm(join(dir, entries[2]!.id));
    const v = await cli('journal', '--verify');
    assert.equal(v.code, 1);
    assert.match(v.stderr, /^error: entry \w+ \(#4, .*\) follows \w+, which is missing: an entry was removed or edited$/m);
    assert.match(v.stderr, /^error: the journal is not whole: 1 problems \(see above\)$/m);

    // the newest entry removed: the chain cannot show it, the anchor this host keeps does
    await rm(join(dir, entries[5]!.id));
    const tail = await cli('journal', '--verify');
    assert.equal(tail.code, 1);
    assert.match(tail.stderr, /^error: entry #6 \(\w+, .*\), written or seen from this host, is missing: entries were removed \(the repository's journal now ends at #5\)$/m);
    const anchors = JSON.parse(await readFile(join(t.path, 'state', 'journal-anchors.json'), 'utf8')) as Record<string, { seq: number }>;
    assert.deepEqual(Object.values(anchors).map((a) => a.seq), [6]);
  } finally {
    await t.cleanup();
  }
});

test('the journal and the log never hold a credential typed into an argument; a log that cannot be written costs the log, not the operation', async () => {
  const t = await tempDir();
  try {
    await writeTree(join(t.path, 'app'), { 'a.txt': 'alpha\n' });
    const repo = join(t.path, 'repo');
    const log = join(t.path, 'log.jsonl');
    const env = { SAFEPOINT_LOG_FILE: log, SAFEPOINT_STATE_DIR: join(t.path, 'state'), SAFEPOINT_RETRIES: '0' };
    assert.equal((await runCli(['init', '--repo', repo])).code, 0);
    const copy = await runCli(['copy', '--from', 's3:http://AKIAEXAMPLE:TopSecretKey@127.0.0.1:1/bucket', '--to', repo], { env });
    assert.notEqual(copy.code, 0);
    const j = await runCli(['journal', '--repo', repo, '--json'], { env });
    assert.doesNotMatch(j.stdout + (await readFile(log, 'utf8')), /TopSecretKey|AKIAEXAMPLE/);
    assert.match(j.stdout, /"operation":"copy".*"result":"failed"/);
    const full = await runCli(['backup', '--repo', repo, join(t.path, 'app')], { env: { ...env, SAFEPOINT_LOG_FILE: '/dev/full' } });
    assert.equal(full.code, 0, full.stderr);
    assert.match(full.stderr, /^warning: log file \/dev\/full: .*logging stopped for this run$/m);
  } finally {
    await t.cleanup();
  }
});

test('an operation stopped by SIGTERM says so in one line, exits 143 and is journaled as interrupted', async (t) => {
  const { gitProject } = await import('./git-project.js');
  const { spawnCli } = await import('./helpers.js');
  const p = await gitProject(t, { deploy: ['scripts: [ "echo started > ../../script-started; sleep 20" ]', 'script_timeout: 60s'] });
  const deploy = spawnCli(['deploy', '--no-point', '--config', p.config], { env: { SAFEPOINT_PASSWORD: undefined }, cwd: p.root, timeoutMs: 60_000 });
  const started = join(p.root, 'script-started');
  for (let i = 0; i < 300; i++) {
    if (await readFile(started).then(() => true, () => false)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  deploy.kill('SIGTERM');
  const end = await deploy.exited;
  assert.equal(end.code, 143, end.stderr);
  assert.match(end.stderr, /^error: interrupted by SIGTERM$/m);
  const j = await p.cli('journal', '--repo', 'files', '--json');
  const entry = j.stdout.split('\n').filter((l) => l.includes('"journal_entry"')).map((l) => JSON.parse(l) as { operation: string; result: string; error?: string }).find((e) => e.operation === 'deploy');
  assert.deepEqual([entry?.result, entry?.error], ['failed', 'interrupted by SIGTERM']);
});

test('operations log to safepoint.jsonl in the state folder by default, reads do not, and --log-file none turns it off', async () => {
  const t = await tempDir();
  try {
    await writeTree(join(t.path, 'app'), { 'a.txt': 'alpha\n' });
    const repo = join(t.path, 'repo');
    const state = join(t.path, 'state');
    const env = { SAFEPOINT_STATE_DIR: state, SAFEPOINT_LOG_FILE: undefined };
    assert.equal((await runCli(['init', '--repo', repo], { env })).code, 0);
    assert.equal((await runCli(['backup', '--repo', repo, join(t.path, 'app')], { env })).code, 0);
    assert.equal((await runCli(['snapshots', '--repo', repo], { env })).code, 0);
    assert.equal((await runCli(['check', '--repo', repo], { env })).code, 0);
    const read = async (): Promise<{ op_id: string; msg: string; command?: string }[]> => (await readFile(join(state, 'safepoint.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { op_id: string; msg: string; command?: string });
    const lines = await read();
    assert.deepEqual(lines.filter((l) => l.msg.startsWith('start ')).map((l) => l.command), ['backup', 'check'], 'the operations, not the listing');
    assert.equal(new Set(lines.map((l) => l.op_id)).size, 2);
    assert.equal((await runCli(['backup', '--repo', repo, '--log-file', 'none', join(t.path, 'app')], { env })).code, 0);
    assert.equal((await read()).length, lines.length, 'no line for a run with --log-file none');
  } finally {
    await t.cleanup();
  }
});

test('a long command shows its progress with an ETA on a terminal', async (t) => {
  const { execFileSync } = await import('node:child_process');
  try {
    execFileSync('script', ['--version'], { stdio: 'ignore' });
  } catch {
    if (process.env.CI === 'true') throw new Error('script (util-linux) is needed to give the CLI a terminal');
    t.skip('script (util-linux) is not installed: no terminal to test on');
    return;
  }
  const d = await tempDir();
  try {
    const files: Record<string, string> = {};
    for (let i = 0; i < 40; i++) files[`f${i}.bin`] = `${i}`.repeat(20_000 + i);
    await writeTree(join(d.path, 'app'), files);
    const repo = join(d.path, 'repo');
    assert.equal((await runCli(['init', '--repo', repo])).code, 0);
    assert.equal((await runCli(['backup', '--repo', repo, join(d.path, 'app')])).code, 0);
    const { CLI } = await import('./helpers.js');
    const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
    // script(1) runs the command on a pseudo-terminal: stderr is a TTY, as for a person at a shell
    const out = execFileSync('script', ['-qec', [process.execPath, CLI, 'check', '--read-data', '--repo', repo].map(quote).join(' '), '/dev/null'], {
      env: { ...process.env, SAFEPOINT_PASSWORD: 'test-password', SAFEPOINT_CONFIG: '', SAFEPOINT_STATE_DIR: join(d.path, 'state') },
      encoding: 'utf8',
    });
    assert.match(out, /\[[\d.:s]+\] {2}\S+: reading packs: \d+\/\d+ {2}[\d.]+% {2}ETA /);
    assert.match(out, /no errors were found/);

    // a restore procedure: the step under way, and once a drill has measured the source, an ETA from that time
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(join(d.path, 'shop.db'));
    db.exec("create table orders (id integer primary key, total int); insert into orders (total) values (10), (20);");
    db.close();
    const config = join(d.path, 'safepoint.yaml');
    await writeFile(config, `version: 1\nproject: shop\nrepositories:\n  main: { targets: [ ${repo} ] }\nsources:\n  - { name: shop, type: sqlite, repository: main, path: ${join(d.path, 'shop.db')}, rto: 1h }\n`);
    const env = { SAFEPOINT_STATE_DIR: join(d.path, 'state') };
    assert.equal((await runCli(['backup', '--source', 'shop', '--config', config], { env })).code, 0);
    assert.equal((await runCli(['drill', '--source', 'shop', '--config', config], { env })).code, 0);
    const restore = execFileSync('script', ['-qec', [process.execPath, CLI, 'restore', '--source', 'shop', '--into', join(d.path, 'copy.db'), '--config', config].map(quote).join(' '), '/dev/null'], {
      env: { ...process.env, SAFEPOINT_PASSWORD: 'test-password', SAFEPOINT_CONFIG: '', ...env },
      encoding: 'utf8',
    });
    assert.match(restore, /\[[\d.:s]+\] {2}step 3\/5: restore snapshot \w+ of [\dT:.Z-]+ {2}ETA [\d.:s]+/);
    assert.match(restore, /restored and verified in/);
  } finally {
    await d.cleanup();
  }
});
