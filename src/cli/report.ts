/** `safepoint report`: the state of the backups over a period, per source, as Markdown, HTML or JSON (src/report/). */
import type { Command } from 'commander';
import { writeAtomically } from '../util/write-atomic.js';
import { extname } from 'node:path';
import { findSource } from '../config/lookup.js';
import { parseDuration } from '../config/duration.js';
import { buildReport, renderHtml, renderJson, renderMarkdown, type ReportData } from '../report/index.js';
import { systemClock } from '../util/clock.js';
import { UsageError } from '../util/errors.js';
import type { Context } from './context.js';
import { readRepositories } from './status.js';

interface ReportFlags {
  format?: string;
  out?: string;
  since?: string;
  source?: string;
}

const RENDERERS: Readonly<Record<string, (d: ReportData) => string>> = { md: renderMarkdown, html: renderHtml, json: renderJson };
const EXTENSIONS: Readonly<Record<string, string>> = { '.md': 'md', '.markdown': 'md', '.html': 'html', '.htm': 'html', '.json': 'json' };
export const DEFAULT_PERIOD = '30d';

export function registerReport(program: Command, ctx: () => Context): void {
  program
    .command('report')
    .description('the state of the backups per source over a period: verdicts, last backups, sizes and durations over time, RPO exposure, checks, drills against the RTO, failures and their causes, immutability; HTML (one offline file with charts), Markdown or JSON')
    .option('--format <format>', 'md, html or json (default: from the --out extension, else md)')
    .option('--out <file>', 'write the report to this file instead of stdout')
    .option('--since <time>', `start of the period: an ISO 8601 time, or how far back from now (30d, 12h, 2w); default ${DEFAULT_PERIOD}`)
    .option('--source <name>', 'only this source')
    .action(async (f: ReportFlags) => {
      process.exitCode = await runReport(ctx(), f);
    });
}

/** The format asked for, else the one the output file's name suggests, else Markdown. */
export function reportFormat(format: string | undefined, out: string | undefined): string {
  if (format !== undefined) {
    if (!Object.hasOwn(RENDERERS, format)) throw new UsageError(`--format ${format}: expected md, html or json`);
    return format;
  }
  return (out !== undefined ? EXTENSIONS[extname(out).toLowerCase()] : undefined) ?? 'md';
}

/** `--since`: an ISO time (`2026-11-01`, `2026-11-01T04:00:00Z`) or a duration back from now (`30d`). */
export function parseSince(text: string, now: Date): Date {
  const expected = 'expected an ISO 8601 time such as 2026-11-01T00:00:00Z or a duration back from now such as 30d';
  let at: number;
  if (/^\d{4}-\d{2}-\d{2}/.test(text.trim())) at = Date.parse(text.trim());
  else {
    try {
      at = now.getTime() - parseDuration(text);
    } catch (err) {
      throw new UsageError(`--since ${text}: ${expected}`, { cause: err });
    }
  }
  if (Number.isNaN(at)) throw new UsageError(`--since ${text}: ${expected}`);
  if (at > now.getTime()) throw new UsageError(`--since ${text}: the period would start in the future`);
  return new Date(at);
}

async function runReport(c: Context, f: ReportFlags): Promise<number> {
  const format = reportFormat(f.format, f.out);
  const now = systemClock.now();
  const since = parseSince(f.since ?? DEFAULT_PERIOD, now);
  const cfg = await c.requireConfig();
  const sources = f.source !== undefined ? [findSource(cfg, f.source)] : cfg.sources;
  // the report may be stdout itself: progress on the terminal only
  const states = await readRepositories(c, sources, { operation: 'report', events: false });
  const data = buildReport({ ...cfg, sources }, states, now, since);
  const text = RENDERERS[format]!(data);
  if (f.out === undefined) {
    process.stdout.write(text);
    return 0;
  }
  // a report a web server or a ticket picks up is never seen half-written
  await writeAtomically(f.out, text);
  const s = data.summary;
  c.out.event({ message_type: 'report', format, file: f.out, report_version: data.report_version, since: data.period.since, until: data.period.until, sources: s.sources, ok: s.ok, at_risk: s.at_risk, violated: s.violated });
  c.out.info(`report written to ${f.out} (${format}): ${s.sources} sources, ${s.ok} ok, ${s.at_risk} at risk, ${s.violated} violated`);
  return 0;
}
