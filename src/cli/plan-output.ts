/** Prints a plan's steps as they finish (a numbered line, its detail below) and as JSON `step` events. */
import { runPlan, type PlanStep, type StepReport } from '../restore/plan.js';
import type { Context } from './context.js';

const LABEL = { success: 'Success', error: 'Error', not_executed: 'NotExecuted', skipped: 'Skipped' } as const;

export async function runReportedPlan(c: Context, steps: readonly PlanStep[], dryRun: boolean): Promise<{ ok: boolean; reports: StepReport[]; total: number }> {
  const { ok, reports } = await runPlan(steps, {
    dryRun,
    onStep: (r) => {
      c.out.event({ message_type: 'step', ...r });
      c.out.info(`${String(r.step).padStart(2)}. ${r.name}: ${LABEL[r.status]} (${r.seconds.toFixed(2)} s)${r.detail ? `\n    ${r.detail}` : ''}`);
    },
  });
  return { ok, reports, total: reports.reduce((n, r) => n + r.seconds, 0) };
}
