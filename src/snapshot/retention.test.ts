import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { fixedClock } from '../util/clock.js';
import { applyRetention, isEmptyPolicy, parseKeepWithin, policyFromConfig, type RetentionItem, type RetentionOptions, type RetentionPolicy } from './retention.js';

const clock = fixedClock('2026-01-01T00:00:00Z');

// 30 snapshots over two years (UTC). s12 (Mon 2024-12-30) is in ISO week 2025-W01; s28/s29 share a day.
const TIMES = [
  '2024-01-15T10:00', '2024-02-10T10:00', '2024-03-05T10:00', '2024-04-20T10:00', '2024-05-18T10:00', '2024-06-30T10:00',
  '2024-07-04T10:00', '2024-08-15T10:00', '2024-09-09T10:00', '2024-10-31T10:00', '2024-11-11T10:00', '2024-12-30T10:00',
  '2025-01-20T10:00', '2025-03-15T10:00', '2025-05-01T10:00', '2025-07-01T10:00', '2025-09-01T10:00', '2025-11-02T10:00',
  '2025-12-01T09:00', '2025-12-08T09:00', '2025-12-14T23:30', '2025-12-15T08:00', '2025-12-17T08:00', '2025-12-19T08:00',
  '2025-12-20T08:00', '2025-12-21T08:00', '2025-12-22T08:00', '2025-12-23T08:00', '2025-12-23T20:00', '2025-12-24T06:00',
];
const TAGS: Record<string, string[]> = { s05: ['archive'], s10: ['important', 'db'], s20: ['important'], s25: ['db'] };
const id = (n: number): string => `s${String(n).padStart(2, '0')}`;
const SNAPS: RetentionItem[] = TIMES.map((t, i) => ({ id: id(i + 1), time: new Date(`${t}Z`), tags: TAGS[id(i + 1)] ?? [] }));
/** "s30 s29" → ids; "30-19" → s30 … s19 (newest first). */
function ids(spec: string): string[] {
  return spec.split(' ').filter(Boolean).flatMap((part) => {
    const m = /^(\d+)-(\d+)$/.exec(part);
    if (!m) return [part];
    const out: string[] = [];
    for (let n = Number(m[1]); n >= Number(m[2]); n--) out.push(id(n));
    return out;
  });
}
const item = (name: string, time: string, tags: string[] = []): RetentionItem => ({ id: name, time: new Date(time), tags });
function kept(policy: RetentionPolicy, items: readonly RetentionItem[] = SNAPS, options: RetentionOptions = {}): string[] {
  return applyRetention(items, policy, { clock, ...options }).keep.map((k) => k.item.id);
}

