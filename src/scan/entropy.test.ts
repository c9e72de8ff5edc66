import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { headStats, isCompressible, looksEncrypted, newCompressor, shannonEntropy } from './entropy.js';
import { encryptHead, randomBytesFrom, realisticFile } from './testing.js';

test('Shannon entropy: 0 for one repeated byte, 8 for every byte equally often, ~7.8 for 1 KiB of random bytes', () => {
  assert.equal(shannonEntropy(Buffer.alloc(100, 7)), 0);
  assert.equal(shannonEntropy(Buffer.from(Array.from({ length: 1024 }, (_, i) => i % 256))), 8);
  assert.equal(shannonEntropy(Buffer.alloc(0)), 0);
  const random = shannonEntropy(randomBytesFrom(1024, 3));
  assert.ok(random > 7.7 && random < 8, `random: ${random}`);
});

test('text, JSON and CSV heads compress well and do not look encrypted', () => {
  const z = newCompressor();
  for (const kind of ['text', 'json', 'csv'] as const) {
    const h = headStats(Buffer.from(realisticFile(kind, 20_000, 1)), z);
    assert.equal(h.bytes, 4096);
    assert.ok(h.entropy < 6, `${kind} entropy ${h.entropy}`);
    assert.ok(h.ratio < 0.6, `${kind} ratio ${h.ratio}`);
    assert.ok(isCompressible(h), kind);
    assert.ok(!looksEncrypted(h), kind);
  }
});

test('a head fully encrypted looks encrypted and incompressible', () => {
  const h = headStats(randomBytesFrom(10_000, 9), newCompressor());
  assert.ok(looksEncrypted(h));
  assert.ok(!isCompressible(h));
  assert.equal(h.ratio, 1);
});

test('partial encryption: 1 KiB of ciphertext in front of text is caught by the block entropy, though the head as a whole still compresses', () => {
  const h = headStats(encryptHead(realisticFile('text', 30_000, 2), 1024, 5), newCompressor());
  assert.ok(h.entropy < 7, `whole-head entropy ${h.entropy} stays low`);
  assert.ok(h.ratio < 0.8, `whole-head ratio ${h.ratio} still compresses`);
  assert.ok(looksEncrypted(h), `max block entropy ${h.maxBlockEntropy}`);
});

test('compressed formats are high-entropy but recognised by their magic, not taken for ciphertext', () => {
  const h = headStats(gzipSync(randomBytesFrom(8000, 1)), newCompressor());
  assert.ok(h.container);
  assert.ok(h.maxBlockEntropy > 7.2);
  assert.ok(!looksEncrypted(h));
});

test('heads shorter than 512 bytes are not judged', () => {
  const h = headStats(randomBytesFrom(300, 4), newCompressor());
  assert.ok(!looksEncrypted(h));
  assert.ok(!isCompressible(headStats(Buffer.from('a'.repeat(300)), newCompressor())));
});
