/** The critical-files audit: scan a project, write docs/rollback_points_audit.md, read it back for `from_audit`. */
export { auditProject, type AuditOptions, type AuditResult } from './audit.js';
export { auditExcluder, orExclude, pathsFromAudit, readAuditPaths, type AuditBackup, type AuditPaths } from './from-audit.js';
export { renderAudit } from './markdown.js';
export { CATEGORIES, CATEGORY_TITLES, FREQUENCY, type AuditReport, type AuditRow, type Category, type SkippedFolder, type Stack } from './model.js';
export { parseAudit, type AuditEntry, type ParsedAudit } from './parse.js';
export { scanProject, type ScanOptions, type ScanResult } from './scan.js';
