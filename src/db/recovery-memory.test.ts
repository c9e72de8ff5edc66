import { test } from 'node:test';
import assert from 'node:assert/strict';
import { recoveryBuffersMb } from './recovery-memory.js';

const GiB = 1024 ** 3;

test('recovery buffers: a quarter of the free memory, within the container limit, between the default and 2 GiB', () => {
  assert.equal(recoveryBuffersMb({ free: 22 * GiB, total: 24 * GiB }), 2048);
  assert.equal(recoveryBuffersMb({ free: 2 * GiB, total: 8 * GiB }), 512);
  assert.equal(recoveryBuffersMb({ free: 22 * GiB, total: 24 * GiB, constrained: 1 * GiB }), 256, 'a cgroup limit counts');
  assert.equal(recoveryBuffersMb({ free: 22 * GiB, total: 24 * GiB, constrained: 2 ** 64 }), 2048, 'no limit is reported as a huge number');
  assert.equal(recoveryBuffersMb({ free: 200 * 1024 * 1024, total: 1 * GiB }), 128, 'never below PostgreSQL\'s default');
});
