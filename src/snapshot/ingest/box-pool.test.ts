import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BoxPool, RECYCLE_MIN } from './box-pool.js';

test('a box pool hands back the smallest returned buffer that fits, and new ones rounded up otherwise', () => {
  const pool = new BoxPool(8 * 1024 * 1024);
  const a = pool.take(300 * 1024 + 1);
  assert.equal(a.length % (64 * 1024), 0, 'rounded up to the granule');
  assert.ok(a.length >= 300 * 1024 + 1);
  const b = pool.take(2 * 1024 * 1024);
  assert.equal(pool.give([b.buffer as ArrayBuffer, a.buffer as ArrayBuffer]), 0);
  assert.equal(pool.bytes, a.length + b.length);
  assert.equal(pool.take(200 * 1024).buffer, a.buffer, 'the smallest that fits');
  assert.equal(pool.take(200 * 1024).buffer, b.buffer, 'then the next');
  assert.equal(pool.bytes, 0);
  assert.notEqual(pool.take(200 * 1024).buffer, b.buffer, 'none left: a new one');
});

test('a box pool does not pool small boxes, and lets the oldest buffers go past its size', () => {
  const small = new BoxPool(1024 * 1024).take(RECYCLE_MIN - 1);
  assert.equal(small.length, RECYCLE_MIN - 1, 'exactly the size asked');
  const pool = new BoxPool(1024 * 1024);
  const bufs = [0, 1, 2].map(() => new ArrayBuffer(512 * 1024));
  assert.equal(pool.give(bufs), 512 * 1024, 'one let go');
  assert.equal(pool.bytes, 1024 * 1024);
  assert.equal(pool.take(512 * 1024).buffer, bufs[1], 'the oldest went first');
});
