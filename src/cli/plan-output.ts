/**
 * Prints a plan's steps as they finish (a numbered line, its detail below) and as JSON `step` events; while a step
 * runs, a progress line says which, with an ETA when the caller knows how long the whole takes (a drill measured it).
 */
import { runPlan, type PlanStep, type StepReport } from '../restore/plan.js';
import type { Context } from './context.js';
import { progress } from './progress.js';

const LABEL = { success: 'Success', error: 'Error', not_executed: 'NotExecuted', skipped: 'Skipped' } as const;

export async function runReportedPlan(c: Context, steps: readonly PlanStep[], dryRun: boolean, o: { operation?: string; estimateSeconds?: number | null } = {}): Promise<{ ok: boolean; reports: StepReport[]; total: number }> {
  const p = progress(c.out, o.operation ?? 'restore', { unit: 'steps' });
  const started = Date.now();
  let current: { step: number; name: string } | null = null;
  const tick = (): void => {
    if (!current) return;
    const left = o.estimateSeconds === undefined || o.estimateSeconds === null ? null : o.estimateSeconds - (Date.now() - started) / 1000;
    // an ETA only from a measured time: steps are too unlike one another to be counted as units of work
    p({ phase: `step ${current.step}/${steps.length}: ${current.name}`, done: current.step - 1, total: steps.length, secondsRemaining: left === null ? null : Math.max(0, left) });
  };
  const ticker = dryRun ? undefined : setInterval(tick, 1000);
  ticker?.unref();
  const { ok, reports } = await runPlan(steps, {
    dryRun,
    onStart: (step, name) => {
      current = { step, name };
      tick();
    },
    onStep: (r) => {
      c.out.event({ message_type: 'step', ...r });
      c.out.info(`${String(r.step).padStart(2)}. ${r.name}: ${LABEL[r.status]} (${r.seconds.toFixed(2)} s)${r.detail ? `\n    ${r.detail}` : ''}`);
    },
  });
  clearInterval(ticker);
  p.end();
  return { ok, reports, total: reports.reduce((n, r) => n + r.seconds, 0) };
}
