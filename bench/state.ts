// The dataset on disk and its marker file (kept next to, not inside, the
// dataset so that it is never backed up). The marker records the generation
// parameters and whether the 1% change is currently applied.
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateDataset, planDataset, PLAN_VERSION } from './dataset.js';
import type { Plan } from './dataset.js';
import { applyMutation, revertMutation } from './mutate.js';
import { diffTrees, walk } from './tree.js';

interface Marker {
  version: number;
  scale: number;
  state: 'pristine' | 'mutated';
}

export class Dataset {
  readonly root: string;
  readonly plan: Plan;
  private readonly markerPath: string;

  constructor(readonly base: string, scale: number) {
    // A separate folder per scale, so a quick run does not replace the full dataset.
    const name = scale === 1 ? 'dataset' : `dataset-scale-${scale}`;
    this.root = join(base, name);
    this.markerPath = join(base, `${name}.json`);
    this.plan = planDataset(scale);
  }

  private readMarker(): Marker | null {
    try {
      return JSON.parse(readFileSync(this.markerPath, 'utf8')) as Marker;
    } catch {
      return null;
    }
  }

  private writeMarker(state: Marker['state']): void {
    const marker: Marker = { version: PLAN_VERSION, scale: this.plan.scale, state };
    writeFileSync(this.markerPath, JSON.stringify(marker) + '\n');
  }

  /** Differences between the tree on disk and the pristine plan (paths and sizes only). */
  private check(): string[] {
    if (!existsSync(this.root)) return ['dataset folder missing'];
    const expected = new Map<string, number>(this.plan.dirs.filter((d) => d).map((d) => [d, -1]));
    for (const f of this.plan.files) expected.set(f.rel, f.size);
    return diffTrees(expected, walk(this.root), 3);
  }

  /** Make the pristine dataset exist: reuse, revert a previous 1% change, or (re)generate. */
  ensurePristine(log: (msg: string) => void): void {
    const marker = this.readMarker();
    if (marker && marker.version === PLAN_VERSION && marker.scale === this.plan.scale) {
      if (marker.state !== 'pristine') {
        log('reverting the 1% change left by the previous run');
        revertMutation(this.root, this.plan);
        this.writeMarker('pristine');
      }
      const diffs = this.check();
      if (diffs.length === 0) return log(`reusing dataset ${this.root}`);
      log(`dataset does not match its plan (${diffs.join('; ')}); regenerating`);
    }
    rmSync(this.markerPath, { force: true });
    rmSync(this.root, { recursive: true, force: true });
    log(`generating dataset in ${this.root} (scale ${this.plan.scale})`);
    const t0 = performance.now();
    generateDataset(this.root, this.plan, log);
    log(`  done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    this.writeMarker('pristine');
  }

  /** Apply the 1% change (marked first, so an interrupted run is reverted next time). */
  mutate(): string {
    this.writeMarker('mutated');
    return applyMutation(this.root, this.plan);
  }
}
