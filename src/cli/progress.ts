/**
 * Progress of a long command, one shape for all of them: on a terminal a status line with the elapsed time, what
 * is done out of what, the percentage and an ETA; with `--json` a `status` event at most once a second with the same
 * figures (docs/json-events.md §5.1). Commands with figures of their own (files backup and restore) build their line
 * themselves and take the ETA from `eta()`.
 */
import { formatBytes, formatSeconds } from '../util/format.js';
import type { Output } from './output.js';
import { throttle } from './output.js';

export interface ProgressUpdate {
  /** Units done in the current phase. */
  readonly done: number;
  /** Units the phase has, when known (no percentage or ETA without it). */
  readonly total?: number | null;
  /** What is being done now (`reading packs`, `source 2/3: shop`); a new phase restarts the ETA's clock. */
  readonly phase?: string;
  /** The item at hand (a file, a snapshot id), shown last on the line. */
  readonly detail?: string;
  /**
   * An estimate of the seconds left that knows better than the rate so far (a drill's earlier restore times);
   * null: none can be given (no ETA shown); absent: from the rate so far.
   */
  readonly secondsRemaining?: number | null;
  /** Fields of the command's own kept in its `status` event (schema 1 names, such as `bytes_done`). */
  readonly fields?: Readonly<Record<string, unknown>>;
}

export interface Progress {
  /** Throttled: call it as often as the work advances. */
  (u: ProgressUpdate): void;
  /** Shows the last update now (a phase's end must not be lost to the throttle). */
  flush(): void;
  /** Clears the terminal line; the next output starts clean. */
  end(): void;
}

/** Seconds left at the rate so far: elapsed × (1 − f) / f for a fraction f done; null before anything is done. */
export function eta(elapsedSeconds: number, fraction: number): number | null {
  if (fraction >= 1) return 0;
  if (!(fraction > 0) || !(elapsedSeconds > 0) || !Number.isFinite(elapsedSeconds)) return null;
  return (elapsedSeconds / fraction) * (1 - fraction);
}

/**
 * A progress reporter for `operation` (the `operation` field of its events). `unit: 'bytes'` shows sizes instead of
 * counts; `unit: 'steps'` shows the phase alone (it names the step). `events: false` for a command whose `--json` stdout is one document (`scan`'s array, `report` on stdout):
 * the terminal line only. On neither a terminal nor `--json` every call is a no-op.
 */
export function progress(out: Output, operation: string, options: { unit?: 'items' | 'bytes' | 'steps'; events?: boolean; now?: () => number } = {}): Progress {
  const now = options.now ?? Date.now;
  const started = now();
  let phase: string | undefined;
  let phaseStarted = started;
  const amount = (n: number): string => (options.unit === 'bytes' ? formatBytes(n) : String(n));
  const show = (u: ProgressUpdate): void => {
    const t = now();
    const total = u.total ?? null;
    const fraction = total !== null && total > 0 ? Math.min(1, u.done / total) : null;
    const remaining = u.secondsRemaining === null ? null : u.secondsRemaining !== undefined ? Math.max(0, u.secondsRemaining) : fraction === null ? null : eta((t - phaseStarted) / 1000, fraction);
    const elapsed = (t - started) / 1000;
    if (out.json) {
      out.event({
        message_type: 'status',
        operation,
        ...(u.phase !== undefined ? { phase: u.phase } : {}),
        seconds_elapsed: Math.round(elapsed),
        done: u.done,
        total,
        percent_done: fraction,
        seconds_remaining: remaining === null ? null : Math.round(remaining),
        ...(u.detail !== undefined ? { detail: u.detail } : {}),
        ...u.fields,
      });
      return;
    }
    // steps: the phase says which one ("step 3/5: ..."); a share of steps done is no measure of the work
    const parts = [`[${formatSeconds(elapsed)}]`, options.unit === 'steps' ? (u.phase ?? operation) : `${u.phase ?? operation}: ${total !== null ? `${amount(u.done)}/${amount(total)}` : amount(u.done)}`];
    if (fraction !== null && options.unit !== 'steps') parts.push(`${(fraction * 100).toFixed(1)}%`);
    if (remaining !== null || (fraction !== null && u.secondsRemaining !== null)) parts.push(`ETA ${formatSeconds(remaining ?? NaN)}`);
    if (u.detail) parts.push(u.detail);
    out.status(parts.join('  '));
  };
  const throttled = throttle(out.json ? 1000 : 150, show);
  const active = (out.json && options.events !== false) || out.tty;
  const p = ((u: ProgressUpdate): void => {
    if (!active) return;
    if (u.phase !== phase) {
      // a new phase: its ETA comes from its own rate, and its first figures are shown at once
      phase = u.phase;
      phaseStarted = now();
      throttled.flush();
      show(u);
      return;
    }
    throttled(u);
  }) as Progress;
  p.flush = (): void => {
    if (active) throttled.flush();
  };
  p.end = (): void => {
    if (!active) return;
    throttled.flush();
    out.clearStatus();
  };
  return p;
}
