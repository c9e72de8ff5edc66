// Results of a benchmark run and their markdown rendering.

export const STEPS = [
  { key: 'initial', title: 'initial backup' },
  { key: 'unchanged', title: 'unchanged re-backup' },
  { key: 'changed', title: 'backup after 1% change' },
  { key: 'restore', title: 'restore latest (+ sync)' },
] as const;
export type StepKey = (typeof STEPS)[number]['key'];

export interface StepResult {
  seconds: number;
  rssMiB: number | null;
  bytes: number; // dataset bytes at that step (for MB/s)
  summary: Record<string, unknown> | null; // backup --json summary line
}

export interface ToolResult {
  name: string;
  version: string;
  steps: Partial<Record<StepKey, StepResult>>;
  repoBytes: number | null;
  verified: string | null;
  error: string | null;
}

export interface Report {
  date: string;
  machine: string;
  scale: number;
  dataset: string;
  mutation: string;
  notes: string[];
  skipped: string[];
  tools: ToolResult[];
}

const MiB = 1024 * 1024;
const fmt = (n: number, digits = 2): string => n.toFixed(digits);

function stepCells(tool: ToolResult | undefined, key: StepKey): string[] {
  const s = tool?.steps[key];
  if (!s) {
    const why = tool === undefined ? 'skipped' : tool.error ? 'failed' : '—';
    return [why, '', ''];
  }
  const rss = s.rssMiB === null ? '?' : fmt(s.rssMiB, 0);
  return [fmt(s.seconds), fmt(s.bytes / 1e6 / s.seconds, 1), rss];
}

/** a / b, marked against the target: time and memory ≤ 1.0, repository size ≤ 1.05 (the "within 5%"). */
function ratio(a: number | undefined | null, b: number | undefined | null, target = 1): string {
  if (a === undefined || a === null || b === undefined || b === null || b === 0) return 'n/a';
  const r = a / b;
  return `${fmt(r)} ${r <= target ? '✓' : '✗'}`;
}

function row(cells: string[]): string {
  return `| ${cells.join(' | ')} |`;
}

const summaryNumber = (s: StepResult | undefined, field: string): string => {
  const v = s?.summary?.[field];
  return typeof v === 'number' ? String(v) : '?';
};

export function renderReport(r: Report): string {
  const sp = r.tools.find((t) => t.name === 'safepoint');
  const rs = r.tools.find((t) => t.name === 'restic');
  const lines = [
    `# safepoint vs restic benchmark`,
    '',
    `- date: ${r.date}`,
    `- machine: ${r.machine}`,
    `- scale: ${r.scale} (SAFEPOINT_BENCH_SCALE)`,
    `- dataset: ${r.dataset}`,
    `- 1% change: ${r.mutation}`,
    ...r.tools.map((t) => `- ${t.name}: ${t.version}`),
    ...r.skipped.map((s) => `- ${s}`),
    '',
    row(['step', 'safepoint s', 'MB/s', 'RSS MiB', 'restic s', 'MB/s', 'RSS MiB', 'ratio time (safepoint/restic, ≤ 1.0 ✓)', 'ratio RSS (≤ 1.0 ✓)']),
    row(['---', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:']),
  ];
  for (const { key, title } of STEPS) {
    lines.push(row([title, ...stepCells(sp, key), ...stepCells(rs, key), ratio(sp?.steps[key]?.seconds, rs?.steps[key]?.seconds), ratio(sp?.steps[key]?.rssMiB, rs?.steps[key]?.rssMiB)]));
  }
  const size = (t: ToolResult | undefined): string => (t?.repoBytes == null ? 'n/a' : fmt(t.repoBytes / MiB, 1));
  lines.push(
    '',
    row(['repository size after 3 backups', 'safepoint MiB', 'restic MiB', 'ratio (≤ 1.05 ✓)']),
    row(['---', '---:', '---:', '---:']),
    row(['du (apparent bytes)', size(sp), size(rs), ratio(sp?.repoBytes, rs?.repoBytes, 1.05)]),
    '',
    row(['backup summary', 'files new', 'changed', 'unmodified', 'data added MiB']),
    row(['---', '---:', '---:', '---:', '---:']),
  );
  for (const t of r.tools) {
    for (const key of ['initial', 'unchanged', 'changed'] as const) {
      const s = t.steps[key];
      const added = s?.summary?.['data_added'];
      lines.push(row([`${t.name} ${key}`, summaryNumber(s, 'files_new'), summaryNumber(s, 'files_changed'),
        summaryNumber(s, 'files_unmodified'), typeof added === 'number' ? fmt(added / MiB, 1) : '?']));
    }
  }
  lines.push('');
  for (const t of r.tools) {
    if (t.verified) lines.push(`- ${t.name} restore verified: ${t.verified}`);
    if (t.error) lines.push(`- **${t.name} FAILED**: ${t.error.split('\n')[0] ?? ''}`);
  }
  lines.push('', 'Notes:', ...r.notes.map((n) => `- ${n}`), '');
  return lines.join('\n');
}
