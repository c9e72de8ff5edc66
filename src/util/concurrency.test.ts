import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ByteBudget } from './concurrency.js';

test('a byte budget holds requests past its limit until enough is released, and lets one oversized request through alone', async () => {
  const budget = new ByteBudget(10);
  await budget.acquire(6);
  let second = false;
  const p = budget.acquire(6).then(() => (second = true));
  await new Promise((r) => setImmediate(r));
  assert.equal(second, false);
  budget.release(6);
  await p;
  assert.equal(second, true);
  assert.equal(budget.used, 6);
  budget.release(6);
  await budget.acquire(25); // larger than the limit, nothing held: goes through
  let small = false;
  const q = budget.acquire(1).then(() => (small = true));
  await new Promise((r) => setImmediate(r));
  assert.equal(small, false);
  budget.release(25);
  await q;
  assert.equal(budget.used, 1);
});
