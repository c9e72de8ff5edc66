import { THRESHOLDS } from './thresholds.js';
import type { Baseline, ScanFigures } from './types.js';

/**
 * What a source usually does: the figures of its earlier non-suspicious snapshots (the newest baselineWindow), and the
 * database tables it empties and refills as a matter of course.
 */
export class History {
  readonly #figures: ScanFigures[] = [];
  readonly #emptied = new Set<string>();
  readonly #churn = new Set<string>();

  /** Records a snapshot that was not suspicious (and not the first: it has no change figures). */
  learn(f: ScanFigures): void {
    this.#figures.push(f);
    if (this.#figures.length > THRESHOLDS.baselineWindow) this.#figures.shift();
  }

  /** Records a database snapshot's row counts: a table emptied once and full again later is a churn table. */
  rows(counts: Record<string, number>, emptied: readonly string[]): void {
    for (const [t, n] of Object.entries(counts)) if (this.#emptied.has(t) && n >= THRESHOLDS.rows.minRows) this.#churn.add(t);
    for (const t of emptied) this.#emptied.add(t);
  }

  /** Tables that are emptied and refilled routinely (sessions, queues): their drops are ordinary. */
  get churn(): ReadonlySet<string> {
    return this.#churn;
  }

  baseline(): Baseline {
    const f = this.#figures;
    return {
      snapshots: f.length,
      change_rate: median(f.map((x) => x.change_rate)),
      deletion_rate: median(f.map((x) => x.deletion_rate)),
      high_entropy_share: median(f.map((x) => x.high_entropy_share)),
      scripts_added: median(f.map((x) => x.scripts_added_count)),
      row_churn: median(f.map((x) => x.row_churn)),
    };
  }
}

/** The median of the known values; null when there is none. */
export function median(values: readonly (number | null)[]): number | null {
  const v = values.filter((x): x is number => x !== null).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}
