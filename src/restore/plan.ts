/**
 * A restore procedure as a plan of named steps, run in order, each reported Success / Error / NotExecuted with
 * its duration (the mission's §3.2 report). A failed step stops the plan; the steps after it are NotExecuted and
 * the report says how to resume or undo. `dryRun` reports the plan without running anything.
 */
export type StepStatus = 'success' | 'error' | 'not_executed' | 'skipped';

export interface PlanStep {
  readonly name: string;
  /** Runs the step; returns what it did (one line), or `{ skipped: why }` when there was nothing to do. */
  readonly run: () => Promise<string | { skipped: string }>;
  /** What to do by hand when this step failed (resume or undo), shown with the error. */
  readonly onFailure?: () => string;
}

export interface StepReport {
  readonly step: number;
  readonly name: string;
  readonly status: StepStatus;
  readonly seconds: number;
  readonly detail: string;
}

export async function runPlan(steps: readonly PlanStep[], o: { dryRun?: boolean; onStart?: (step: number, name: string) => void; onStep?: (r: StepReport) => void } = {}): Promise<{ ok: boolean; reports: StepReport[] }> {
  const reports: StepReport[] = [];
  let failed = false;
  for (const [i, s] of steps.entries()) {
    const report = (status: StepStatus, seconds: number, detail: string): void => {
      const r = { step: i + 1, name: s.name, status, seconds, detail };
      reports.push(r);
      o.onStep?.(r);
    };
    if (failed || o.dryRun) {
      report('not_executed', 0, failed ? 'an earlier step failed' : 'dry run');
      continue;
    }
    const t0 = performance.now();
    o.onStart?.(i + 1, s.name);
    try {
      const out = await s.run();
      const secs = (performance.now() - t0) / 1000;
      if (typeof out === 'string') report('success', secs, out);
      else report('skipped', secs, out.skipped);
    } catch (err) {
      failed = true;
      const why = err instanceof Error ? err.message : String(err);
      const next = s.onFailure?.();
      report('error', (performance.now() - t0) / 1000, next ? `${why}; ${next}` : why);
    }
  }
  return { ok: !failed, reports };
}
