import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { PostgresSource } from '../../config/schema-sources.js';
import { fastRepository } from '../../repo/testing.js';
import { Secret } from '../../util/secret.js';
import { PREFETCH_DIR, planPrefetch, prefetchingRestoreCommand, pushWal, startPrefetch, walEntries } from './wal-archive.js';

const run = promisify(execFile);
const MB16 = 16 * 1024 * 1024;

function entry(file: string, mtime: string, size = MB16): Parameters<typeof planPrefetch>[0][number] {
  return { id: file, time: mtime, meta: { kind: 'postgres', mode: 'wal', file, size, sha256: '', pushed_at: mtime, mtime, system_identifier: null } } as unknown as Parameters<typeof planPrefetch>[0][number];
}

test('the WAL fetched ahead: from the base backup\'s segment, in segment order, up to the target', () => {
  const archive = [
    entry('000000010000000000000002', '2026-01-01T00:00:01Z'),
    entry('000000010000000000000004', '2026-01-01T00:00:04Z'),
    entry('000000010000000000000003', '2026-01-01T00:00:03Z'),
    entry('00000002.history', '2026-01-01T00:00:05Z', 42),
    entry('000000010000000000000005', '2026-01-01T00:00:05Z'),
    entry('000000010000000000000006', '2026-01-01T00:00:06Z'),
  ];
  const names = (p: ReturnType<typeof planPrefetch>): string[] => p.files.map((e) => e.meta.file);
  assert.deepEqual(names(planPrefetch(archive, '000000010000000000000003', null)), ['000000010000000000000003', '000000010000000000000004', '000000010000000000000005', '000000010000000000000006']);
  assert.deepEqual(names(planPrefetch(archive, '000000010000000000000003', { segment: '000000010000000000000004' })), ['000000010000000000000003', '000000010000000000000004']);
  // a time target: through the first segment last written after it (it holds the record that ends the recovery)
  const byTime = planPrefetch(archive, '000000010000000000000003', { time: new Date('2026-01-01T00:00:04.500Z') });
  assert.deepEqual(names(byTime), ['000000010000000000000003', '000000010000000000000004', '000000010000000000000005']);
  assert.equal(byTime.bytes, 3 * MB16);
});

/** Runs a restore_command the way PostgreSQL does (sh -c in the data directory, %f and %p replaced). */
async function restoreCommand(dataDir: string, command: string, file: string): Promise<{ code: number; ms: number }> {
  const line = command.replaceAll('%f', file).replaceAll('%p', 'pg_wal/RECOVERYXLOG');
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', line], { cwd: dataDir, stdio: 'ignore' });
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code: code ?? -1, ms: Date.now() - t0 }));
  });
}

test('restore_command: moves what was fetched, waits for what is planned, answers "not archived" while the restore runs, asks archive-get otherwise', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'safepoint-restorecmd-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const ahead = join(dir, PREFETCH_DIR);
  await mkdir(ahead, { recursive: true });
  const asked = join(dir, 'asked');
  // the fallback records what it was asked and finds nothing (exit 1), like archive-get on a missing file
  const command = prefetchingRestoreCommand(`echo %f >> ${asked}; exit 1`);
  const listing = async (pid: number, fetching: boolean): Promise<void> => {
    await writeFile(join(ahead, '.pid'), `${pid}\n`);
    await writeFile(join(ahead, '.archived'), '000000010000000000000003\n000000010000000000000004\n000000010000000000000005\n00000001.history\n');
    await writeFile(join(ahead, '.planned'), '000000010000000000000003\n000000010000000000000004\n');
    if (fetching) await writeFile(join(ahead, '.fetching'), '');
    else await rm(join(ahead, '.fetching'), { force: true });
  };
  const askedOf = async (): Promise<string[]> => (await readFile(asked, 'utf8').catch(() => '')).split('\n').filter(Boolean);

  await listing(process.pid, true);
  // fetched: moved into place
  await writeFile(join(ahead, '000000010000000000000003'), 'segment 3');
  assert.equal((await restoreCommand(dir, command, '000000010000000000000003')).code, 0);
  assert.equal(await readFile(join(dir, 'pg_wal/RECOVERYXLOG'), 'utf8'), 'segment 3');
  assert.deepEqual(await readdir(ahead).then((l) => l.filter((n) => !n.startsWith('.'))), []);

  // planned, still coming: waits until it is there
  setTimeout(() => void writeFile(join(ahead, '000000010000000000000004'), 'segment 4'), 300);
  const waited = await restoreCommand(dir, command, '000000010000000000000004');
  assert.equal(waited.code, 0);
  assert.ok(waited.ms >= 250, `returned after ${waited.ms} ms, before the file arrived`);
  assert.equal(await readFile(join(dir, 'pg_wal/RECOVERYXLOG'), 'utf8'), 'segment 4');
  // asked again once moved (recovery may re-read a segment): no waiting for the fetch, archive-get answers
  const again = await restoreCommand(dir, command, '000000010000000000000004');
  assert.equal(again.code, 1);
  assert.ok(again.ms < 1000, `waited ${again.ms} ms for a file already taken`);
  assert.deepEqual(await askedOf(), ['000000010000000000000004']);
  await rm(asked);

  // not in the archive the restore listed (a timeline that does not exist): "not there" at once, no process started
  assert.equal((await restoreCommand(dir, command, '00000002.history')).code, 1);
  assert.deepEqual(await askedOf(), []);
  // archived but beyond what is fetched ahead: archive-get
  assert.equal((await restoreCommand(dir, command, '000000010000000000000005')).code, 1);
  assert.deepEqual(await askedOf(), ['000000010000000000000005']);

  // planned but the fetch ended without it (it failed): no waiting, archive-get answers
  await listing(process.pid, false);
  await rm(join(ahead, '000000010000000000000004'), { force: true });
  const gaveUp = await restoreCommand(dir, command, '000000010000000000000004');
  assert.equal(gaveUp.code, 1);
  assert.deepEqual(await askedOf(), ['000000010000000000000005', '000000010000000000000004']);

  // the restoring process is gone: its listing no longer speaks for the archive (new files may have arrived since)
  const { stdout } = await run('sh', ['-c', 'echo $$']);
  await listing(Number(stdout.trim()), true);
  assert.equal((await restoreCommand(dir, command, '00000002.history')).code, 1);
  assert.deepEqual((await askedOf()).at(-1), '00000002.history');
});

