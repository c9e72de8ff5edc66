/**
 * Crash safety (format §7, §9, §10): real processes killed with SIGKILL at chosen instants of a backup, of a
 * prune and of an init. The instants are observed on disk (a pack's temporary file, a new pack, a new index file, an old pack
 * gone) or on stdout (the first status line), so that each kill lands in the phase it is meant to hit. After every
 * kill the repository must pass `check`, list only complete snapshots, accept new work (the dead process's lock is
 * stale: its pid no longer runs on this host) and restore byte-exact.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { cp, mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { hashTree, lastJson, listFiles, randomData, runCliTimed, spawnCli, tempDir, waitUntil, type CliProcess, type RunResult } from './helpers.js';

const MiB = 1024 * 1024;
const CMD_TIMEOUT = 60_000;

const root = await tempDir('sp-crash-');
after(() => root.cleanup());

const sp = (repo: string, ...args: string[]): Promise<RunResult> => runCliTimed(['--repo', repo, ...args], { timeoutMs: CMD_TIMEOUT });

function explain(r: RunResult): string {
  return `exit ${String(r.code)} signal ${String(r.signal)}\nstdout: ${r.stdout.slice(-3000)}\nstderr: ${r.stderr.slice(-3000)}`;
}

type Kind = 'data' | 'index' | 'snapshots' | 'locks';
const KINDS: readonly Kind[] = ['data', 'index', 'snapshots', 'locks'];
const isId = (name: string): boolean => /^[0-9a-f]{64}$/.test(name);

/** What a repository holds: object ids per folder (packs: every data/xx/ subfolder) and temporary files. */
interface Objects extends Record<Kind, Set<string>> {
  tmp: Map<string, number>;
}
async function objects(repo: string): Promise<Objects> {
  const o: Objects = { data: new Set(), index: new Set(), snapshots: new Set(), locks: new Set(), tmp: new Map() };
  for (const f of await listFiles(repo)) {
    const name = basename(f);
    const kind = KINDS.find((k) => f.startsWith(`${k}/`));
    if (name.startsWith('.tmp-')) o.tmp.set(f, await stat(join(repo, f)).then((s) => s.size, () => 0));
    else if (kind && isId(name)) o[kind].add(name);
  }
  return o;
}
const ids = async (repo: string, kind: Kind): Promise<Set<string>> => new Set((await listFiles(join(repo, kind))).map((f) => basename(f)).filter(isId));
const added = (before: Set<string>, now: Set<string>): number => [...now].filter((id) => !before.has(id)).length;
const kept = (before: Set<string>, now: Set<string>): string => `${[...before].filter((id) => now.has(id)).length}/${before.size}`;

/**
 * A source tree: a few large incompressible files and many small ones. `seed` changes the content of every small
 * file and of the large files that `rewrite` selects (default: all).
 */
async function writeSource(dir: string, seed: number, big: readonly number[], smallCount: number, rewrite = (_i: number): boolean => true): Promise<void> {
  await mkdir(join(dir, 'big'), { recursive: true });
  for (const [i, size] of big.entries()) if (rewrite(i)) await writeFile(join(dir, 'big', `file-${i}.bin`), randomData(size, seed * 100 + i));
  for (let i = 0; i < smallCount; i++) {
    const sub = join(dir, 'small', `d${i % 4}`);
    await mkdir(sub, { recursive: true });
    await writeFile(join(sub, `s${i}.txt`), `small file ${i} of generation ${seed}\n`.repeat(1 + ((i * 37) % 200)));
  }
}

/** Restores a snapshot with --verify into a fresh folder and compares every file's sha256 with `expected`. */
async function assertRestores(repo: string, snapshot: string, name: string, expected: Map<string, string>, label: string): Promise<void> {
  const target = join(root.path, `restore-${Math.random().toString(36).slice(2)}`);
  try {
    const r = await sp(repo, 'restore', snapshot, '--target', target, '--verify');
    assert.equal(r.code, 0, `${label}: restore ${snapshot} failed: ${explain(r)}`);
    assert.deepEqual(await hashTree(join(target, name)), expected, `${label}: restored bytes differ from the source`);
  } finally {
    await rm(target, { recursive: true, force: true });
  }
}

interface KillPoint {
  readonly name: string;
  /** Resolves when the instant has come, or when the process has exited before it. */
  readonly when: (p: CliProcess, repo: string, before: Objects) => Promise<unknown>;
}

