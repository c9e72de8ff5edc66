import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findPoint, formatPoint, parsePoint, pointTagName, safeLabel, type RestorePoint } from './restore-point.js';
import { isBreaking, majorReason, parseMajorRules } from './major.js';

const ID = (c: string): string => c.repeat(64);

test('a restore point survives its tag message: every part, unknown trailers ignored', () => {
  const p: RestorePoint = {
    tag: 'restore-point/20261129T071200Z-v1.4.0', commit: 'a'.repeat(40), created: '2026-11-29T07:12:00.412Z', host: 'web-1', label: 'v1.4.0', reason: 'tag v1.4.0',
    snapshots: [{ source: 'code-config', id: ID('1') }, { source: 'shop-db', id: ID('2') }],
    databases: [{ source: 'shop-db', kind: 'postgres', position: { snapshot: ID('2'), restore_point: 'safepoint-x', lsn: '0/3000148', timeline: '1' } }],
    bundle: { source: 'git:shop@files', id: ID('3') },
    missing: ['billing-db: cannot connect'],
  };
  const text = formatPoint(p);
  assert.deepEqual(parsePoint(p.tag, text), p);
  assert.deepEqual(parsePoint(p.tag, `${text}Future-Key: whatever\n`), p);
  assert.equal(parsePoint('restore-point/x', 'a tag someone else made\n\nwith text'), null);
  assert.equal(pointTagName('restore-point/', new Date('2026-11-29T07:12:00.999Z'), null), 'restore-point/20261129T071200Z');
  assert.throws(() => pointTagName('restore-point/', new Date(), '../x'), /--label/);
  for (const bad of ['a..b', 'x.', '-x', 'a'.repeat(41)]) assert.throws(() => pointTagName('restore-point/', new Date(), bad), /--label/, bad);
  // labels the hooks derive from tag names and reasons are always valid
  for (const [text, label] of [['v1.2.0', 'v1.2.0'], ['merge into main', 'merge-into-main'], ['release/2026..11.', 'release-2026.11'], ['...', null], [`v${'9'.repeat(50)}.`, `v${'9'.repeat(39)}`]] as const) {
    assert.equal(safeLabel(text), label, text);
    if (label) assert.doesNotThrow(() => pointTagName('restore-point/', new Date(), label));
  }
});

test('points are found by name, time part, prefix or latest; ambiguity names the candidates', () => {
  const pts = ['restore-point/20261128T100000Z', 'restore-point/20261129T071200Z-a', 'restore-point/20261129T081200Z-b'].map((tag) => ({ tag }));
  assert.equal(findPoint(pts, 'latest', 'restore-point/').tag, pts[2]!.tag);
  assert.equal(findPoint(pts, '20261128T100000Z', 'restore-point/').tag, pts[0]!.tag);
  assert.equal(findPoint(pts, 'restore-point/20261129T07', 'restore-point/').tag, pts[1]!.tag);
  assert.throws(() => findPoint(pts, '20261129', 'restore-point/'), /names 2 restore points/);
  assert.throws(() => findPoint(pts, 'nope', 'restore-point/'), /no restore point "nope"/);
  assert.throws(() => findPoint([], 'latest', 'restore-point/'), /no restore point yet/);
});

test('major commits: tags by glob, merges into a branch, breaking changes', () => {
  const rules = parseMajorRules([]);
  assert.equal(majorReason(rules, { kind: 'tag', name: 'v1.2.0' }), 'tag v1.2.0');
  assert.equal(majorReason(rules, { kind: 'tag', name: 'nightly-3' }), null);
  assert.equal(majorReason(rules, { kind: 'merge', branch: 'main' }), 'merge into main');
  assert.equal(majorReason(rules, { kind: 'merge', branch: 'dev' }), null);
  assert.equal(majorReason(rules, { kind: 'commit', branch: 'main', parents: 2, message: 'Merge branch x' }), 'merge into main');
  assert.equal(majorReason(rules, { kind: 'commit', branch: 'main', parents: 1, message: 'fix: typo' }), null);
  assert.equal(majorReason(parseMajorRules(['tag:release-*']), { kind: 'commit', branch: 'main', parents: 1, message: 'feat!: x' }), null);
  for (const m of ['feat!: drop v1', 'refactor(api)!: rename', 'feat: x\n\nBREAKING CHANGE: the API changed', 'fix: y\n\nBREAKING-CHANGE: z']) assert.ok(isBreaking(m), m);
  for (const m of ['feat: add', 'fix: mention BREAKING CHANGE in the subject only', 'feat!nope']) assert.ok(!isBreaking(m), m);
  assert.throws(() => parseMajorRules(['weekly']), /not a rule/);
});
