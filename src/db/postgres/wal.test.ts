import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ARCHIVED_NAME, formatLsn, parseLsn, parseSegmentSize, segmentOf, segmentRange } from './wal.js';

const MB16 = 16 * 1024 * 1024;

test('LSNs parse and print as PostgreSQL writes them', () => {
  assert.equal(parseLsn('0/3000060'), 0x3000060n);
  assert.equal(parseLsn('1A/FF'), (0x1an << 32n) | 0xffn);
  assert.equal(formatLsn(parseLsn('16/B374D848')), '16/B374D848');
  assert.throws(() => parseLsn('3000060'), /not a WAL position/);
});

test('segment names follow the LSN, wrapping at 4 GiB of WAL', () => {
  assert.equal(segmentOf(1, parseLsn('0/3000060'), MB16), '000000010000000000000003');
  assert.equal(segmentOf(2, parseLsn('1/FF000000'), MB16), '0000000200000001000000FF');
  assert.deepEqual(segmentRange('0000000100000000000000FE', '000000010000000100000001', MB16), [
    '0000000100000000000000FE', '0000000100000000000000FF', '000000010000000100000000', '000000010000000100000001',
  ]);
  // 64 MiB segments: 64 per 4 GiB
  assert.deepEqual(segmentRange('00000001000000000000003F', '000000010000000100000000', 64 * 1024 * 1024), ['00000001000000000000003F', '000000010000000100000000']);
  assert.throws(() => segmentRange('000000010000000000000003', '000000020000000000000004', MB16), /different timelines/);
});

test('archived names: segments, partial segments, backup and timeline history files; nothing else', () => {
  for (const ok of ['000000010000000000000003', '000000010000000000000003.partial', '00000002.history', '000000010000000000000002.00000028.backup']) assert.ok(ARCHIVED_NAME.test(ok), ok);
  for (const bad of ['../etc/passwd', '00000001000000000000003', 'x.history', '000000010000000000000003.gz']) assert.ok(!ARCHIVED_NAME.test(bad), bad);
});

test('wal_segment_size settings', () => {
  assert.equal(parseSegmentSize('16MB'), MB16);
  assert.equal(parseSegmentSize('16777216'), MB16);
  assert.throws(() => parseSegmentSize('3MB'));
});
