import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildReport } from './build-report.js';
import { mdMessage, mdTable, mdText } from './markdown-text.js';
import { renderMarkdown } from './render-markdown.js';
import { NOW, config, entry, snap, source, states } from './testing.js';

const HOUR = 3_600_000;
const since = new Date(NOW.getTime() - 30 * 24 * HOUR);

function sample(): string {
  const snapshots = [snap('app', 120, { bytes: 2 * 1024 * 1024, added: 512 * 1024, seconds: 4 }), snap('app', 20), snap('db', 30)];
  const journal = [
    entry('drill', 'app', 15, { figures: { rto_seconds: 12.5, rto_objective_seconds: 900 }, inputs: { snapshot_id: snapshots[1]!.id } }),
    entry('drill', 'db', 14, { ok: false, error: '1 of 3 checks failed: sql: select 0: returned 0', figures: { rto_seconds: 1.2, rto_objective_seconds: 900 } }),
    entry('check', null, 10, { figures: { read_data_share: 0.1 } }),
  ];
  return renderMarkdown(buildReport(config([source('app', { rpo: HOUR, rto: 900_000 }), source('db', { rpo: HOUR, rto: 900_000, type: 'sqlite' })]), states({ snapshots, journal }), NOW, since));
}

test('markdown: a title, the period, a one-line summary and the sources needing attention at the top, then the overview table', () => {
  const md = sample();
  const lines = md.split('\n');
  assert.equal(lines[0], '# Backup report: shop');
  assert.match(lines[2]!, /^Generated 2026-11-29 12:00:00Z, covering 2026-10-30 12:00:00Z to 2026-11-29 12:00:00Z \(30d 0h\)\.$/);
  assert.equal(lines[4], '**2 sources: 1 ok, 0 at risk, 1 violated.** 3 backups, 2 drills (1 failed), 1 failure in the period.');
  assert.match(lines[6]!, /^- \*\*db\*\* is \*\*violated\*\*: last drill \(.*\) failed: 1 of 3 checks failed: sql: select 0: returned 0$/);
  assert.equal(lines[8], '| Source | Type | Verdict | Exposure / RPO | Last drill / RTO | Last check | Immutability |');
  assert.match(md, /^\| app \| files \| \*\*ok\*\* \| 19m \/ 1h 00m \| 13s \/ 15m \| ok 10m ago \| none \|$/m);
  assert.match(md, /^\| db \| sqlite \| \*\*violated\*\* \| 29m \/ 1h 00m \| FAILED 1\.2s \/ 15m \| ok 10m ago \| none \|$/m);
  assert.doesNotMatch(md, /\p{Extended_Pictographic}/u, 'words, not emoji');
});

test('markdown: each source has its backups, drills, checks and failures as tables with the numbers', () => {
  const md = sample();
  assert.match(md, /^## app$/m);
  assert.match(md, /^\| 2026-11-29 10:00:00Z \| `[0-9a-f]{8}` \| full \| 2\.00 MiB \| 512 KiB \| 4s \| yes \|$/m);
  assert.match(md, /^\| 2026-11-29 11:45:00Z \| `[0-9a-f]{8}` \| 13s \/ 15m \| passed \|$/m);
  assert.match(md, /^\| 2026-11-29 11:46:00Z \| `-` \| 1\.2s \/ 15m \| \*\*failed\*\*: 1 of 3 checks failed: sql: select 0: returned 0 \|$/m);
  assert.match(md, /^\| 2026-11-29 11:50:00Z \| 10% \| no errors \|$/m);
  assert.match(md, /^RPO compliance: worst exposure 1h 40m against an RPO of 1h 00m, within the RPO [\d.]+% of the time; 1 breach\.$/m);
  assert.match(md, /^No failures in the period\.$/m);
  // every table row has as many cells as its header
  for (const block of md.split(/\n\n/).filter((b) => b.startsWith('| '))) {
    const counts = block.split('\n').map((l) => l.split(/(?<!\\)\|/).length);
    assert.ok(counts.every((n) => n === counts[0]), block);
  }
});

test('markdown: text from the data cannot add markup, links, HTML or table cells; quoted commands stay code', () => {
  assert.equal(mdText('a|b <script>alert(1)</script> *x* _y_ [l](u) & `c`'), 'a\\|b &lt;script&gt;alert(1)&lt;/script&gt; \\*x\\* \\_y\\_ \\[l\\](u) &amp; \\`c\\`');
  assert.equal(mdMessage('never drilled (run `safepoint drill --source a_b`) <b>'), 'never drilled (run `safepoint drill --source a_b`) &lt;b&gt;');
  assert.equal(mdMessage('odd ` backtick'), 'odd \\` backtick');
  assert.deepEqual(mdTable(['a', 'b'], [['`x|y`', 'z\nw']]), ['| a | b |', '|---|---|', '| `x\\|y` | z w |']);
  const evil = source('<script>alert(1)</script>|x', { rpo: HOUR });
  const md = renderMarkdown(buildReport(config([evil]), states({ journal: [entry('drill', evil.name, 5, { ok: false, error: '<img src=x onerror=alert(1)>' })] }), NOW, since));
  assert.doesNotMatch(md, /<script>|<img/);
  assert.match(md, /&lt;script&gt;alert\(1\)&lt;\/script&gt;\\\|x/);
});