const POLL_MS = 3;
const poll = (p: CliProcess, what: string, cond: () => Promise<boolean>): Promise<unknown> => waitUntil(async () => !p.running || (await cond()), what, CMD_TIMEOUT, POLL_MS);
/** A new object of `kind` exists. */
const appears =
  (kind: Kind) =>
  (p: CliProcess, repo: string, before: Objects): Promise<unknown> =>
    poll(p, `a new ${kind} object`, async () => added(before[kind], await ids(repo, kind)) > 0);
/** An object of `kind` that existed before is gone. */
const disappears =
  (kind: Kind) =>
  (p: CliProcess, repo: string, before: Objects): Promise<unknown> =>
    poll(p, `an old ${kind} object to be deleted`, async () => {
      const now = await ids(repo, kind);
      return [...before[kind]].some((id) => !now.has(id));
    });
/** A pack is being written: a new temporary file exists in data/. */
const packBeingWritten = (p: CliProcess, repo: string, before: Objects): Promise<unknown> =>
  poll(p, 'a pack being written', async () => (await listFiles(join(repo, 'data'))).some((f) => basename(f).startsWith('.tmp-') && !before.tmp.has(`data/${f}`)));
const statusLine = (p: CliProcess): Promise<unknown> => p.waitForLine((l) => l.includes('"message_type":"status"'), CMD_TIMEOUT).catch(() => undefined);

/** Sends SIGKILL at the kill point and reaps the process; `killed` is false when it had finished before. */
async function killAt(p: CliProcess, repo: string, point: KillPoint, before: Objects): Promise<{ result: RunResult; killed: boolean }> {
  await point.when(p, repo, before);
  p.kill('SIGKILL');
  const result = await p.exited;
  return { result, killed: result.signal === 'SIGKILL' };
}

