import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalStorage } from './local/local-storage.js';
import { MirrorStorage, MirrorWriteError, lagName } from './mirror.js';
import { FaultyStorage } from './testing/faulty.js';
import { runConformance } from './testing/conformance.js';

async function withTargets(n: number, fn: (dirs: string[], locals: LocalStorage[]) => Promise<void>): Promise<void> {
  const dirs = await Promise.all(Array.from({ length: n }, () => mkdtemp(join(tmpdir(), 'sp-mirror-'))));
  try {
    await fn(dirs, dirs.map((d) => new LocalStorage(d)));
  } finally {
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  }
}

test('a two-target mirror passes the conformance suite, and every object lands on both targets', () =>
  withTargets(2, async (_dirs, [a, b]) => {
    const m = new MirrorStorage([a!, b!]);
    assert.deepEqual((await runConformance(m)).filter((r) => r.status === 'fail'), []);
    await m.put('data/x', Buffer.from('pack'));
    assert.equal((await a!.get('data/x')).toString(), 'pack');
    assert.equal((await b!.get('data/x')).toString(), 'pack');
  }));

test('default min_targets (all): a target that is down fails the write with a message naming it', () =>
  withTargets(2, async (_dirs, [a, b]) => {
    const down = new FaultyStorage(b!, [{ op: 'any', effect: 'vanish' }]);
    const m = new MirrorStorage([a!, down]);
    await assert.rejects(m.put('data/x', Buffer.from('pack')), (err: unknown) => err instanceof MirrorWriteError && /on 1 of 2 targets, min_targets is 2: .*target vanished/.test(err.message));
  }));

test('min_targets 1: the write completes, the target is marked lagging on the others and skipped afterwards', () =>
  withTargets(2, async (_dirs, [a, b]) => {
    const flaky = new FaultyStorage(b!, [{ op: 'put', effect: 'error', times: 1 }]);
    const lags: string[] = [];
    const m = new MirrorStorage([a!, flaky], { minTargets: 1, onLag: (l) => lags.push(l.location) });
    await m.put('data/1', Buffer.from('one'));
    await m.put('data/2', Buffer.from('two')); // b is healthy again, but lagging for this session: not tried
    assert.deepEqual(lags, [b!.properties().location]);
    assert.deepEqual(m.lagging().map((l) => l.location), [b!.properties().location]);
    await assert.rejects(b!.stat('data/2'), (e) => b!.isNotFound(e));
    const record = JSON.parse((await a!.get(lagName(b!.properties().location))).toString()) as { location: string; reason: string };
    assert.equal(record.location, b!.properties().location);
    assert.match(record.reason, /connection reset/);
  }));

test('reads fall back to the next target on an error, a missing object, or bytes the caller rejects', () =>
  withTargets(2, async (_dirs, [a, b]) => {
    const first = new FaultyStorage(a!);
    const m = new MirrorStorage([first, b!]);
    await m.put('o', Buffer.from('good bytes'));
    first.inject({ op: 'get', effect: 'flip', times: 1 });
    const validate = (d: Buffer): void => assert.equal(d.toString(), 'good bytes');
    assert.equal((await m.get('o', { validate })).toString(), 'good bytes');
    first.inject({ op: 'get', effect: 'error', times: 1 });
    assert.equal((await m.get('o')).toString(), 'good bytes');
    await a!.remove('o');
    assert.equal((await m.get('o')).toString(), 'good bytes');
    await b!.remove('o');
    await assert.rejects(m.get('o'), (e) => m.isNotFound(e));
  }));

test('a listing is the union of the targets, and survives one target failing', () =>
  withTargets(2, async (_dirs, [a, b]) => {
    const second = new FaultyStorage(b!);
    await a!.put('snapshots/1', Buffer.from('1'));
    await b!.put('snapshots/2', Buffer.from('2'));
    await b!.put('snapshots/1', Buffer.from('1'));
    const m = new MirrorStorage([a!, second]);
    const names = async (): Promise<string[]> => {
      const out: string[] = [];
      for await (const o of m.list('snapshots/')) out.push(o.name);
      return out.sort();
    };
    assert.deepEqual(await names(), ['snapshots/1', 'snapshots/2']);
    second.inject({ op: 'list', effect: 'error' });
    assert.deepEqual(await names(), ['snapshots/1']);
  }));
