import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChunkRing } from './chunk-ring.js';

test('chunks are slices of one ring, reused once freed, in or out of order', () => {
  const ring = new ChunkRing(100);
  const a = ring.alloc(40);
  const b = ring.alloc(40);
  assert.equal(a.buffer, b.buffer);
  assert.equal(b.byteOffset, 40);
  assert.equal(ring.used, 80);
  const c = ring.alloc(30); // 20 left at the end, the start is taken: a buffer of its own
  assert.notEqual(c.buffer, a.buffer);
  assert.equal(ring.overflows, 1);
  assert.equal(ring.release(c), 30); // garbage for the caller to count
  assert.equal(ring.release(b), 0); // out of order: a is still live, so nothing moves yet
  assert.equal(ring.used, 80);
  assert.equal(ring.release(a), 0);
  assert.equal(ring.used, 0);
  const d = ring.alloc(100); // empty again: starts over at offset 0
  assert.equal(d.byteOffset, 0);
  assert.equal(d.buffer, a.buffer);
  ring.release(d);
});

test('the ring wraps to its start when the oldest chunk there has been freed', () => {
  const ring = new ChunkRing(100);
  const a = ring.alloc(30);
  const b = ring.alloc(30);
  const c = ring.alloc(30);
  ring.release(a);
  const d = ring.alloc(25); // 10 left at the end: wraps to 0, before b at 30
  assert.equal(d.byteOffset, 0);
  assert.equal(d.buffer, b.buffer);
  assert.equal(ring.used, 100 - 30 + 25);
  const e = ring.alloc(10); // between d (ends at 25) and b (starts at 30): 5 bytes, no room
  assert.equal(ring.overflows, 1);
  ring.release(e);
  ring.release(b);
  const f = ring.alloc(10); // b freed: now d's end (25) to c's start (60)
  assert.equal(f.byteOffset, 25);
  for (const x of [c, d, f]) ring.release(x);
  assert.equal(ring.used, 0);
  assert.equal(ring.overflows, 1);
});

test('bytes written into one chunk never show in another', () => {
  const ring = new ChunkRing(64);
  const live: Buffer[] = [];
  for (let i = 0; i < 500; i++) {
    const n = 1 + ((i * 7) % 20);
    const x = ring.alloc(n).fill(i & 0xff);
    live.push(x);
    if (live.length > 3) {
      const old = live.splice(i % 2 === 0 ? 0 : 1, 1)[0]!; // mostly in order, sometimes not
      ring.release(old);
    }
    for (const [j, y] of live.entries()) assert.ok(y.every((v) => v === y[0]), `chunk ${j} was overwritten`);
  }
});

test('allocWait waits for room, in turn, instead of taking a buffer of its own', async () => {
  const ring = new ChunkRing(100);
  const a = await ring.allocWait(60);
  const b = await ring.allocWait(30);
  const served: string[] = [];
  const c = ring.allocWait(50).then((x) => (served.push('c'), x)); // no room: waits
  const d = ring.allocWait(5).then((x) => (served.push('d'), x)); // would fit (10 left at the end) but waits its turn
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(served, []);
  assert.equal(ring.waiting, 2);
  ring.release(a); // 60 free at the start: c takes 50 of it, d 5 of the 10 left before b
  const [cb, db] = await Promise.all([c, d]);
  assert.deepEqual(served, ['c', 'd']);
  assert.equal(cb.buffer, b.buffer);
  assert.equal(cb.byteOffset, 0);
  assert.equal(db.byteOffset, 50);
  assert.equal(ring.overflows, 0);
  const huge = await ring.allocWait(101); // larger than the ring: its own buffer at once
  assert.notEqual(huge.buffer, b.buffer);
  assert.equal(ring.overflows, 1);
  for (const x of [b, cb, db]) ring.release(x);
  assert.equal(ring.used, 0);
  assert.equal(ring.waiting, 0);
});
