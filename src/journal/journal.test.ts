import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fastRepository } from '../repo/testing.js';
import { Secret } from '../util/secret.js';
import { appendJournal, readJournal, verifyJournal, type JournalRecord } from './journal.js';

const record = (operation: string): JournalRecord => ({ operation, source: 'db', started: new Date().toISOString(), result: 'ok', inputs: {}, figures: { n: 1 } });

test('journal: entries chain by hash; a removed or edited entry breaks the chain, a concurrent append is only a fork', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sp-journal-'));
  process.env.SAFEPOINT_STATE_DIR = join(dir, 'state');
  try {
    const repo = await fastRepository(dir, new Secret('pw'));
    const ids: string[] = [];
    for (const op of ['check', 'drill', 'drill', 'rollback-data']) {
      const r = await appendJournal(repo, record(op));
      assert.ok('id' in r);
      ids.push(r.id);
    }
    // an append reads only the entries this host has not seen (one here: the last one written)
    const load = repo.loadJson.bind(repo);
    let loads = 0;
    repo.loadJson = (async (kind: never, id: string) => {
      loads++;
      return load(kind, id);
    }) as typeof repo.loadJson;
    const fifth = await appendJournal(repo, record('backup'));
    assert.ok('id' in fifth);
    assert.equal(loads, 1);
    repo.loadJson = load;
    await repo.removeJson('journal', fifth.id);
    const { entries } = await readJournal(repo);
    assert.deepEqual(entries.map((e) => [e.seq, e.operation]), [[1, 'check'], [2, 'drill'], [3, 'drill'], [4, 'rollback-data']]);
    assert.deepEqual(entries.map((e) => e.prev), [null, ids[0], ids[1], ids[2]]);
    assert.deepEqual(verifyJournal(entries), { ok: true, problems: [], notes: [] });

    // two runs append at once: both follow entry 4
    const known = (await readJournal(repo)).entries;
    await appendJournal(repo, record('drill'), known);
    await appendJournal(repo, record('check'), known);
    const forked = await readJournal(repo);
    const v = verifyJournal(forked.entries, forked.unreadable);
    assert.equal(v.ok, true);
    assert.match(v.notes[0]!, /^2 entries follow \w+ \(written at the same time by different runs/);

    // an entry removed from the middle
    await repo.removeJson('journal', ids[1]!);
    const cut = await readJournal(repo);
    const broken = verifyJournal(cut.entries, cut.unreadable);
    assert.equal(broken.ok, false);
    assert.match(broken.problems[0]!, /follows \w+, which is missing: an entry was removed or edited/);

    // an entry whose bytes were changed no longer matches its name: unreadable, and reported
    const file = join(dir, 'journal', ids[2]!);
    await writeFile(file, Buffer.from('tampered'));
    const edited = await readJournal(repo);
    assert.equal(edited.unreadable.length, 1);
    assert.equal(verifyJournal(edited.entries, edited.unreadable).ok, false);
    assert.ok((await readdir(join(dir, 'journal'))).length >= 5);
    await repo.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
