import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { PackEntry } from './index-file.js';
import { Packer } from './packer.js';
import { PACK_TARGET_SIZE } from './pack.js';
import type { ObjectWriter } from '../storage/storage.js';

/** A sink whose writers record what they were given; `failOnWrite` makes the n-th write of any writer fail. */
function streamingSink(failOnWrite?: number) {
  const log: string[] = [];
  const written: PackEntry[] = [];
  const committed = new Map<string, Buffer>();
  let writes = 0;
  let writers = 0;
  return {
    log,
    written,
    committed,
    sink: {
      writePack: () => Promise.reject(new Error('a streaming sink is never given whole packs')),
      packWritten: async (entry: PackEntry) => {
        written.push(entry);
      },
      openPackWriter: async (): Promise<ObjectWriter> => {
        const n = writers++;
        const parts: Buffer[] = [];
        return {
          write: async (p) => {
            if (++writes === failOnWrite) throw new Error('disk full');
            parts.push(...p.map((x) => Buffer.from(x)));
            log.push(`write ${n}`);
          },
          commit: async (name) => {
            committed.set(name, Buffer.concat(parts));
            log.push(`commit ${n}`);
          },
          abort: async () => {
            log.push(`abort ${n}`);
          },
        };
      },
    },
  };
}

test('a streamed pack is written a MiB at a time, committed under its hash, and its boxes are in order', async () => {
  const { sink, log, written, committed } = streamingSink();
  const packer = new Packer(randomBytes(32), sink);
  const boxes = Array.from({ length: 20 }, () => randomBytes(300 * 1024));
  for (const [i, box] of boxes.entries()) await packer.add('data', `${i}`.padStart(64, '0'), box, box.length, false);
  assert.ok(log.filter((l) => l === 'write 0').length >= 5, `streamed in pieces: ${log.join(', ')}`);
  await packer.flush();
  assert.equal(written.length, 1);
  const [entry] = written;
  const bytes = committed.get(`data/${entry!.id.slice(0, 2)}/${entry!.id}`);
  assert.ok(bytes, 'committed under data/<id>');
  assert.ok(bytes.subarray(0, 20 * 300 * 1024).equals(Buffer.concat(boxes)));
  assert.ok(20 * 300 * 1024 < PACK_TARGET_SIZE);
});

test('a failed streamed write fails the add, and the pack\'s writer is aborted, never committed', async () => {
  const { sink, log, committed } = streamingSink(2);
  const packer = new Packer(randomBytes(32), sink);
  const add = async (i: number): Promise<void> => packer.add('data', `${i}`.padStart(64, '0'), randomBytes(600 * 1024), 600 * 1024, false);
  await add(0);
  await add(1); // first MiB written
  await add(2);
  await assert.rejects(add(3), /disk full/);
  await packer.settle();
  assert.deepEqual(log, ['write 0', 'abort 0']);
  assert.equal(committed.size, 0);
});
