/**
 * The report as one self-contained HTML file that opens offline: inline CSS, charts as inline SVG, no script, no
 * external font, image or stylesheet. Every text from the data goes through escapeHtml.
 */
import { escapeHtml } from './escape-html.js';
import { REPORT_CSS } from './html-style.js';
import type { ReportData, SourceReport } from './model.js';
import { sourceCharts, type SourceChart } from './source-charts.js';
import { svgChart } from './svg-chart.js';
import { activityLine, against, age, bytes, complianceLine, exposureNow, lastCheck, lastDrill, objective, percent, periodLength, snapshot, verdictLine, when } from './words.js';

const e = escapeHtml;
const time = (iso: string): string => e(when(iso));
const verdict = (v: SourceReport['verdict']): string => `<span class="verdict ${v.replace(' ', '-')}">${v}</span>`;
const failed = (why: string | null, fallback: string): string => `<span class="failed">failed</span>: ${message(why ?? fallback)}`;

/** A message that quotes commands in backticks: escaped, with the quoted parts as <code>. */
function message(text: string): string {
  const parts = text.split(/`([^`\n]+)`/);
  return parts.map((p, i) => (i % 2 === 1 ? `<code>${e(p)}</code>` : e(p))).join('');
}

/** A table; cells are HTML already. Columns named in `numeric` are right-aligned. */
function table(head: readonly string[], rows: readonly (readonly string[])[], numeric: readonly number[] = []): string {
  const cls = (i: number): string => (numeric.includes(i) ? ' class="num"' : '');
  return [
    '<table>',
    `<thead><tr>${head.map((h, i) => `<th scope="col"${cls(i)}>${h}</th>`).join('')}</tr></thead>`,
    `<tbody>${rows.map((r) => `<tr>${r.map((c, i) => `<td${cls(i)}>${c}</td>`).join('')}</tr>`).join('\n')}</tbody>`,
    '</table>',
  ].join('\n');
}

export function renderHtml(d: ReportData): string {
  const title = `Backup report: ${d.project}`;
  const attention = d.sources.map((s, i) => ({ s, i })).filter(({ s }) => s.verdict !== 'ok');
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<meta name="generator" content="safepoint report v${d.report_version}">`,
    `<title>${e(title)}</title>`,
    `<style>${REPORT_CSS}</style>`,
    '</head>',
    '<body>',
    '<header>',
    `<h1>${e(title)}</h1>`,
    `<p class="meta">Generated ${time(d.generated)}, covering ${time(d.period.since)} to ${time(d.period.until)} (${e(periodLength(d))}).</p>`,
    '</header>',
    '<main>',
    '<section aria-label="Summary">',
    `<p class="lead"><strong>${e(verdictLine(d))}</strong> ${e(activityLine(d))}</p>`,
    attention.length === 0 ? '' : `<ul>${attention.map(({ s, i }) => `<li><a href="#source-${i}">${e(s.name)}</a> is ${verdict(s.verdict)}: ${s.reasons.map(message).join('; ')}</li>`).join('\n')}</ul>`,
    d.sources.length === 0
      ? '<p>No sources in the configuration.</p>'
      : table(
          ['Source', 'Type', 'Verdict', 'Exposure / RPO', 'Last drill / RTO', 'Last check', 'Immutability'],
          d.sources.map((s, i) => [`<a href="#source-${i}">${e(s.name)}</a>`, e(s.type), verdict(s.verdict), e(exposureNow(s)), e(lastDrill(s)), e(lastCheck(s, d.generated)), e(s.immutability.state)]),
        ),
    '</section>',
    ...d.sources.map((s, i) => section(d, s, i)),
    '</main>',
    `<footer>safepoint report v${d.report_version}. The same data as JSON: <code>safepoint report --format json</code>. Charts: hover a point for its value; each has its numbers below it.</footer>`,
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

