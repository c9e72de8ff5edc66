import { randomBytes } from 'node:crypto';
import type { Storage } from '../storage.js';
import { errorMessage } from '../../util/errors.js';

/** One check of the storage contract (storage.ts) and how it went. */
export interface CheckResult {
  readonly name: string;
  readonly status: 'pass' | 'fail';
  readonly detail?: string;
  readonly seconds: number;
}

/**
 * Runs the storage contract against a live backend, under `prefix` (a folder of its own, removed at the end): the
 * same checks for every backend in the test suite and for a user's target in `safepoint storage validate URL`.
 * Never throws for a failed check: each result says what went wrong.
 */
export async function runConformance(storage: Storage, prefix = `validate-${randomBytes(6).toString('hex')}`): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const check = async (name: string, fn: () => Promise<void>): Promise<void> => {
    const t0 = performance.now();
    try {
      await fn();
      results.push({ name, status: 'pass', seconds: (performance.now() - t0) / 1000 });
    } catch (err) {
      results.push({ name, status: 'fail', detail: errorMessage(err), seconds: (performance.now() - t0) / 1000 });
    }
  };
  const expect = (ok: boolean, what: string): void => {
    if (!ok) throw new Error(what);
  };
  const name = (n: string): string => `${prefix}/${n}`;
  const small = randomBytes(1000);
  const big = randomBytes(5 * 1024 * 1024 + 17);

  await check('put then get returns the same bytes (read after write)', async () => {
    await storage.put(name('a'), small);
    expect((await storage.get(name('a'))).equals(small), 'get returned other bytes than put');
  });
  await check('put of a 5 MiB object in parts', async () => {
    await storage.put(name('big'), [big.subarray(0, 1000), big.subarray(1000)]);
    expect((await storage.get(name('big'))).equals(big), 'the parts were not stored in order');
  });
  await check('ranged get (start, middle, end, past the end)', async () => {
    expect((await storage.get(name('big'), { offset: 0, length: 10 })).equals(big.subarray(0, 10)), 'range at the start');
    expect((await storage.get(name('big'), { offset: 4_000_000, length: 100_000 })).equals(big.subarray(4_000_000, 4_100_000)), 'range in the middle');
    expect((await storage.get(name('big'), { offset: big.length - 5 })).equals(big.subarray(big.length - 5)), 'range to the end');
    const past = await storage.get(name('big'), { offset: big.length - 5, length: 50 });
    expect(past.length <= 5 && past.equals(big.subarray(big.length - past.length)), 'a range past the end returned more than the object holds');
  });
  await check('stat gives the size', async () => {
    expect((await storage.stat(name('big'))).size === big.length, 'wrong size');
  });
  await check('put does not replace an existing object unless asked', async () => {
    let refused = false;
    try {
      await storage.put(name('a'), randomBytes(10));
    } catch {
      refused = true;
    }
    expect(refused, 'a second put of the same name succeeded without overwrite');
    expect((await storage.get(name('a'))).equals(small), 'the object changed');
    const other = randomBytes(20);
    await storage.put(name('a'), other, { overwrite: true });
    expect((await storage.get(name('a'))).equals(other), 'overwrite did not replace the object');
  });
  await check('missing objects are reported as not found', async () => {
    for (const op of [() => storage.get(name('missing')), () => storage.stat(name('missing'))]) {
      let err: unknown;
      try {
        await op();
      } catch (e) {
        err = e;
      }
      expect(err !== undefined, 'reading a missing object succeeded');
      expect(storage.isNotFound(err), `the error for a missing object is not recognised as "not found": ${errorMessage(err)}`);
    }
  });
  await check('list by prefix, in sub-folders too', async () => {
    await storage.put(name('sub/x'), small);
    await storage.put(name('sub/y'), small);
    const names: string[] = [];
    for await (const o of storage.list(`${prefix}/sub/`)) names.push(o.name);
    expect(names.sort().join() === [name('sub/x'), name('sub/y')].join(), `list returned ${names.join(', ') || 'nothing'}`);
    const all: string[] = [];
    for await (const o of storage.list(`${prefix}/`)) all.push(o.name);
    expect(all.length === 4, `listing the whole prefix found ${all.length} objects, expected 4`);
  });
  await check('remove, also of an absent object', async () => {
    await storage.remove(name('sub/x'));
    await storage.remove(name('sub/x'));
    let gone = false;
    try {
      await storage.stat(name('sub/x'));
    } catch (err) {
      gone = storage.isNotFound(err);
    }
    expect(gone, 'the object is still there after remove');
  });
  const openWriter = storage.openWriter?.bind(storage);
  if (openWriter) {
    await check('a writer streams an object in pieces and names it on commit (create-only); an aborted one leaves nothing', async () => {
      const w = await openWriter();
      await w.write([big.subarray(0, 100)]);
      await w.write([big.subarray(100, 3_000_000), big.subarray(3_000_000)]);
      let before: unknown;
      await storage.stat(name('streamed')).catch((err: unknown) => (before = err));
      expect(before !== undefined && storage.isNotFound(before), 'the object was visible before its commit');
      await w.commit(name('streamed'));
      expect((await storage.get(name('streamed'))).equals(big), 'the committed object differs from what was written');
      const again = await openWriter();
      await again.write([small]);
      let refused = false;
      await again.commit(name('streamed')).catch(() => (refused = true));
      expect(refused, 'a commit replaced an existing object');
      expect((await storage.get(name('streamed'))).equals(big), 'the object changed');
      const dropped = await openWriter();
      await dropped.write([small]);
      await dropped.abort();
      const all: string[] = [];
      for await (const o of storage.list(`${prefix}/`)) all.push(o.name);
      expect(all.length === 4, `after an abort the prefix holds ${all.length} objects, expected 4`);
    });
  }
  await check('clean up', async () => {
    const left: string[] = [];
    for await (const o of storage.list(`${prefix}/`)) left.push(o.name);
    for (const n of left) await storage.remove(n);
  });
  return results;
}
