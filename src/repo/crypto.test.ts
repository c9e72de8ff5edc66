import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { IntegrityError } from '../util/errors.js';
import { BOX_OVERHEAD, MASTER_KEY_BYTES, blobId, masterKeyBytes, masterKeyFromBytes, newMasterKey, open, seal, sealInto } from './crypto.js';

const KEY = randomBytes(32);
const MiB = 1024 * 1024;

describe('seal / open (format §4.1)', () => {
  for (const [name, size] of [['empty', 0], ['1 byte', 1], ['1 MiB', MiB]] as const) {
    it(`round-trips ${name}`, () => {
      const plain = randomBytes(size);
      const box = seal(KEY, plain);
      assert.equal(box.length, size + BOX_OVERHEAD);
      assert.equal(box[0], 0x01, 'version byte');
      assert.deepEqual(open(KEY, box), plain);
    });
  }

  it('has a 29-byte overhead and uses a fresh random nonce per box', () => {
    assert.equal(BOX_OVERHEAD, 29);
    const plain = Buffer.from('same plaintext');
    const a = seal(KEY, plain);
    const b = seal(KEY, plain);
    assert.notDeepEqual(a.subarray(1, 13), b.subarray(1, 13), 'nonces differ');
    assert.notDeepEqual(a, b);
    assert.ok(!a.includes(plain), 'the plaintext is not visible in the box');
  });

  it('opens a box that is a view into a larger buffer', () => {
    const plain = randomBytes(100);
    const box = seal(KEY, plain);
    const big = Buffer.concat([randomBytes(7), box, randomBytes(5)]);
    assert.deepEqual(open(KEY, big.subarray(7, 7 + box.length)), plain);
    assert.deepEqual(open(KEY, new Uint8Array(big.buffer, big.byteOffset + 7, box.length)), plain);
  });

  it('seals into the start of a larger buffer (a reused one), and refuses one too small', () => {
    const plain = randomBytes(1000);
    const into = Buffer.alloc(4096, 0xaa);
    const n = sealInto(KEY, plain, into);
    assert.equal(n, plain.length + BOX_OVERHEAD);
    assert.deepEqual(open(KEY, into.subarray(0, n)), plain);
    assert.equal(into[n], 0xaa, 'nothing written past the box');
    assert.throws(() => sealInto(KEY, plain, Buffer.alloc(plain.length + BOX_OVERHEAD - 1)), RangeError);
  });

  it('rejects any single flipped bit with IntegrityError (property)', () => {
    const plain = randomBytes(200);
    const box = seal(KEY, plain);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: box.length * 8 - 1 }), (bit) => {
        const bad = Buffer.from(box);
        bad[bit >> 3]! ^= 1 << (bit & 7);
        assert.throws(() => open(KEY, bad), IntegrityError);
      }),
      { numRuns: 300 },
    );
  });

  it('rejects every flipped bit of a short box (exhaustive)', () => {
    const box = seal(KEY, Buffer.from('x'));
    for (let bit = 0; bit < box.length * 8; bit++) {
      const bad = Buffer.from(box);
      bad[bit >> 3]! ^= 1 << (bit & 7);
      assert.throws(() => open(KEY, bad), IntegrityError, `bit ${bit}`);
    }
  });

  it('rejects a wrong key, a truncated box, an extended box and a bad version with IntegrityError', () => {
    const box = seal(KEY, randomBytes(64));
    assert.throws(() => open(randomBytes(32), box), IntegrityError);
    assert.throws(() => open(KEY, box.subarray(0, box.length - 1)), IntegrityError);
    assert.throws(() => open(KEY, box.subarray(0, BOX_OVERHEAD - 1)), IntegrityError);
    assert.throws(() => open(KEY, Buffer.alloc(0)), IntegrityError);
    assert.throws(() => open(KEY, Buffer.concat([box, Buffer.from([0])])), IntegrityError);
    const v2 = Buffer.from(box);
    v2[0] = 0x02;
    assert.throws(() => open(KEY, v2), /bad header/);
  });

  it('names the object in the error message', () => {
    assert.throws(() => open(randomBytes(32), seal(KEY, Buffer.from('a')), 'snapshot 1234abcd'), /snapshot 1234abcd: authentication failed/);
  });
});

describe('blobId (format §5)', () => {
  it('is HMAC-SHA-256 under the MAC key: deterministic and keyed', () => {
    const mac = randomBytes(32);
    const plain = randomBytes(1000);
    const id = blobId(mac, plain);
    assert.match(id, /^[0-9a-f]{64}$/);
    assert.equal(blobId(mac, plain), id);
    assert.equal(blobId(Buffer.from(mac), Uint8Array.from(plain)), id);
    assert.equal(id, createHmac('sha256', mac).update(plain).digest('hex'));
    assert.notEqual(blobId(randomBytes(32), plain), id, 'another key gives another id');
    assert.notEqual(blobId(mac, Buffer.concat([plain, Buffer.from([0])])), id);
  });

  it('different MAC keys give different ids for the same content (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ maxLength: 300 }), (k1, k2, data) => {
        fc.pre(Buffer.compare(k1, k2) !== 0);
        assert.notEqual(blobId(Buffer.from(k1), data), blobId(Buffer.from(k2), data));
        assert.equal(blobId(Buffer.from(k1), data), blobId(Buffer.from(k1), Uint8Array.from(data)));
      }),
      { numRuns: 100 },
    );
  });
});

describe('master key (format §3)', () => {
  it('is 96 bytes split into encKey, macKey and chunkerSeed', () => {
    const bytes = randomBytes(MASTER_KEY_BYTES);
    const k = masterKeyFromBytes(bytes);
    assert.deepEqual(k.encKey, bytes.subarray(0, 32));
    assert.deepEqual(k.macKey, bytes.subarray(32, 64));
    assert.deepEqual(k.chunkerSeed, bytes.subarray(64, 96));
    assert.deepEqual(masterKeyBytes(k), bytes);
    assert.throws(() => masterKeyFromBytes(randomBytes(95)), IntegrityError);
    assert.throws(() => masterKeyFromBytes(randomBytes(97)), IntegrityError);
  });

  it('newMasterKey is random', () => {
    const a = masterKeyBytes(newMasterKey());
    const b = masterKeyBytes(newMasterKey());
    assert.equal(a.length, 96);
    assert.notDeepEqual(a, b);
  });
});