function section(d: ReportData, s: SourceReport, index: number): string {
  const none = (what: string): string => `<p class="muted">No ${what} in the period.</p>`;
  const paths = s.last_backups[0]?.paths ?? [];
  const facts: [string, string][] = [
    ['Backs up', paths.length === 0 ? 'nothing yet' : paths.map((x) => `<code>${e(x)}</code>`).join(', ')],
    ['Objectives', `RPO ${e(objective(s.objectives.rpo_seconds))}, RTO ${e(objective(s.objectives.rto_seconds))}`],
    ['Exposure now', e(exposureNow(s))],
    ['RPO compliance', e(complianceLine(s))],
    ['Last drill', e(lastDrill(s))],
    ['Last check', e(lastCheck(s, d.generated))],
    ['Immutability', `<strong>${e(s.immutability.state)}</strong>: ${e(s.immutability.detail)}`],
  ];
  return [
    `<section class="source" id="source-${index}" aria-labelledby="source-${index}-name">`,
    `<h2><span id="source-${index}-name">${e(s.name)}</span> ${verdict(s.verdict)}</h2>`,
    `<p class="muted">${e(s.type)} source in repository <code>${e(s.repository)}</code></p>`,
    s.reasons.length === 0 ? '' : `<ul class="reasons">${s.reasons.map((r) => `<li>${message(r)}</li>`).join('\n')}</ul>`,
    `<dl class="facts">${facts.map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join('')}</dl>`,
    `<div class="charts">${sourceCharts(s, d.period, index).map(figure).join('\n')}</div>`,
    '<h3>Last backups</h3>',
    s.last_backups.length === 0
      ? none('backups')
      : table(
          ['Time', 'Snapshot', 'Type', 'Read', 'Added', 'Duration', 'Complete'],
          s.last_backups.map((b) => [time(b.time), `<code>${e(snapshot(b.snapshot_id))}</code>`, `${e(b.type)}${b.tags.length > 0 ? ` (${e(b.tags.join(', '))})` : ''}`, e(bytes(b.bytes_processed)), e(bytes(b.data_added)), e(age(b.duration_seconds)), b.complete ? 'yes' : '<span class="failed">no</span>']),
          [3, 4, 5],
        ),
    '<h3>Drills</h3>',
    s.drills.length === 0
      ? none('drills')
      : table(
          ['Time', 'Snapshot', 'Restore time / RTO', 'Result'],
          s.drills.map((x) => [time(x.time), `<code>${e(snapshot(x.snapshot_id))}</code>${x.sampled_older ? ' (older sample)' : ''}`, e(against(x.rto_seconds, x.rto_objective_seconds)), x.ok ? 'passed' : failed(x.error, 'no cause recorded')]),
        ),
    '<h3>Checks</h3>',
    s.checks.length === 0
      ? none('checks of the repository')
      : table(['Time', 'Data read', 'Result'], s.checks.map((c) => [time(c.time), e(percent(c.read_data_share)), c.ok ? 'no errors' : failed(c.error, 'see the journal')])),
    s.recoveries.length === 0
      ? ''
      : `<h3>Restores and rollbacks</h3>\n${table(['Time', 'Operation', 'To', 'Duration', 'Result'], s.recoveries.map((r) => [time(r.time), e(r.operation), r.target === null ? '-' : e(r.target), r.seconds === null ? '-' : e(age(r.seconds)), r.ok ? 'done' : failed(r.error, 'see the journal')]))}`,
    '<h3>Failures</h3>',
    s.failures.length === 0
      ? none('failures')
      : table(['Time', 'What', 'Snapshot', 'Cause'], s.failures.map((f) => [time(f.time), e(f.what), `<code>${e(snapshot(f.snapshot_id))}</code>`, message(f.cause)])),
    '</section>',
  ].filter((x) => x !== '').join('\n');
}

/** A chart, its caption, and its numbers in a table for readers who cannot see it. */
function figure(c: SourceChart): string {
  return [
    '<figure>',
    `<figcaption>${e(c.spec.title)}</figcaption>`,
    svgChart(c.spec),
    `<details><summary>The numbers of this chart</summary>${c.table.rows.length === 0 ? '<p class="muted">No data in the period.</p>' : table(c.table.head.map(e), c.table.rows.map((r) => r.map(e)))}</details>`,
    '</figure>',
  ].join('\n');
}
