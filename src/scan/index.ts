/** Anomaly (ransomware) scan of a source's snapshot history: each snapshot judged against the one before and the source's baseline. */
export { scanSource, type ScanRepo } from './scan-source.js';
export type { Baseline, ScanFigures, ScanOptions, ScanProgress, ScanResult } from './types.js';
export { THRESHOLDS } from './thresholds.js';
