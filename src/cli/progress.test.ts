import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Output } from './output.js';
import { eta, progress } from './progress.js';

function terminal(): { stream: { isTTY: boolean; columns: number; write(s: string): boolean }; text(): string } {
  const chunks: string[] = [];
  return { stream: { isTTY: true, columns: 200, write: (s: string) => chunks.push(s) > 0 }, text: () => chunks.join('') };
}

test('eta: the rate so far, none before anything is done, zero when all is', () => {
  assert.equal(eta(10, 0.25), 30);
  assert.equal(eta(10, 0), null);
  assert.equal(eta(10, 1), 0);
});

test('progress on a terminal: done/total, percentage and ETA from the phase\'s own rate', () => {
  const t = terminal();
  let clock = 0;
  const p = progress(new Output({ json: false, quiet: false }, t.stream), 'check', { now: () => clock });
  clock = 5_000;
  p({ phase: 'reading packs', done: 0, total: 40 });
  clock = 15_000;
  p({ phase: 'reading packs', done: 10, total: 40, detail: 'pack 1a2b' });
  p.flush();
  const line = t.text().split('\r\x1b[2K').filter(Boolean).at(-1)!;
  // 10 of 40 in the 10 s since the phase began: 30 s left
  assert.equal(line, '[0:15]  reading packs: 10/40  25.0%  ETA 0:30  pack 1a2b');
  p.end();
  assert.ok(t.text().endsWith('\r\x1b[2K'), 'the line is cleared at the end');
});

test('progress: a better estimate replaces the rate, bytes are shown as sizes, no total means no ETA', () => {
  const t = terminal();
  let clock = 0;
  const out = new Output({ json: false, quiet: false }, t.stream);
  const p = progress(out, 'drill', { now: () => clock });
  clock = 2_000;
  p({ phase: 'source 1/2: shop', done: 0, total: 2, secondsRemaining: 95 });
  assert.match(t.text(), /source 1\/2: shop: 0\/2 {2}0\.0% {2}ETA 1:35$/);
  const b = progress(out, 'backup', { unit: 'bytes', now: () => clock });
  b({ phase: 'dumping', done: 3 * 1024 * 1024 });
  assert.match(t.text(), /dumping: 3\.00 MiB$/);
  assert.doesNotMatch(t.text().split('dumping')[1]!, /ETA/);
});

test('progress with --json: status events with operation, phase, percentage and seconds_remaining', () => {
  const events: Record<string, unknown>[] = [];
  let clock = 0;
  const out = new Output({ json: true, quiet: false }, { isTTY: false, columns: 0, write: () => true });
  out.sink = { info: () => undefined, warn: () => undefined, event: (e) => events.push(e) };
  const write = process.stdout.write;
  process.stdout.write = (() => true) as typeof process.stdout.write;
  try {
    const p = progress(out, 'scan', { now: () => clock });
    clock = 4_000;
    p({ phase: 'scanning shop', done: 1, total: 5 });
  } finally {
    process.stdout.write = write;
  }
  assert.deepEqual(events, [{ message_type: 'status', operation: 'scan', phase: 'scanning shop', seconds_elapsed: 4, done: 1, total: 5, percent_done: 0.2, seconds_remaining: null }]);
});

test('progress off a terminal and without --json writes nothing', () => {
  const chunks: string[] = [];
  const p = progress(new Output({ json: false, quiet: false }, { isTTY: false, columns: 0, write: (s: string) => chunks.push(s) > 0 }), 'check');
  p({ done: 1, total: 2 });
  p.end();
  assert.deepEqual(chunks, []);
});
