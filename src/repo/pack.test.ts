import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { IntegrityError } from '../util/errors.js';
import { BOX_OVERHEAD, open, seal } from './crypto.js';
import type { BlobType } from './ids.js';
import { PACK_TARGET_SIZE, PackBuilder, parsePackHeader, type PackedBlob } from './pack.js';

const KEY = randomBytes(32);
const ENTRY = 42;

interface BlobSpec {
  readonly id: string;
  readonly plain: Buffer;
  readonly rawLength: number;
  readonly compressed: boolean;
}

function build(type: BlobType, specs: readonly BlobSpec[], key = KEY): { id: string; bytes: Buffer; blobs: PackedBlob[]; boxes: Buffer[] } {
  const b = new PackBuilder(type);
  const boxes: Buffer[] = [];
  for (const s of specs) {
    const box = seal(key, s.plain);
    boxes.push(box);
    b.add(s.id, box, s.rawLength, s.compressed);
  }
  assert.equal(b.count, specs.length);
  assert.equal(b.size, boxes.reduce((n, x) => n + x.length, 0));
  // the pack as written: the boxes in the order added, then the trailer finish() returns (header box, length)
  const { id, trailer, blobs } = b.finish(key);
  return { id, bytes: Buffer.concat([...boxes, ...trailer]), blobs, boxes };
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const spec = (n: number, compressed = false): BlobSpec => ({ id: randomBytes(32).toString('hex'), plain: randomBytes(n), rawLength: n, compressed });

const blobSpecArb = fc.record({
  id: fc.uint8Array({ minLength: 32, maxLength: 32 }).map((a) => Buffer.from(a).toString('hex')),
  plain: fc.integer({ min: 0, max: 3000 }).map((n) => randomBytes(n)),
  rawLength: fc.nat({ max: 0xffffffff }),
  compressed: fc.boolean(),
});

describe('PackBuilder → parsePackHeader (format §5.3)', () => {
  it('round-trips random packs: ids, types, flags, lengths and offsets (property)', () => {
    fc.assert(
      fc.property(fc.constantFrom<BlobType>('data', 'tree'), fc.array(blobSpecArb, { maxLength: 25 }), (type, specs) => {
        const { id, bytes, blobs, boxes } = build(type, specs);
        assert.equal(id, sha256(bytes), 'pack id is the SHA-256 of its bytes');
        const expected = specs.map((s, i) => ({
          id: s.id,
          type,
          offset: boxes.slice(0, i).reduce((n, x) => n + x.length, 0),
          length: boxes[i]!.length,
          rawLength: s.rawLength,
          compressed: s.compressed,
        }));
        assert.deepEqual(blobs, expected, 'finish() reports the blobs');
        const parsed = parsePackHeader(KEY, bytes, bytes.length, id);
        assert.deepEqual(parsed, expected, 'the header describes the blobs');
        // Each offset/length addresses exactly that blob's box, which opens to the plaintext.
        parsed.forEach((p, i) => {
          const box = bytes.subarray(p.offset, p.offset + p.length);
          assert.deepEqual(box, boxes[i]);
          assert.deepEqual(open(KEY, box), specs[i]!.plain);
        });
        // Only the tail is needed, as long as it covers the header.
        const headerLen = BOX_OVERHEAD + specs.length * ENTRY + 4;
        assert.equal(bytes.readUInt32LE(bytes.length - 4), headerLen - 4);
        assert.deepEqual(parsePackHeader(KEY, bytes.subarray(bytes.length - headerLen), bytes.length, id), expected);
      }),
      { numRuns: 150 },
    );
  });

  it('lays the pack out as blobs | header box | uint32 LE header length', () => {
    const specs = [spec(10, true), spec(0), spec(1000)];
    const { bytes, boxes } = build('tree', specs);
    const blobBytes = Buffer.concat(boxes);
    assert.deepEqual(bytes.subarray(0, blobBytes.length), blobBytes);
    const boxLen = bytes.readUInt32LE(bytes.length - 4);
    assert.equal(blobBytes.length + boxLen + 4, bytes.length);
    const header = open(KEY, bytes.subarray(blobBytes.length, blobBytes.length + boxLen));
    assert.equal(header.length, 3 * ENTRY);
    specs.forEach((s, i) => {
      const e = header.subarray(i * ENTRY, (i + 1) * ENTRY);
      assert.equal(e[0], 1, 'type tree = 1');
      assert.equal(e[1], s.compressed ? 1 : 0, 'flags bit 0 = compressed');
      assert.equal(e.readUInt32LE(2), boxes[i]!.length, 'stored length');
      assert.equal(e.readUInt32LE(6), s.rawLength, 'raw length');
      assert.equal(e.toString('hex', 10, 42), s.id, 'blob id');
    });
    const data = build('data', [spec(5)]);
    const dataHeader = open(KEY, data.bytes.subarray(data.boxes[0]!.length, data.bytes.length - 4));
    assert.equal(dataHeader[0], 0, 'type data = 0');
  });

  it('handles an empty pack', () => {
    const { id, bytes } = build('data', []);
    assert.equal(bytes.length, BOX_OVERHEAD + 4);
    assert.deepEqual(parsePackHeader(KEY, bytes, bytes.length, id), []);
  });

  it('is full at 16 MiB', () => {
    const b = new PackBuilder('data');
    assert.equal(PACK_TARGET_SIZE, 16 * 1024 * 1024);
    b.add(randomBytes(32).toString('hex'), Buffer.alloc(PACK_TARGET_SIZE - 1), 1, false);
    assert.equal(b.full, false);
    b.add(randomBytes(32).toString('hex'), Buffer.alloc(1), 1, false);
    assert.equal(b.full, true);
  });

  it('rejects every truncation of the tail with IntegrityError (property)', () => {
    const { id, bytes } = build('data', [spec(100), spec(0), spec(300, true)]);
    fc.assert(
      fc.property(fc.integer({ min: 1, max: bytes.length }), (cut) => {
        const short = bytes.subarray(0, bytes.length - cut);
        assert.throws(() => parsePackHeader(KEY, short, short.length, id), IntegrityError);
      }),
      { numRuns: 200 },
    );
  });

  it('rejects a tail that starts inside the header, and a pack size that disagrees with the header', () => {
    const { id, bytes } = build('data', [spec(100), spec(50)]);
    const boxLen = bytes.readUInt32LE(bytes.length - 4);
    const tooShortTail = bytes.subarray(bytes.length - boxLen - 3);
    assert.throws(() => parsePackHeader(KEY, tooShortTail, bytes.length, id), IntegrityError);
    assert.throws(() => parsePackHeader(KEY, bytes.subarray(bytes.length - 3), bytes.length, id), IntegrityError);
    // The front of the pack lost a byte: the tail still opens but the blob lengths no longer add up.
    assert.throws(() => parsePackHeader(KEY, bytes.subarray(1), bytes.length - 1, id), /header describes/);
    assert.throws(() => parsePackHeader(KEY, bytes, bytes.length + 1, id), IntegrityError);
  });

  it('rejects any flipped bit in the header box or the length field with IntegrityError (property)', () => {
    const { id, bytes } = build('tree', [spec(100), spec(7, true), spec(2000)]);
    const boxLen = bytes.readUInt32LE(bytes.length - 4);
    const headerStart = bytes.length - 4 - boxLen;
    fc.assert(
      fc.property(fc.integer({ min: headerStart * 8, max: bytes.length * 8 - 1 }), (bit) => {
        const bad = Buffer.from(bytes);
        bad[bit >> 3]! ^= 1 << (bit & 7);
        assert.throws(() => parsePackHeader(KEY, bad, bad.length, id), IntegrityError);
      }),
      { numRuns: 300 },
    );
  });

  it('rejects a header sealed under another key', () => {
    const { id, bytes } = build('data', [spec(10)], randomBytes(32));
    assert.throws(() => parsePackHeader(KEY, bytes, bytes.length, id), IntegrityError);
  });
});
