/** The stylesheet inlined in the HTML report: system fonts only, readable printed, colours that do not carry meaning alone. */
export const REPORT_CSS = `
:root { color-scheme: light; --ink: #111827; --muted: #4b5563; --line: #e5e7eb; --ok: #166534; --ok-bg: #dcfce7; --risk: #92400e; --risk-bg: #fef3c7; --bad: #991b1b; --bad-bg: #fee2e2; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1100px; padding: 24px; font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); background: #fff; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 0 0 8px; display: flex; gap: 12px; align-items: center; flex-wrap: wrap; }
h3 { font-size: 15px; margin: 20px 0 6px; }
.meta, .muted { color: var(--muted); }
.lead { font-size: 16px; }
section.source { border-top: 2px solid var(--line); margin-top: 32px; padding-top: 16px; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 12px; font-size: 13px; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: #f9fafb; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
code { font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: #f3f4f6; padding: 1px 4px; border-radius: 3px; overflow-wrap: anywhere; }
.verdict { display: inline-block; padding: 1px 10px; border-radius: 999px; font-size: 13px; font-weight: 700; border: 1px solid currentColor; }
.verdict.ok { color: var(--ok); background: var(--ok-bg); }
.verdict.at-risk { color: var(--risk); background: var(--risk-bg); }
.verdict.violated { color: var(--bad); background: var(--bad-bg); }
.failed { color: var(--bad); font-weight: 600; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 8px 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(440px, 1fr)); gap: 16px; margin: 12px 0; }
figure { margin: 0; border: 1px solid var(--line); border-radius: 6px; padding: 8px; }
figcaption { font-weight: 600; margin-bottom: 4px; }
svg.chart { width: 100%; height: auto; display: block; }
details summary { cursor: pointer; color: var(--muted); font-size: 12px; }
footer { margin-top: 40px; color: var(--muted); font-size: 12px; }
@media print { body { padding: 0; } figure, table { break-inside: avoid; } details { display: none; } }
`;
