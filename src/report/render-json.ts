/** The report as JSON: the model itself (versioned by `report_version`), indented for people and diffs. */
import type { ReportData } from './model.js';

export function renderJson(d: ReportData): string {
  return `${JSON.stringify(d, null, 2)}\n`;
}
