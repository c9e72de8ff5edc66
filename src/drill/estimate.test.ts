import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lastDrillTimes, remainingSeconds } from './estimate.js';

const drill = (source: string, rto: number, result: 'ok' | 'failed' = 'ok'): { operation: string; source: string; result: 'ok' | 'failed'; figures: Record<string, unknown> } => ({ operation: 'drill', source, result, figures: { rto_seconds: rto } });

test('lastDrillTimes: the last successful drill of each source', () => {
  const times = lastDrillTimes([drill('db', 40), drill('files', 2), drill('db', 60), drill('db', 900, 'failed'), { operation: 'backup', source: 'files', result: 'ok', figures: { rto_seconds: 5 } }]);
  assert.deepEqual([...times], [['db', 60], ['files', 2]]);
});

test('remainingSeconds: what is left of the source under way plus the others; the mean for one never drilled', () => {
  const times = new Map([['db', 60], ['files', 2]]);
  assert.equal(remainingSeconds(['db', 'files'], times, 15), 45 + 2);
  assert.equal(remainingSeconds(['files', 'new'], times, 10), 0 + 31, 'over its time: nothing left of it, not less');
  assert.equal(remainingSeconds(['db'], new Map(), 0), null);
  assert.equal(remainingSeconds([], times, 0), 0);
});