describe('applyRetention: table', () => {
  const untagged = ids('30-1').filter((s) => !(s in TAGS));
  const cases: { name: string; policy: RetentionPolicy; keep: string[] }[] = [
    { name: 'keep-last 3', policy: { last: 3 }, keep: ids('s30 s29 s28') },
    { name: 'keep-hourly 3', policy: { hourly: 3 }, keep: ids('s30 s29 s28') },
    { name: 'keep-daily 7: two the same day keep the newest', policy: { daily: 7 }, keep: ids('s30 s29 s27 s26 s25 s24 s23') },
    { name: 'keep-weekly 4: ISO weeks run Monday to Sunday', policy: { weekly: 4 }, keep: ids('s30 s26 s21 s19') },
    { name: 'keep-monthly 12', policy: { monthly: 12 }, keep: ids('s30 18-8') },
    { name: 'keep-yearly 2', policy: { yearly: 2 }, keep: ids('s30 s12') },
    { name: 'keep-yearly 3 also keeps the oldest (counts left)', policy: { yearly: 3 }, keep: ids('s30 s12 s01') },
    { name: 'last 3 + daily 7 + weekly 4 + monthly 12', policy: { last: 3, daily: 7, weekly: 4, monthly: 12 }, keep: ids('30-23 s21 19-8') },
    { name: 'daily 7 + weekly 5 + monthly 12 (example config)', policy: { daily: 7, weekly: 5, monthly: 12 }, keep: ids('s30 s29 27-23 s21 19-8') },
    { name: 'keep-within 2d', policy: { within: parseKeepWithin('2d') }, keep: ids('30-27') },
    { name: 'keep-within excludes a snapshot exactly at the cutoff', policy: { within: parseKeepWithin('1d22h') }, keep: ids('30-28') },
    { name: 'keep-within 1m (calendar month)', policy: { within: parseKeepWithin('1m') }, keep: ids('30-19') },
    { name: 'keep-within 1y', policy: { within: parseKeepWithin('1y') }, keep: ids('30-12') },
    { name: 'keep-within-daily 1m', policy: { withinDaily: parseKeepWithin('1m') }, keep: ids('30-29 27-19') },
    { name: 'keep-within-daily excludes the cutoff too', policy: { withinDaily: parseKeepWithin('1d22h') }, keep: ids('30-29') },
    { name: 'keep-within-monthly 1y', policy: { withinMonthly: parseKeepWithin('1y') }, keep: ids('s30 18-13 s12') },
    { name: 'keep-tag important', policy: { tags: ['important'] }, keep: ids('s20 s10') },
    { name: 'keep-tag "important,db" needs both tags', policy: { tags: ['important, db'] }, keep: ids('s10') },
    { name: 'keep-tag important, keep-tag db', policy: { tags: ['important', 'db'] }, keep: ids('s25 s20 s10') },
    { name: 'keep-tag "" keeps untagged snapshots', policy: { tags: [''] }, keep: untagged },
    { name: 'keep-daily -1 (unlimited)', policy: { daily: -1 }, keep: ids('30-29 27-1') },
    { name: 'keep-monthly -1 (unlimited)', policy: { monthly: -1 }, keep: ids('s30 18-1') },
    { name: 'keep-last -1 (unlimited)', policy: { last: -1 }, keep: ids('30-1') },
    { name: 'empty policy keeps everything', policy: {}, keep: ids('30-1') },
    { name: 'zero counts and durations are an empty policy', policy: { last: 0, within: parseKeepWithin('') }, keep: ids('30-1') },
  ];
  for (const c of cases) {
    it(c.name, () => {
      assert.deepEqual(kept(c.policy, [...SNAPS].reverse()), c.keep);
      assert.deepEqual(kept(c.policy), c.keep, 'input order does not matter');
    });
  }

  it('lists every reason, in restic wording and order', () => {
    const policy: RetentionPolicy = { last: 3, daily: 7, weekly: 4, monthly: 12, yearly: 3, within: parseKeepWithin('2d'), tags: ['important'], withinDaily: parseKeepWithin('1d') };
    const reasons = new Map(applyRetention(SNAPS, policy, { clock }).keep.map((k) => [k.item.id, k.reasons]));
    assert.deepEqual(reasons.get('s30'), ['within 2d', 'last snapshot', 'daily snapshot', 'weekly snapshot', 'monthly snapshot', 'yearly snapshot', 'daily within 1d']);
    assert.deepEqual(reasons.get('s27'), ['within 2d', 'daily snapshot']);
    assert.deepEqual(reasons.get('s10'), ['has tags [important]', 'monthly snapshot']);
    assert.deepEqual(reasons.get('s01'), ['oldest yearly snapshot']);
    assert.deepEqual(applyRetention(SNAPS, {}, { clock }).keep[0]?.reasons, ['policy is empty']);
    assert.deepEqual(applyRetention(SNAPS, { monthly: -1 }, { clock }).keep.at(-1)?.reasons, ['monthly snapshot']);
  });
});