// The scenarios use separate repositories and run two at a time (each mostly waits on its child processes).
describe('crash safety', { concurrency: 2 }, () => {
  it('SIGKILL during backup leaves a consistent repository; the next backup and restore work', { timeout: 180_000 }, async (t) => {
    const repo = join(root.path, 'backup-repo');
    const src = join(root.path, 'data');
    const init = await sp(repo, 'init');
    assert.equal(init.code, 0, explain(init));

    // ~58 MiB: four large pseudo-random files and 40 small files
    const big = [17 * MiB, 17 * MiB, 16 * MiB, 8 * MiB];
    const points: KillPoint[] = [
      { name: 'right after the first status line', when: statusLine },
      { name: 'while a pack is being written (its temporary file exists)', when: packBeingWritten },
      { name: 'right after the first pack became durable', when: appears('data') },
      { name: 'right after the index file was written (before the snapshot)', when: appears('index') },
    ];
    let snapshots = 0;
    let killedCount = 0;
    let staleLocks = 0;
    for (const [i, point] of points.entries()) {
      // the first round writes every file; later rounds rewrite two large files and every small one (34 MiB to
      // store). Should the backup finish before the kill point was seen, try again with new content (twice at most).
      let expected = new Map<string, string>();
      for (let attempt = 0; attempt < 3; attempt++) {
        await writeSource(src, (i + 1) * 10 + attempt, big, 40, (f) => (i === 0 && attempt === 0) || f % 2 === (i + attempt) % 2);
        expected = await hashTree(src);
        const before = await objects(repo);
        const p = spawnCli(['--repo', repo, '--json', 'backup', src], { timeoutMs: CMD_TIMEOUT });
        const { result, killed } = await killAt(p, repo, point, before);
        if (!killed) assert.equal(result.code, 0, `the backup was not killed (${point.name}) and did not succeed either: ${explain(result)}`);
        const now = await objects(repo);
        staleLocks += added(before.locks, now.locks);
        t.diagnostic(
          `backup killed ${point.name}: ${killed ? 'killed' : 'had already finished'}; it left ${added(before.locks, now.locks)} lock, ${added(before.data, now.data)} new packs, ` +
            `${added(before.index, now.index)} new index files, ${added(before.snapshots, now.snapshots)} new snapshots, ${now.tmp.size - before.tmp.size} new temporary files`,
        );
        if (killed) {
          killedCount++;
          break;
        }
        snapshots++;
      }

      // consistent, and only complete snapshots, although the dead process's lock is still in locks/
      const [check, list] = await Promise.all([sp(repo, 'check'), sp(repo, '--json', 'snapshots')]);
      assert.equal(check.code, 0, `check after a kill ${point.name}: ${explain(check)}`);
      assert.equal(list.code, 0, explain(list));
      const listed = JSON.parse(list.stdout) as { id: string; complete: boolean; paths: string[]; summary: { total_files_processed: number } }[];
      assert.ok(listed.length === snapshots || listed.length === snapshots + 1, `expected ${snapshots} or ${snapshots + 1} snapshots, got ${listed.length}`);
      for (const s of listed) {
        assert.equal(s.complete, true, `snapshot ${s.id} is not complete`);
        assert.deepEqual(s.paths, [src]);
        assert.equal(s.summary.total_files_processed, big.length + 40, `snapshot ${s.id} does not hold every file`);
      }

      // a new backup succeeds (the stale lock does not block it) and restores the source exactly
      const b = await sp(repo, '--json', 'backup', src);
      assert.equal(b.code, 0, `backup after a kill ${point.name}: ${explain(b)}`);
      snapshots = listed.length + 1;
      await assertRestores(repo, String(lastJson(b.stdout).snapshot_id), 'data', expected, `after a kill ${point.name}`);
    }
    assert.ok(killedCount >= points.length - 1, `only ${killedCount} of ${points.length} backups were still running when killed: the kill points were not exercised`);

    // prune (not blocked by the stale locks) removes the packs the killed backups left; check --read-data passes
    const pruned = await sp(repo, '--json', 'prune');
    assert.equal(pruned.code, 0, explain(pruned));
    t.diagnostic(`prune after the kills: ${JSON.stringify(lastJson(pruned.stdout))}`);
    const final = await sp(repo, 'check', '--read-data');
    assert.equal(final.code, 0, explain(final));
    assert.doesNotMatch(final.stderr, /not in any index/, 'prune left unreferenced packs behind');

    // the dead processes' locks are stale: `unlock` removes exactly those
    assert.equal((await ids(repo, 'locks')).size, staleLocks);
    const unlock = await sp(repo, '--json', 'unlock');
    assert.equal(unlock.code, 0, explain(unlock));
    assert.equal(lastJson(unlock.stdout).removed, staleLocks);
    assert.equal((await ids(repo, 'locks')).size, 0);

    await t.test('no temporary file of a killed writer survives prune', async () => {
      const left = [...(await objects(repo)).tmp];
      assert.deepEqual(left, [], `${left.length} temporary files (${left.reduce((n, [, size]) => n + size, 0)} bytes) are left in the repository after prune`);
    });
  });

  it('SIGKILL during prune keeps every remaining snapshot readable; the next prune completes', { timeout: 180_000 }, async (t) => {
    // a repository where prune has real work: unused packs to delete, partly used packs to repack
    const base = join(root.path, 'prune-base');
    const src = join(root.path, 'proj');
    const init = await sp(base, 'init');
    assert.equal(init.code, 0, explain(init));
    await writeSource(src, 11, [6 * MiB, 6 * MiB, 6 * MiB, 6 * MiB], 24);
    const b1 = await sp(base, 'backup', src);
    assert.equal(b1.code, 0, explain(b1));
    for (const [file, seed] of [['file-0.bin', 1200], ['file-1.bin', 1201]] as const) await writeFile(join(src, 'big', file), randomData(6 * MiB, seed));
    await writeFile(join(src, 'small', 'd0', 's0.txt'), 'changed in the second backup\n');
    const b2 = await sp(base, 'backup', src);
    assert.equal(b2.code, 0, explain(b2));
    // everything the second backup stored changes again: its packs become unused, the first backup's packs partly used
    for (const [file, seed] of [['file-0.bin', 1300], ['file-1.bin', 1301], ['file-2.bin', 1302], ['file-4.bin', 1304]] as const) await writeFile(join(src, 'big', file), randomData(6 * MiB, seed));
    await writeFile(join(src, 'small', 'd0', 's0.txt'), 'changed in the third backup\n');
    const b3 = await sp(base, '--json', 'backup', src);
    assert.equal(b3.code, 0, explain(b3));
    const keptSnapshot = String(lastJson(b3.stdout).snapshot_id);
    const expected = await hashTree(src);
    const forget = await sp(base, 'forget', '--keep-last', '1');
    assert.equal(forget.code, 0, explain(forget));
    const dry = await sp(base, '--json', 'prune', '--dry-run');
    assert.equal(dry.code, 0, explain(dry));
    const plan = lastJson(dry.stdout);
    t.diagnostic(`prune plan: ${JSON.stringify(plan)}`);
    assert.ok(Number(plan.packs_removed) > 0 && Number(plan.packs_repacked) > 0, 'the prune under test must both delete and repack packs');
    const before = await objects(base);

    const points: KillPoint[] = [
      { name: 'while a repacked pack is being written', when: packBeingWritten },
      { name: 'right after a repacked pack became durable (before the new index)', when: appears('data') },
      { name: 'right after the new index was written (old index files not yet removed)', when: appears('index') },
      { name: 'right after the first old pack was deleted', when: disappears('data') },
    ];
    let killedCount = 0;
    for (const [i, point] of points.entries()) {
      let repo = '';
      try {
        // should prune finish before the kill point was seen, try again on a fresh copy (twice at most)
        for (let attempt = 0; attempt < 3; attempt++) {
          if (repo) await rm(repo, { recursive: true, force: true });
          repo = join(root.path, `prune-${i}-${attempt}`);
          await cp(base, repo, { recursive: true });
          const p = spawnCli(['--repo', repo, '--json', 'prune'], { timeoutMs: CMD_TIMEOUT });
          const { result, killed } = await killAt(p, repo, point, before);
          if (!killed) assert.equal(result.code, 0, `prune was not killed (${point.name}) and did not succeed either: ${explain(result)}`);
          const now = await objects(repo);
          t.diagnostic(
            `prune killed ${point.name}: ${killed ? 'killed' : 'had already finished'}; old packs left ${kept(before.data, now.data)}, new packs ${added(before.data, now.data)}, ` +
              `old index files left ${kept(before.index, now.index)}, new index files ${added(before.index, now.index)}, locks ${now.locks.size}, temporary files ${now.tmp.size}`,
          );
          if (killed) {
            killedCount++;
            break;
          }
        }

        // every remaining snapshot is intact, with the dead prune's exclusive lock still in locks/
        const [check] = await Promise.all([sp(repo, 'check', '--read-data'), assertRestores(repo, keptSnapshot, 'proj', expected, `after a prune kill ${point.name}`)]);
        assert.equal(check.code, 0, `check --read-data after a kill ${point.name}: ${explain(check)}`);
        assert.match(check.stdout, /checked 1 snapshots/);

        // the next prune completes and leaves nothing unreferenced
        const again = await sp(repo, 'prune');
        assert.equal(again.code, 0, `prune after a kill ${point.name}: ${explain(again)}`);
        const check2 = await sp(repo, 'check');
        assert.equal(check2.code, 0, `check after the second prune (${point.name}): ${explain(check2)}`);
        assert.doesNotMatch(check2.stderr, /not in any index/, 'the second prune left unreferenced packs');
      } finally {
        await rm(repo, { recursive: true, force: true });
      }
    }
    assert.ok(killedCount >= points.length - 1, `only ${killedCount} of ${points.length} prunes were still running when killed: the kill points were not exercised`);
  });

  it('SIGKILL during init, between the key and the config: running init again gives a repository that always opens', { timeout: 120_000 }, async (t) => {
    // init writes keys/<id> and then config; a process killed in between leaves a key but no repository, and
    // every command then says "run safepoint init". Stop init (SIGSTOP) as soon as its key file exists; if the
    // config is not there yet, that is the state a crash leaves: kill it.
    let repo: string | undefined;
    for (let attempt = 0; attempt < 10 && repo === undefined; attempt++) {
      const dir = join(root.path, `init-${attempt}`);
      const p = spawnCli(['--repo', dir, 'init'], { timeoutMs: CMD_TIMEOUT });
      await waitUntil(async () => !p.running || (await listFiles(join(dir, 'keys'))).some(isId), 'the key file', CMD_TIMEOUT, 1);
      p.kill('SIGSTOP');
      const caught = p.running && !existsSync(join(dir, 'config'));
      p.kill('SIGKILL');
      p.kill('SIGCONT');
      await p.exited;
      if (caught) repo = dir;
    }
    if (repo === undefined) {
      t.skip('init always wrote its config before it could be stopped');
      return;
    }
    const open = await sp(repo, 'snapshots');
    assert.equal(open.code, 10, `a repository without config: ${explain(open)}`);
    assert.match(open.stderr, /run `safepoint init/);

    const again = await sp(repo, 'init');
    assert.equal(again.code, 0, `init again after a killed init: ${explain(again)}`);
    // a repository made with one password has one key: the killed init's key wraps another master key, and
    // opening must never depend on which of the two the storage lists first
    const keys = await sp(repo, '--json', 'key', 'list');
    assert.equal(keys.code, 0, `the re-initialised repository does not open: ${explain(keys)}`);
    assert.equal((JSON.parse(keys.stdout) as unknown[]).length, 1, `the killed init's key is still there: ${keys.stdout}`);
    for (let i = 0; i < 3; i++) {
      const r = await sp(repo, 'snapshots');
      assert.equal(r.code, 0, `the re-initialised repository does not open: ${explain(r)}`);
    }
  });
});
