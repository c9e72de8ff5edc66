import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildReport } from './build-report.js';
import { escapeHtml } from './escape-html.js';
import { renderHtml } from './render-html.js';
import { NOW, config, entry, snap, source, states } from './testing.js';

const HOUR = 3_600_000;
const since = new Date(NOW.getTime() - 7 * 24 * HOUR);

/** Every reference to another file a browser would follow: src/href/xlink:href/action attributes, CSS url() and @import. */
function externalReferences(html: string): string[] {
  const tags = html.match(/<[^>]+>/g) ?? [];
  const attrs = tags.flatMap((t) => [...t.matchAll(/\b(?:src|href|xlink:href|action|data|poster|srcset)\s*=\s*("[^"]*"|'[^']*'|[^\s>]+)/gi)].map((m) => m[1]!.replace(/^["']|["']$/g, '')));
  const css = [...html.matchAll(/<style[^>]*>([\s\S]*?)<\/style>/gi)].flatMap((m) => [...m[1]!.matchAll(/url\(([^)]*)\)|@import\s+([^;]+)/gi)].map((u) => u[1] ?? u[2] ?? ''));
  return [...attrs.filter((a) => !a.startsWith('#')), ...css];
}

function report(name = 'app', error = '1 of 2 checks failed: sql: select 0: returned 0'): string {
  const snapshots = [snap(name, 26 * 60, { bytes: 3 * 1024 * 1024 }), snap(name, 2 * 60, { bytes: 4 * 1024 * 1024 }), snap(name, 60, { complete: false, warnings: ['/srv/app/x: permission denied'] })];
  const journal = [entry('drill', name, 50, { figures: { rto_seconds: 40, rto_objective_seconds: 600 } }), entry('drill', name, 30, { ok: false, error, figures: { rto_seconds: 700, rto_objective_seconds: 600 } }), entry('check', null, 20)];
  return renderHtml(buildReport(config([source(name, { rpo: 4 * HOUR, rto: 600_000 })]), states({ snapshots, journal }), NOW, since));
}

test('html: one self-contained document — inline style, no script, no external file, no http(s) reference outside the text', () => {
  const html = report();
  assert.match(html, /^<!doctype html>\n<html lang="en">/);
  assert.match(html, /<meta charset="utf-8">/);
  assert.match(html, /<style>[\s\S]+<\/style>/);
  assert.doesNotMatch(html, /<script|<link|<img|<iframe|<object|<embed/i);
  assert.deepEqual(externalReferences(html), []);
  const markup = (html.match(/<[^>]+>/g) ?? []).join('') + (html.match(/<style>[\s\S]*?<\/style>/)?.[0] ?? '');
  assert.doesNotMatch(markup, /https?:/i, 'no URL in any tag or in the stylesheet (inline SVG needs no xmlns)');
});

test('html: four charts per source, each an accessible SVG (title, desc) with an objective line and its numbers in <details>', () => {
  const html = report();
  const svgs = html.match(/<svg[\s\S]*?<\/svg>/g) ?? [];
  assert.equal(svgs.length, 4);
  for (const svg of svgs) {
    const ids = /aria-labelledby="([^"]+) ([^"]+)"/.exec(svg);
    assert.ok(ids, 'labelled by its title and desc');
    assert.match(svg, new RegExp(`<title id="${ids[1]}">[^<]+</title>`));
    assert.match(svg, new RegExp(`<desc id="${ids[2]}">[^<]+</desc>`));
    assert.match(svg, /role="img"/);
  }
  assert.deepEqual(svgs.map((s) => /<title id="[^"]+">([^<]+)<\/title>/.exec(s)![1]), ['Backup size of app', 'Backup duration of app', 'RPO exposure of app', 'Drill restore time of app']);
  assert.match(svgs[2]!, /stroke-dasharray="6 4"/);
  assert.match(svgs[2]!, />RPO 4h 00m</);
  assert.match(svgs[3]!, />RTO 10m</);
  assert.match(svgs[3]!, /fill="#dc2626"><title>[^<]+failed<\/title>/, 'the failed drill in red');
  assert.equal((html.match(/<figure>[\s\S]*?<details><summary>[^<]+<\/summary>(<table>|<p)/g) ?? []).length, 4);
  // the drill table of the RTO chart holds the measured numbers
  assert.match(html, /<tr><td>2026-11-29 11:30:00Z<\/td><td>11m \/ 10m<\/td><td>failed<\/td><\/tr>/);
});

test('html: the verdict in words, the failing drill with its cause, the incomplete backup with its warning', () => {
  const html = report();
  assert.match(html, /<span class="verdict violated">violated<\/span>/);
  assert.match(html, /<span class="failed">failed<\/span>: 1 of 2 checks failed: sql: select 0: returned 0/);
  assert.match(html, /<td>incomplete backup<\/td><td><code>[0-9a-f]{8}<\/code><\/td><td>\/srv\/app\/x: permission denied<\/td>/);
  assert.match(html, /<li>last drill \([^)]+\) failed: 1 of 2 checks failed/);
});

test('html: a source name or an error holding <script> is escaped everywhere, in text, attributes and charts', () => {
  const evil = '<script>alert("x")</script>';
  const html = report(evil, `checks failed: <script>steal()</script> & "quotes" 'too'`);
  assert.doesNotMatch(html, /<script/i);
  assert.match(html, /&lt;script&gt;alert\(&quot;x&quot;\)&lt;\/script&gt;/);
  assert.match(html, /checks failed: &lt;script&gt;steal\(\)&lt;\/script&gt; &amp; &quot;quotes&quot; &#39;too&#39;/);
  assert.match(html, /<title id="s0-size-title">Backup size of &lt;script&gt;/);
  assert.equal(escapeHtml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  assert.deepEqual(externalReferences(html), []);
});