describe('applyRetention: edges', () => {
  it('uses ISO week-years (2020-W53 spans New Year; 2024-12-30 is 2025-W01)', () => {
    const a = [item('x', '2020-12-28T12:00Z'), item('y', '2021-01-03T12:00Z'), item('z', '2021-01-04T12:00Z')];
    assert.deepEqual(kept({ weekly: 2 }, a), ['z', 'y']);
    const b = [item('a', '2024-12-29T12:00Z'), item('b', '2024-12-30T12:00Z'), item('c', '2025-01-02T12:00Z')];
    assert.deepEqual(kept({ weekly: 2 }, b), ['c', 'a']);
  });
  it('keep-within counts from the newest snapshot, not from now', () => {
    assert.deepEqual(kept({ within: parseKeepWithin('2d') }, SNAPS, { clock: fixedClock('2030-01-01T00:00:00Z') }), ids('30-27'));
  });
  it('keep-within ignores snapshots in the future as the reference (and keeps them)', () => {
    const withFuture = [...SNAPS, item('future', '2027-01-01T00:00Z')];
    assert.deepEqual(kept({ within: parseKeepWithin('2d') }, withFuture), ['future', ...ids('30-27')]);
  });
  it('keep-within months use calendar arithmetic like Go AddDate (Mar 31 − 1m = Mar 3)', () => {
    const a = [item('ref', '2025-03-31T12:00Z'), item('in', '2025-03-03T12:00:01Z'), item('edge', '2025-03-03T12:00Z'), item('out', '2025-02-28T12:00Z')];
    assert.deepEqual(kept({ within: parseKeepWithin('1m') }, a), ['ref', 'in']);
  });
  it('buckets in local time when asked', () => {
    const saved = process.env.TZ;
    process.env.TZ = 'America/New_York';
    try {
      const a = [item('A', '2025-12-23T03:00Z'), item('B', '2025-12-22T20:00Z'), item('C', '2025-12-20T12:00Z')];
      assert.deepEqual(kept({ daily: 2 }, a), ['A', 'B']);
      assert.deepEqual(kept({ daily: 2 }, a, { timeZone: 'local' }), ['A', 'C']);
    } finally {
      if (saved === undefined) delete process.env.TZ;
      else process.env.TZ = saved;
    }
  });
  it('equal times keep their input order', () => {
    const a = [item('first', '2025-01-01T00:00Z'), item('second', '2025-01-01T00:00Z')];
    assert.deepEqual(kept({ last: 1 }, a), ['first']);
  });
  it('handles no snapshots', () => {
    assert.deepEqual(applyRetention([], { last: 3 }, { clock }), { keep: [], remove: [] });
  });
  it('rejects counts below -1 or fractional, and negative durations', () => {
    assert.throws(() => applyRetention(SNAPS, { last: -2 }), RangeError);
    assert.throws(() => applyRetention(SNAPS, { daily: 1.5 }), RangeError);
    assert.throws(() => applyRetention(SNAPS, { within: { years: 0, months: 0, days: -1, hours: 0 } }), RangeError);
    assert.throws(() => applyRetention([item('x', 'not a date')], { last: 1 }), /snapshot x/);
  });
});

describe('parseKeepWithin, isEmptyPolicy, policyFromConfig', () => {
  it('parses restic durations', () => {
    assert.deepEqual(parseKeepWithin('1y2m3d4h'), { years: 1, months: 2, days: 3, hours: 4 });
    assert.deepEqual(parseKeepWithin(' 36h '), { years: 0, months: 0, days: 0, hours: 36 });
    assert.deepEqual(parseKeepWithin('2d1y'), { years: 1, months: 0, days: 2, hours: 0 });
    assert.deepEqual(parseKeepWithin(''), { years: 0, months: 0, days: 0, hours: 0 });
    for (const bad of ['5', 'd', '5w', '30s', '-1d', '1.5d', '1 d']) assert.throws(() => parseKeepWithin(bad), /keep-within/, bad);
  });
  it('knows an empty policy', () => {
    assert.equal(isEmptyPolicy({}), true);
    assert.equal(isEmptyPolicy({ last: 0, tags: [], within: parseKeepWithin('0d') }), true);
    assert.equal(isEmptyPolicy({ last: -1 }), false);
    assert.equal(isEmptyPolicy({ tags: ['x'] }), false);
    assert.equal(isEmptyPolicy({ withinYearly: parseKeepWithin('1h') }), false);
  });
  it('maps the config block', () => {
    assert.deepEqual(policyFromConfig({ keep_last: 10, keep_daily: 14, keep_monthly: 12 }), { last: 10, daily: 14, monthly: 12 });
    assert.deepEqual(
      policyFromConfig({ keep_hourly: 1, keep_weekly: 2, keep_yearly: -1, keep_within: '2d', keep_within_weekly: '1y', keep_tag: ['a', 'b,c'] }),
      { hourly: 1, weekly: 2, yearly: -1, within: parseKeepWithin('2d'), withinWeekly: parseKeepWithin('1y'), tags: ['a', 'b,c'] },
    );
    assert.deepEqual(policyFromConfig({ keep_tag: 'a' }), { tags: ['a'] });
  });
  it('throws on unknown keys, naming them', () => {
    assert.throws(() => policyFromConfig({ keep_last: 1, full: 4 }), /"full"/);
    assert.throws(() => policyFromConfig({ keep_lastest: 1 }), /"keep_lastest"/);
    assert.throws(() => policyFromConfig({ keep_last: '1' }), /"keep_last"/);
  });
});

