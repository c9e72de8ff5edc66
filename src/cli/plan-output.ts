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
  // redrawn every second only to count an ETA down: a step may run a command with progress of its own (a deploy's
  // backup, a rollback's deploy), which a redraw would overwrite
  const ticker = dryRun || o.estimateSeconds === undefined || o.estimateSeconds === null ? undefined : setInterval(tick, 1000);
  ticker?.unref();
  let outcome: Awaited<ReturnType<typeof runPlan>>;
  try {
    outcome = await runPlan(steps, {
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
  } finally {
    clearInterval(ticker);
    p.end();
  }
  const { ok, reports } = outcome;
  return { ok, reports, total: reports.reduce((n, r) => n + r.seconds, 0) };
}
