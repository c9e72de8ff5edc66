// The benchmark dataset: a deterministic plan (folders, files, kinds, sizes)
// and a writer that materialises any file of the plan from its label.
// At scale 1.0: ~1,000 folders, ~30,000 small text files (0.5-20 KB),
// ~200 files of 1-10 MB (half text/logs, half random "media"), and three
// ~200 MB files (random, log, database-like): about 1.5 GB in total.
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Rng } from './prng.js';
import { CHUNK, DB_PAGE, makeGen } from './textgen.js';
import type { Kind } from './textgen.js';

export const PLAN_VERSION = 3;
const KB = 1024;
const MB = 1_000_000;

export interface FileSpec {
  rel: string; // path relative to the dataset root, '/'-separated
  kind: Kind;
  size: number;
  label: string; // seed of the content
}

export interface Plan {
  scale: number;
  dirs: string[]; // relative folder paths ('' is the root)
  small: FileSpec[];
  medium: FileSpec[];
  big: { random: FileSpec; log: FileSpec; db: FileSpec };
  files: FileSpec[]; // all of the above
}

const DIR_NAMES = (
  'src lib docs assets images test config scripts build vendor modules components utils api ' +
  'models views static data logs reports archive notes photos music projects drafts templates'
).split(' ');
const STEMS = 'index main util helper model view readme notes report client server handler'.split(' ');
// No .ts/.js/.mjs/.cjs/.tsx/.jsx: tsconfig and eslint include bench/, where the dataset lives by default.
const SMALL_KINDS: [Kind, string][] = [
  ['code', '.py'], ['code', '.go'], ['code', '.rs'], ['code', '.java'],
  ['prose', '.md'], ['prose', '.txt'], ['prose', '.md'], ['log', '.log'],
];

const scaled = (n: number, scale: number, min = 1): number => Math.max(min, Math.round(n * scale));

function planDirs(rng: Rng, count: number): string[] {
  const dirs = [''];
  const taken = new Set<string>();
  for (let i = 1; i < count; i++) {
    const parent = dirs[rng.int(0, i - 1)] as string;
    let rel = (parent ? parent + '/' : '') + rng.pick(DIR_NAMES);
    if (taken.has(rel)) rel += `-${i}`;
    taken.add(rel);
    dirs.push(rel);
  }
  return dirs;
}

/** A small text file in folder `dir`; `label` makes its content unique. */
export function smallFile(rng: Rng, dir: string, name: string, label: string): FileSpec {
  const [kind, ext] = rng.pick(SMALL_KINDS);
  const rel = (dir ? dir + '/' : '') + name + ext;
  return { rel, kind, size: rng.logInt(512, 20 * KB), label };
}

export function planDataset(scale: number): Plan {
  const rng = Rng.of(`plan-v${PLAN_VERSION}`);
  const dirs = planDirs(rng, scaled(1000, scale, 3));
  const small: FileSpec[] = [];
  for (let i = 0; i < scaled(30_000, scale); i++) {
    const name = `${rng.pick(STEMS)}_${i}`;
    small.push(smallFile(rng, rng.pick(dirs), name, `small-${i}`));
  }
  // Medium sizes evenly spaced on a log scale over 1-10 MB (then shuffled), so their
  // total does not depend on luck: 200 files ≈ 780 MB.
  const nMedium = scaled(200, scale, 2);
  const sizes = rng.shuffle(Array.from({ length: nMedium }, (_, i) => Math.round(MB * Math.pow(10, (i + 0.5) / nMedium))));
  const medium: FileSpec[] = [];
  for (let i = 0; i < nMedium; i++) {
    const [kind, name]: [Kind, string] =
      i % 2 === 1 ? ['random', `media_${i}.${rng.pick(['jpg', 'mp4', 'bin'])}`]
      : i % 4 === 0 ? ['log', `service_${i}.log`]
      : ['prose', `export_${i}.txt`];
    const dir = rng.pick(dirs);
    medium.push({ rel: (dir ? dir + '/' : '') + name, kind, size: sizes[i] as number, label: `medium-${i}` });
  }
  const bigSize = Math.max(MB, Math.round(200 * MB * scale));
  const big = {
    random: { rel: 'var/random.bin', kind: 'random' as Kind, size: bigSize, label: 'big-random' },
    log: { rel: 'var/app.log', kind: 'log' as Kind, size: bigSize, label: 'big-log' },
    db: { rel: 'var/records.db', kind: 'db' as Kind, size: bigSize - (bigSize % DB_PAGE), label: 'big-db' },
  };
  dirs.push('var');
  const files = [...small, ...medium, big.random, big.log, big.db];
  return { scale, dirs, small, medium, big, files };
}

/** Write all of `buf` at `position` (or at the current offset when null). */
export function writeAll(fd: number, buf: Buffer, position: number | null = null): void {
  let done = 0;
  while (done < buf.length) {
    const n = writeSync(fd, buf, done, buf.length - done, position === null ? null : position + done);
    done += n;
  }
}

/** (Re)write one file of the plan from scratch. */
export function writeSpec(root: string, spec: FileSpec): void {
  const path = join(root, spec.rel);
  mkdirSync(dirname(path), { recursive: true });
  const fd = openSync(path, 'w');
  try {
    const gen = makeGen(spec.kind, spec.label);
    for (let left = spec.size; left > 0; left -= CHUNK) writeAll(fd, gen.next(Math.min(CHUNK, left)));
  } finally {
    closeSync(fd);
  }
}

export function generateDataset(root: string, plan: Plan, log: (msg: string) => void): void {
  for (const dir of plan.dirs) mkdirSync(join(root, dir), { recursive: true });
  let bytes = 0;
  const total = plan.files.reduce((sum, f) => sum + f.size, 0);
  let nextReport = total / 10;
  for (const spec of plan.files) {
    writeSpec(root, spec);
    bytes += spec.size;
    if (bytes >= nextReport) {
      log(`  generated ${(bytes / MB).toFixed(0)} / ${(total / MB).toFixed(0)} MB`);
      nextReport += Math.max(total / 10, 1);
    }
  }
}
