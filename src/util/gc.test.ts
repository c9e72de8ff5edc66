import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { getHeapStatistics } from 'node:v8';
import { setTimeout as sleep } from 'node:timers/promises';
import { capHeap } from './gc.js';

const MiB = 1024 * 1024;
const used = (): number => getHeapStatistics().used_heap_size;

/** ~`mib` MiB of small objects, kept across a few timer turns so that they reach the old generation. */
async function promoted(mib: number): Promise<{ n: number }[][]> {
  const lists: { n: number }[][] = [];
  for (let i = 0; i < mib; i++) lists.push(Array.from({ length: 40_000 }, (_, n) => ({ n })));
  for (let i = 0; i < 3; i++) await sleep(5);
  return lists;
}

describe('capHeap', () => {
  it('collects the whole heap once it has grown by the slack, bringing it back to what is live', async () => {
    const cap = capHeap({ minSlack: 8 * MiB, slackRatio: 0, intervalMs: 5 });
    try {
      const keep = await promoted(4);
      let garbage: unknown = await promoted(32);
      const before = used();
      const ran = cap.collections; // while the garbage was live (the heap grew past the slack as it was made)
      garbage = null;
      await promoted(12); // more growth past the slack, now with 32 MiB dead
      for (let i = 0; i < 20 && cap.collections === ran; i++) await sleep(10);
      assert.ok(cap.collections > ran, 'a full collection ran');
      assert.ok(used() < before - 16 * MiB, `the heap shrank: ${(before / MiB).toFixed(0)} -> ${(used() / MiB).toFixed(0)} MiB`);
      assert.equal(keep.length, 4, 'what is live stays');
      assert.equal(garbage, null);
    } finally {
      cap.stop();
    }
  });

  it('does nothing while the heap stays within the slack, and nothing once stopped', async () => {
    const cap = capHeap({ minSlack: 512 * MiB, intervalMs: 5 });
    await promoted(8);
    await sleep(30);
    assert.equal(cap.collections, 0);
    cap.stop();
    const stopped = capHeap({ minSlack: 0, slackRatio: 0, intervalMs: 5 });
    stopped.stop();
    await promoted(8);
    await sleep(30);
    assert.equal(stopped.collections, 0);
  });
});
