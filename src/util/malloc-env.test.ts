import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mallocTuning, runtimeFlags, takeMallocTuning } from './malloc-env.js';

test('the allocator settings bin/safepoint set leave the environment children inherit, the caller\'s stay', () => {
  const env: NodeJS.ProcessEnv = { MALLOC_ARENA_MAX: '2', MALLOC_TRIM_THRESHOLD_: '131072', MALLOC_MMAP_THRESHOLD_: '4096', SAFEPOINT_MALLOC_SET: 'MALLOC_ARENA_MAX MALLOC_TRIM_THRESHOLD_ PATH', PATH: '/bin' };
  takeMallocTuning(env);
  assert.deepEqual(env, { MALLOC_MMAP_THRESHOLD_: '4096', PATH: '/bin' }, 'only MALLOC_* names it set are taken');
  assert.deepEqual(mallocTuning(), { MALLOC_ARENA_MAX: '2', MALLOC_TRIM_THRESHOLD_: '131072' });
});

test('the young-generation flag bin/safepoint passes goes on to the safepoint runs the daemon starts, other flags do not', () => {
  assert.deepEqual(runtimeFlags(['--inspect=9229', '--max-semi-space-size=2', '--enable-source-maps']), ['--max-semi-space-size=2']);
  assert.deepEqual(runtimeFlags([]), []);
});
