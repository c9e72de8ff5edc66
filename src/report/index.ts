/** Reports on the state of the backups (`safepoint report`): the model built from snapshots and journal, and its Markdown, HTML and JSON renderings. */
export { buildReport, LAST_BACKUPS, type ReportConfig, type ReportRepositoryState } from './build-report.js';
export { REPORT_VERSION, type BackupRow, type CheckRow, type DrillRow, type ExposurePeak, type FailureRow, type RecoveryRow, type ReportData, type ReportSummary, type RpoCompliance, type SourceReport, type SourceSeries } from './model.js';
export { renderHtml } from './render-html.js';
export { renderMarkdown } from './render-markdown.js';
export { renderJson } from './render-json.js';
export { svgChart, type ChartPoint, type ChartSeries, type ChartSpec } from './svg-chart.js';
