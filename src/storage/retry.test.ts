import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LocalStorage } from './local/local-storage.js';
import { RetryingStorage, StorageError } from './retry.js';
import { FaultyStorage } from './testing/faulty.js';
import { withTempDir } from '../util/testing.js';
import { runConformance } from './testing/conformance.js';

const withDir = (fn: (dir: string) => Promise<void>): Promise<void> => withTempDir('sp-retry-', fn);

const fast = { baseDelayMs: 1, maxDelayMs: 5 };

test('transient errors are retried with growing, jittered delays, then succeed', () =>
  withDir(async (dir) => {
    const faulty = new FaultyStorage(new LocalStorage(dir), [{ op: 'put', effect: 'error', times: 3 }]);
    const delays: number[] = [];
    const s = new RetryingStorage(faulty, { baseDelayMs: 10, maxDelayMs: 1000, random: () => 1, onRetry: (i) => delays.push(i.delayMs) });
    await s.put('a', Buffer.from('hello'));
    assert.deepEqual(delays, [10, 20, 40]);
    assert.equal((await s.get('a')).toString(), 'hello');
  }));

test('after the last retry the error names the operation, object, target and attempts', () =>
  withDir(async (dir) => {
    const s = new RetryingStorage(new FaultyStorage(new LocalStorage(dir), [{ op: 'get', effect: 'error' }]), { ...fast, retries: 2 });
    await s.put('a', Buffer.from('x'));
    await assert.rejects(s.get('a'), (err: unknown) => err instanceof StorageError && /get a failed after 3 attempts: .*connection reset/.test(err.message) && err.message.includes(dir));
  }));

test('permanent errors and "not found" are not retried', () =>
  withDir(async (dir) => {
    let retries = 0;
    const faulty = new FaultyStorage(new LocalStorage(dir), [{ op: 'put', effect: 'permanent' }]);
    const s = new RetryingStorage(faulty, { ...fast, onRetry: () => retries++ });
    await assert.rejects(s.put('a', Buffer.from('x')), /access denied/);
    await assert.rejects(s.get('missing'), (err) => s.isNotFound(err));
    assert.equal(retries, 0);
  }));

test('each attempt has its own timeout; a hung call is retried', () =>
  withDir(async (dir) => {
    const faulty = new FaultyStorage(new LocalStorage(dir), [{ op: 'stat', effect: 'latency', ms: 300, times: 1 }]);
    // the latency fault ignores the signal like a hung socket would; the wrapper must not wait for it
    const s = new RetryingStorage(faulty, { ...fast, timeoutMs: 50 });
    await s.put('a', Buffer.from('xyz'));
    const t0 = performance.now();
    assert.equal((await s.stat('a')).size, 3);
    assert.ok(performance.now() - t0 < 290, 'the second attempt answered without waiting for the first');
  }));

test('a create-only put whose first attempt landed but whose answer was lost succeeds on retry', () =>
  withDir(async (dir) => {
    let calls = 0;
    class Lossy extends LocalStorage {
      override async put(name: string, data: Uint8Array | readonly Uint8Array[]): Promise<void> {
        await super.put(name, data);
        if (calls++ === 0) throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
      }
    }
    const s = new RetryingStorage(new Lossy(dir), fast);
    await s.put('a', Buffer.from('payload'));
    // but a real conflict (other bytes stored) is still an error
    await assert.rejects(s.put('a', Buffer.from('other')));
  }));

test('an aborted call stops retrying at once', () =>
  withDir(async (dir) => {
    const s = new RetryingStorage(new FaultyStorage(new LocalStorage(dir), [{ op: 'any', effect: 'error' }]), { baseDelayMs: 10_000 });
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('user pressed ^C')), 20);
    const t0 = performance.now();
    await assert.rejects(s.stat('a', { signal: ac.signal }), /\^C/);
    assert.ok(performance.now() - t0 < 1000);
  }));

test('the retrying and the fault-injecting wrappers pass the conformance suite', () =>
  withDir(async (dir) => {
    const s = new RetryingStorage(new FaultyStorage(new LocalStorage(dir), [{ op: 'any', effect: 'latency', ms: 1 }]), fast);
    assert.deepEqual((await runConformance(s)).filter((r) => r.status === 'fail'), []);
  }));
