// The deterministic "1% change" and its exact inverse:
// rewrite ~1% of the small files, append to some logs, overwrite a few MB in
// the middle of the database-like file, add ~100 files and delete ~50.
// Reverting regenerates or truncates exactly what was touched, so the
// dataset returns to its pristine state without regenerating 1.5 GB.
import { closeSync, openSync, rmSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from './prng.js';
import { CHUNK, DB_PAGE, makeGen } from './textgen.js';
import { smallFile, writeAll, writeSpec } from './dataset.js';
import type { FileSpec, Plan } from './dataset.js';

const KB = 1024;
const MB = 1024 * KB;

export interface Mutation {
  rewrite: { before: FileSpec; after: FileSpec }[];
  remove: FileSpec[];
  add: FileSpec[];
  append: { spec: FileSpec; bytes: number }[];
  overwrite: { spec: FileSpec; page: number; pages: number };
}

export function planMutation(plan: Plan): Mutation {
  const rng = Rng.of('mutation-v1');
  const scaled = (n: number): number => Math.max(1, Math.round(n * plan.scale));
  const small = rng.shuffle([...plan.small]);
  const nRewrite = Math.max(1, Math.round(small.length * 0.01));
  const rewrite = small.slice(0, nRewrite).map((before) => ({
    before,
    after: { ...before, size: rng.logInt(512, 20 * KB), label: `${before.label}#v2` },
  }));
  const remove = small.slice(nRewrite, nRewrite + scaled(50));
  const add: FileSpec[] = [];
  for (let i = 0; i < scaled(100); i++) add.push(smallFile(rng, rng.pick(plan.dirs), `added_${i}`, `added-${i}`));
  const logs = rng.shuffle(plan.medium.filter((f) => f.kind === 'log'));
  const append = logs.slice(0, Math.ceil(logs.length * 0.2)).map((spec) => ({ spec, bytes: rng.int(64 * KB, 512 * KB) }));
  append.push({ spec: plan.big.log, bytes: Math.max(64 * KB, Math.round(2 * MB * plan.scale)) });
  const db = plan.big.db;
  const totalPages = db.size / DB_PAGE;
  const pages = Math.max(1, Math.min((4 * MB) / DB_PAGE, Math.floor(totalPages / 4)));
  const overwrite = { spec: db, page: Math.floor((totalPages - pages) / 2), pages };
  return { rewrite, remove, add, append, overwrite };
}

/** Write `bytes` of generated content at `position` (null = append). */
function writeGenerated(path: string, gen: { next(n: number): Buffer }, bytes: number, position: number | null): void {
  const fd = openSync(path, position === null ? 'a' : 'r+');
  try {
    for (let done = 0; done < bytes; done += CHUNK) {
      const n = Math.min(CHUNK, bytes - done);
      writeAll(fd, gen.next(n), position === null ? null : position + done);
    }
  } finally {
    closeSync(fd);
  }
}

function writeDbPages(root: string, m: Mutation, label: string): void {
  const { spec, page, pages } = m.overwrite;
  writeGenerated(join(root, spec.rel), makeGen('db', label, page), pages * DB_PAGE, page * DB_PAGE);
}

/** Apply the change; returns a one-line description. */
export function applyMutation(root: string, plan: Plan): string {
  const m = planMutation(plan);
  for (const { after } of m.rewrite) writeSpec(root, after);
  for (const spec of m.remove) rmSync(join(root, spec.rel));
  for (const spec of m.add) writeSpec(root, spec);
  for (const { spec, bytes } of m.append) {
    writeGenerated(join(root, spec.rel), makeGen('log', `${spec.label}#append`), bytes, null);
  }
  writeDbPages(root, m, `${m.overwrite.spec.label}#v2`);
  const appended = m.append.reduce((sum, a) => sum + a.bytes, 0);
  return (
    `rewrote ${m.rewrite.length} small files, deleted ${m.remove.length}, added ${m.add.length}, ` +
    `appended ${(appended / MB).toFixed(1)} MiB to ${m.append.length} logs, ` +
    `overwrote ${((m.overwrite.pages * DB_PAGE) / MB).toFixed(1)} MiB in ${m.overwrite.spec.rel}`
  );
}

/** Undo applyMutation (also after a partial apply); idempotent. */
export function revertMutation(root: string, plan: Plan): void {
  const m = planMutation(plan);
  for (const { before } of m.rewrite) writeSpec(root, before);
  for (const spec of m.remove) writeSpec(root, spec);
  for (const spec of m.add) rmSync(join(root, spec.rel), { force: true });
  for (const { spec } of m.append) truncateSync(join(root, spec.rel), spec.size);
  writeDbPages(root, m, m.overwrite.spec.label);
}
