import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import type { PackEntry } from './index-file.js';
import { Packer } from './packer.js';
import { PACK_TARGET_SIZE, parsePackHeader } from './pack.js';
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

test('packs for a storage without writers are spooled whole, and each pack\'s bytes survive the reuse of its buffer', async () => {
  const encKey = randomBytes(32);
  const written: { id: string; bytes: Buffer; held: Buffer }[] = [];
  const entries: PackEntry[] = [];
  const sink = {
    writePack: async (id: string, _path: string, parts: readonly Buffer[]) => {
      assert.equal(parts.length, 1, 'one buffer per pack');
      written.push({ id, bytes: Buffer.from(parts[0]!), held: parts[0]! });
    },
    packWritten: async (entry: PackEntry) => {
      entries.push(entry);
    },
  };
  const packer = new Packer(encKey, sink);
  // boxes 23 and 47 are 3 MiB and end their packs at ~18.7 MiB: past the spool's size, which must grow
  const boxes = Array.from({ length: 60 }, (_, i) => randomBytes(i % 24 === 23 ? 3 * 1024 * 1024 : 700 * 1024 + i));
  for (const [i, box] of boxes.entries()) await packer.add('data', `${i}`.padStart(64, '0'), box, box.length, false);
  await packer.add('tree', 'f'.padStart(64, 'e'), Buffer.from('{"nodes":[]}'), 12, false);
  await packer.flush();
  assert.equal(written.length, entries.length);
  assert.ok(entries.filter((e) => e.type === 'data').length >= 2, 'several data packs');
  let next = 0;
  for (const { id, bytes } of written) {
    assert.equal(createHash('sha256').update(bytes).digest('hex'), id, 'named by the hash of what was written');
    const entry = entries.find((e) => e.id === id)!;
    const header = parsePackHeader(encKey, bytes, bytes.length, id);
    assert.deepEqual(header.map((b) => b.id), entry.blobs.map((b) => b.id));
    if (entry.type !== 'data') continue;
    for (const b of header) assert.ok(bytes.subarray(b.offset, b.offset + b.length).equals(boxes[next++]!), `blob ${b.id} intact`);
  }
  assert.equal(next, boxes.length);
  // the spool of a written data pack was reused for a later one (the copy taken at write time is what counts)
  const held = written.filter((w) => entries.find((e) => e.id === w.id)!.type === 'data').map((w) => w.held.buffer);
  assert.ok(new Set(held).size < held.length, 'a spool buffer served more than one pack');
  assert.ok(written.some((w) => w.bytes.length > PACK_TARGET_SIZE + 2 * 1024 * 1024), 'a pack outgrew its spool');
});

test('a box\'s buffer is the caller\'s again once add returns: refilling it changes nothing already added (streamed and spooled)', async () => {
  const encKey = randomBytes(32);
  const streamed = streamingSink();
  const spooled: Buffer[] = [];
  const packers = {
    streamed: new Packer(encKey, streamed.sink),
    spooled: new Packer(encKey, { writePack: async (_id: string, _p: string, parts: readonly Buffer[]) => void spooled.push(Buffer.concat(parts)), packWritten: async () => undefined }),
  };
  for (const [mode, packer] of Object.entries(packers)) {
    // one buffer for every box, refilled after each add, as an ingest lane reuses its box buffers; 300 KiB boxes
    // wait for a MiB to be written, 1.3 MiB ones straddle the streamed stage buffers
    const buffer = Buffer.alloc(1300 * 1024 + 17);
    const expected: Buffer[] = [];
    for (let i = 0; i < 9; i++) {
      const box = buffer.subarray(0, i % 3 === 2 ? buffer.length - i : 300 * 1024 + i);
      randomBytes(box.length).copy(box);
      expected.push(Buffer.from(box));
      await packer.add('data', `${i}`.padStart(64, '0'), box, box.length, false);
      buffer.fill(0xee);
    }
    await packer.flush();
    const pack = mode === 'streamed' ? [...streamed.committed.values()][0]! : spooled[0]!;
    const header = parsePackHeader(encKey, pack, pack.length, mode);
    assert.equal(header.length, expected.length, mode);
    for (const [i, b] of header.entries()) assert.ok(pack.subarray(b.offset, b.offset + b.length).equals(expected[i]!), `${mode}: box ${i} intact`);
  }
});