test('fetching ahead from a repository: the listing first, then each file whole (hash-checked), the marker removed at the end', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'safepoint-prefetch-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const repo = await fastRepository(join(dir, 'repo'), new Secret('pw'));
  t.after(() => repo.close());
  const source = { name: 'db', type: 'postgres', connection: { host: '127.0.0.1', port: 5432, database: 'postgres' } } as unknown as PostgresSource;
  const segments = ['000000010000000000000002', '000000010000000000000003', '000000010000000000000004'];
  const content = new Map<string, Buffer>();
  await mkdir(join(dir, 'pg_wal'));
  for (const [i, name] of segments.entries()) {
    const data = Buffer.alloc(3 * 1024 * 1024 + i, i + 1);
    data.write(`segment ${name}`, 1000);
    content.set(name, data);
    await writeFile(join(dir, 'pg_wal', name), data);
    await pushWal(repo, source, join(dir, 'pg_wal', name));
  }
  await writeFile(join(dir, 'pg_wal', '00000002.history'), '1\t0/3000000\tno recovery target specified\n');
  await pushWal(repo, source, join(dir, 'pg_wal', '00000002.history'));

  const archive = await walEntries(repo, source.name);
  const plan = planPrefetch(archive, '000000010000000000000003', null);
  const into = join(dir, 'copy', PREFETCH_DIR);
  await mkdir(join(dir, 'copy', 'pg_wal'), { recursive: true });
  const p = await startPrefetch(repo, archive, plan, into, { owner: null, concurrency: 2 });
  // written before startPrefetch returns: a server started at once finds them
  assert.equal(await readFile(join(into, '.planned'), 'utf8'), '000000010000000000000003\n000000010000000000000004\n');
  assert.deepEqual((await readFile(join(into, '.archived'), 'utf8')).split('\n').filter(Boolean).sort(), [...segments, '00000002.history'].sort());
  assert.equal((await readFile(join(into, '.pid'), 'utf8')).trim(), String(process.pid));
  const got = await p.done;
  assert.equal(got.files, 2);
  assert.equal(got.bytes, content.get(segments[1]!)!.length + content.get(segments[2]!)!.length);
  for (const name of segments.slice(1)) assert.ok((await readFile(join(into, name))).equals(content.get(name)!), name);
  const left = await readdir(into);
  assert.ok(!left.includes('.fetching'), 'the fetching marker is removed when the fetch ends');
  assert.ok(!left.some((n) => n.endsWith('.part')), 'no partial file is left');
  assert.deepEqual(got.failed, []);

  // a file that is not what was recorded at push is not handed to recovery (archive-get will say why); its chunks
  // are checked against their ids on the way, and its length closes it
  const tampered = plan.files.map((e, i) => (i === 0 ? { ...e, meta: { ...e.meta, size: e.meta.size + 1 } } : e));
  const into2 = join(dir, 'copy2', PREFETCH_DIR);
  await mkdir(join(dir, 'copy2', 'pg_wal'), { recursive: true });
  const bad = await (await startPrefetch(repo, archive, { files: tampered, bytes: plan.bytes }, into2, { owner: null, concurrency: 2 })).done;
  assert.equal(bad.files, 1);
  assert.match(bad.failed.join('\n'), /000000010000000000000003: is not the \d+ bytes recorded/);
  const left2 = await readdir(into2);
  assert.ok(!left2.includes('000000010000000000000003') && !left2.some((n) => n.endsWith('.part')), left2.join(', '));
});
