/** The report as Markdown, for a git host or a ticket: a summary on top, then one section of tables per source. */
import type { ReportData, SourceReport } from './model.js';
import { codeSpan, mdMessage, mdTable, mdText } from './markdown-text.js';
import { activityLine, against, age, bytes, complianceLine, exposureNow, lastCheck, lastDrill, objective, percent, periodLength, snapshot, verdictLine, when } from './words.js';

/** A time from the data, escaped like any text from it. */
const time = (iso: string): string => mdText(when(iso));

export function renderMarkdown(d: ReportData): string {
  const lines = [
    `# Backup report: ${mdText(d.project)}`,
    '',
    `Generated ${time(d.generated)}, covering ${time(d.period.since)} to ${time(d.period.until)} (${periodLength(d)}).`,
    '',
    `**${verdictLine(d)}** ${activityLine(d)}`,
    '',
    ...d.sources.filter((s) => s.verdict !== 'ok').map((s) => `- **${mdText(s.name)}** is **${s.verdict}**: ${s.reasons.map(mdMessage).join('; ')}`),
    ...(d.sources.some((s) => s.verdict !== 'ok') ? [''] : []),
    ...(d.sources.length === 0
      ? ['No sources in the configuration.']
      : mdTable(
          ['Source', 'Type', 'Verdict', 'Exposure / RPO', 'Last drill / RTO', 'Last check', 'Immutability'],
          d.sources.map((s) => [mdText(s.name), s.type, `**${s.verdict}**`, exposureNow(s), lastDrill(s), lastCheck(s, d.generated), s.immutability.state]),
        )),
    ...d.sources.flatMap((s) => ['', ...section(s)]),
    '',
    `<sub>safepoint report v${d.report_version}; the same data: \`safepoint report --format json\`.</sub>`,
    '',
  ];
  return lines.join('\n');
}

function section(s: SourceReport): string[] {
  const none = (what: string): string[] => [`No ${what} in the period.`];
  const paths = s.last_backups[0]?.paths ?? [];
  return [
    `## ${mdText(s.name)}`,
    '',
    `Verdict: **${s.verdict}**. A ${s.type} source in repository ${codeSpan(s.repository)}.`,
    ...(s.reasons.length > 0 ? ['', ...s.reasons.map((r) => `- ${mdMessage(r)}`)] : []),
    '',
    `Backs up: ${paths.length === 0 ? 'nothing yet' : paths.map(codeSpan).join(', ')}.`,
    '',
    `Objectives: RPO ${objective(s.objectives.rpo_seconds)}, RTO ${objective(s.objectives.rto_seconds)}. Immutability: **${s.immutability.state}**, ${mdText(s.immutability.detail)}.`,
    '',
    `RPO compliance: ${complianceLine(s)}`,
    '',
    '### Last backups',
    '',
    ...(s.last_backups.length === 0
      ? none('backups')
      : mdTable(
          ['Time', 'Snapshot', 'Type', 'Processed', 'Added', 'Duration', 'Complete'],
          s.last_backups.map((b) => [time(b.time), codeSpan(snapshot(b.snapshot_id)), `${mdText(b.type)}${b.tags.length > 0 ? ` (${b.tags.map(mdText).join(', ')})` : ''}`, bytes(b.bytes_processed), bytes(b.data_added), age(b.duration_seconds), b.complete ? 'yes' : '**no**']),
        )),
    '',
    '### Drills',
    '',
    ...(s.drills.length === 0
      ? none('drills')
      : mdTable(
          ['Time', 'Snapshot', 'Restore time / RTO', 'Result'],
          s.drills.map((x) => [time(x.time), codeSpan(snapshot(x.snapshot_id)), against(x.rto_seconds, x.rto_objective_seconds), x.ok ? 'passed' : `**failed**: ${mdMessage(x.error ?? 'no cause recorded')}`]),
        )),
    '',
    '### Checks',
    '',
    ...(s.checks.length === 0
      ? none(`checks of repository ${codeSpan(s.repository)}`)
      : mdTable(
          ['Time', 'Data read', 'Result'],
          s.checks.map((c) => [time(c.time), percent(c.read_data_share), c.ok ? 'no errors' : `**failed**: ${mdMessage(c.error ?? 'see the journal')}`]),
        )),
    ...(s.recoveries.length === 0
      ? []
      : ['', '### Restores and rollbacks', '', ...mdTable(
          ['Time', 'Operation', 'To', 'Duration', 'Result'],
          s.recoveries.map((r) => [time(r.time), mdText(r.operation), r.target === null ? '-' : mdText(r.target), r.seconds === null ? '-' : age(r.seconds), r.ok ? 'done' : `**failed**: ${mdMessage(r.error ?? 'see the journal')}`]),
        )]),
    '',
    '### Failures',
    '',
    ...(s.failures.length === 0
      ? none('failures')
      : mdTable(['Time', 'What', 'Snapshot', 'Cause'], s.failures.map((f) => [time(f.time), mdText(f.what), codeSpan(snapshot(f.snapshot_id)), mdMessage(f.cause)]))),
  ];
}