describe('applyRetention: properties', () => {
  const propClock = fixedClock('2026-06-01T00:00:00Z'); // some generated snapshots lie in its future
  const record = fc.record({
    time: fc.date({ min: new Date('2020-01-01T00:00:00Z'), max: new Date('2026-12-31T00:00:00Z'), noInvalidDate: true }),
    tags: fc.subarray(['a', 'b', 'c']),
  });
  const withIds = (rs: { time: Date; tags: string[] }[]): RetentionItem[] => rs.map((r, i) => ({ id: `i${i}`, ...r }));
  const itemsArb = fc.array(record, { maxLength: 60 }).map(withIds);
  const count = fc.option(fc.integer({ min: -1, max: 8 }), { nil: undefined });
  const dur = fc.option(fc.record({ years: fc.nat(1), months: fc.nat(3), days: fc.nat(10), hours: fc.nat(48) }), { nil: undefined });
  const policyArb: fc.Arbitrary<RetentionPolicy> = fc.record(
    { last: count, hourly: count, daily: count, weekly: count, monthly: count, yearly: count, within: dur, withinHourly: dur, withinDaily: dur, withinWeekly: dur, withinMonthly: dur, withinYearly: dur, tags: fc.subarray(['a', 'b', 'a,b', 'c', '']) },
    { requiredKeys: [] },
  );
  const run = (items: readonly RetentionItem[], p: RetentionPolicy) => applyRetention(items, p, { clock: propClock });
  const keptIds = (items: readonly RetentionItem[], p: RetentionPolicy) => new Set(run(items, p).keep.map((k) => k.item.id));

  it('kept ∪ removed = input, disjoint, newest first, every kept one has a reason', () => {
    fc.assert(fc.property(itemsArb, policyArb, (items, p) => {
      const d = run(items, p);
      const all = [...d.keep.map((k) => k.item), ...d.remove];
      assert.deepEqual(all.map((i) => i.id).sort(), items.map((i) => i.id).sort());
      assert.equal(new Set(all).size, items.length);
      for (const list of [d.keep.map((k) => k.item), d.remove]) {
        for (let i = 1; i < list.length; i++) assert.ok(list[i - 1]!.time >= list[i]!.time);
      }
      assert.ok(d.keep.every((k) => k.reasons.length > 0));
    }));
  });
  it('keep-last n keeps exactly the min(n, len) newest', () => {
    fc.assert(fc.property(itemsArb, fc.integer({ min: 1, max: 70 }), (items, n) => {
      const d = run(items, { last: n });
      assert.equal(d.keep.length, Math.min(n, items.length));
      const oldestKept = Math.min(...d.keep.map((k) => k.item.time.getTime()));
      assert.ok(d.remove.every((r) => r.time.getTime() <= oldestKept));
    }));
  });
  it('the newest snapshot is always kept when a count rule is set', () => {
    const rule = fc.constantFrom('last', 'hourly', 'daily', 'weekly', 'monthly', 'yearly');
    fc.assert(fc.property(itemsArb.filter((a) => a.length > 0), policyArb, rule, fc.constantFrom(-1, 1, 2, 5), (items, p, r, n) => {
      const newest = Math.max(...items.map((i) => i.time.getTime()));
      assert.equal(run(items, { ...p, [r]: n }).keep[0]?.item.time.getTime(), newest);
    }));
  });
  it('adding a rule to a non-empty policy never removes more', () => {
    fc.assert(fc.property(itemsArb, policyArb, policyArb, (items, p, extra) => {
      fc.pre(!isEmptyPolicy(p));
      const defined = Object.fromEntries(Object.entries(p).filter(([, v]) => v !== undefined && (!Array.isArray(v) || v.length > 0)));
      const q: RetentionPolicy = { ...extra, ...defined, tags: [...(p.tags ?? []), ...(extra.tags ?? [])] };
      const before = keptIds(items, p);
      const after = keptIds(items, q);
      for (const k of before) assert.ok(after.has(k), `${k} lost`);
    }));
  });
  it('does not depend on input order when times are distinct', () => {
    const distinct = fc.uniqueArray(record, { maxLength: 60, selector: (r) => r.time.getTime() }).map(withIds);
    fc.assert(fc.property(distinct, policyArb, (items, p) => {
      assert.deepEqual(run([...items].reverse(), p), run(items, p));
    }));
  });
});
