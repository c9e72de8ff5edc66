import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import type { BlobType } from './ids.js';
import { MasterIndex, decodeIndex, encodeIndex, type IndexFileJson, type PackEntry } from './index-file.js';
import type { PackedBlob } from './pack.js';
import { IntegrityError } from '../util/errors.js';

const hex = (): string => randomBytes(32).toString('hex');
const idArb = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((a) => Buffer.from(a).toString('hex'));

const packArb: fc.Arbitrary<PackEntry> = fc
  .record({
    id: idArb,
    type: fc.constantFrom<BlobType>('data', 'tree'),
    blobs: fc.array(fc.record({ id: idArb, length: fc.nat({ max: 0xffffffff }), rawLength: fc.nat({ max: 0xffffffff }), compressed: fc.boolean() }), { maxLength: 12 }),
  })
  .map(({ id, type, blobs }) => {
    let offset = 0;
    const packed: PackedBlob[] = blobs.map((b) => {
      const p = { ...b, type, offset };
      offset += b.length;
      return p;
    });
    return { id, type, blobs: packed };
  });

function pack(type: BlobType, blobIds: readonly string[], id = hex()): PackEntry {
  let offset = 0;
  return {
    id,
    type,
    blobs: blobIds.map((b, i) => {
      const length = 100 + i;
      const e = { id: b, type, offset, length, rawLength: 70 + i, compressed: i % 2 === 1 };
      offset += length;
      return e;
    }),
  };
}

describe('encodeIndex / decodeIndex (format §6)', () => {
  it('round-trips through JSON (property)', () => {
    fc.assert(
      fc.property(fc.array(packArb, { maxLength: 6 }), fc.array(idArb, { maxLength: 3 }), (packs, supersedes) => {
        const json = JSON.parse(JSON.stringify(encodeIndex(packs, supersedes))) as IndexFileJson;
        assert.equal(json.version, 1);
        assert.deepEqual(json.supersedes, supersedes);
        assert.deepEqual(decodeIndex(json), packs);
      }),
      { numRuns: 150 },
    );
  });

  it('writes the documented shape: [id, offset, length, rawLength, compressed 0|1]', () => {
    const [a, b] = [hex(), hex()];
    const p = pack('tree', [a, b]);
    assert.deepEqual(encodeIndex([p]), {
      version: 1,
      supersedes: [],
      packs: [{ id: p.id, type: 'tree', blobs: [[a, 0, 100, 70, 0], [b, 100, 101, 71, 1]] }],
    });
  });

  it('does not share the supersedes array with the caller', () => {
    const sup = [hex()];
    const json = encodeIndex([], sup);
    sup.push(hex());
    assert.equal(json.supersedes.length, 1);
  });
});

describe('MasterIndex', () => {
  it('returns every location of a blob stored in two packs, first one first', () => {
    const [shared, onlyA, onlyB] = [hex(), hex(), hex()];
    const a = pack('data', [onlyA, shared]);
    const b = pack('data', [shared, onlyB]);
    const idx = new MasterIndex();
    idx.addPack(a);
    idx.addPack(b);
    const locs = idx.lookup(shared);
    assert.equal(locs.length, 2);
    assert.deepEqual(locs[0], { id: shared, pack: a.id, type: 'data', offset: 100, length: 101, rawLength: 71, compressed: true });
    assert.deepEqual(locs[1], { id: shared, pack: b.id, type: 'data', offset: 0, length: 100, rawLength: 70, compressed: false });
    assert.deepEqual(idx.pack(a.id)!.blobs[1], locs[0], 'the pack list and the lookup agree');
    assert.deepEqual(idx.lookup(onlyA).map((l) => l.pack), [a.id]);
    assert.deepEqual(idx.lookup(onlyB).map((l) => l.pack), [b.id]);
    assert.equal(idx.blobCount, 3);
    assert.equal(idx.packCount, 2);
  });

  it('keeps all locations of a blob found in three packs', () => {
    const shared = hex();
    const idx = new MasterIndex();
    const packs = [pack('tree', [shared]), pack('tree', [hex(), shared]), pack('tree', [shared])];
    for (const p of packs) idx.addPack(p);
    assert.deepEqual(idx.lookup(shared).map((l) => l.pack), packs.map((p) => p.id));
  });

  it('addPack of the same pack twice is idempotent', () => {
    const [x, y] = [hex(), hex()];
    const p = pack('data', [x, y]);
    const idx = new MasterIndex();
    idx.addPack(p);
    idx.addPack(p);
    idx.addPack({ ...p, blobs: [...p.blobs] }); // the same pack from another index file
    assert.equal(idx.lookup(x).length, 1);
    assert.equal(idx.lookup(y).length, 1);
    assert.equal(idx.packCount, 1);
    assert.equal(idx.blobCount, 2);
    const located = { ...p, blobs: p.blobs.map((b) => ({ ...b, pack: p.id })) };
    assert.deepEqual(idx.pack(p.id), located);
    assert.deepEqual([...idx.packs()], [located]);
  });

  it('refuses a pack listing a blob id that is not 64 hex digits, and adds nothing of it', () => {
    const idx = new MasterIndex();
    const good = hex();
    for (const bad of ['abc', 'zz'.repeat(32), `${hex().slice(0, 62)}g0`]) {
      assert.throws(() => idx.addPack(pack('data', [good, bad])), IntegrityError);
    }
    assert.equal(idx.has(good), false);
    assert.equal(idx.packCount, 0);
    assert.equal(idx.has('not an id'), false);
    assert.deepEqual(idx.lookup('zz'.repeat(32)), []);
  });

  it('finds every blob of many packs (the table grows and is rebuilt)', () => {
    const idx = new MasterIndex();
    const packs = Array.from({ length: 40 }, () => pack('data', Array.from({ length: 100 }, hex)));
    for (const p of packs) idx.addPack(p);
    assert.equal(idx.blobCount, 4000);
    for (const p of packs) {
      assert.deepEqual(idx.pack(p.id), { ...p, blobs: p.blobs.map((b) => ({ ...b, pack: p.id })) });
      for (const b of p.blobs) assert.deepEqual(idx.lookup(b.id), [{ ...b, pack: p.id }]);
    }
  });

  it('answers has/lookup/pack for unknown ids', () => {
    const idx = new MasterIndex();
    assert.equal(idx.has(hex()), false);
    assert.deepEqual(idx.lookup(hex()), []);
    assert.equal(idx.pack(hex()), undefined);
    assert.equal(idx.blobCount, 0);
    idx.addPack(pack('data', []));
    assert.equal(idx.packCount, 1);
    assert.equal(idx.blobCount, 0);
  });

  it('agrees with a naive model over random packs (property)', () => {
    fc.assert(
      fc.property(fc.array(idArb, { minLength: 1, maxLength: 8 }), fc.array(fc.array(fc.nat(), { maxLength: 6 }), { maxLength: 8 }), (ids, picks) => {
        const idx = new MasterIndex();
        const model = new Map<string, string[]>();
        const packs = picks.map((pk) => pack('data', [...new Set(pk.map((n) => ids[n % ids.length]!))]));
        for (const p of [...packs, ...packs]) idx.addPack(p); // each pack added twice
        for (const p of packs) for (const b of p.blobs) model.set(b.id, [...(model.get(b.id) ?? []), p.id]);
        assert.equal(idx.blobCount, model.size);
        for (const id of ids) {
          assert.deepEqual(idx.lookup(id).map((l) => l.pack), model.get(id) ?? []);
          assert.equal(idx.has(id), model.has(id));
        }
      }),
      { numRuns: 100 },
    );
  });
});
