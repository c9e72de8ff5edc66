/** Turns zod issues into located, readable configuration problems. */
import { isAlias, isMap, isScalar, isSeq, type Document, type LineCounter } from 'yaml';
import type { z } from 'zod';
import { formatPath, type ConfigIssue } from './config-error.js';
import { describeValue } from './words.js';

type Path = readonly PropertyKey[];
type Issue = z.core.$ZodIssue;

/** A problem before it is located: `atKey` points at the key itself rather than its value. */
export interface PathIssue {
  readonly path: Path;
  readonly message: string;
  readonly atKey?: boolean;
}

const TYPE_NAMES: Readonly<Record<string, string>> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  array: 'a list',
  object: 'a mapping',
  record: 'a mapping',
};

function typeName(expected: string): string {
  return TYPE_NAMES[expected] ?? expected;
}

const REQUIRED = 'required key is missing';

/** Per-parse zod error map: messages in the file's words (schema-level messages take precedence). */
export const errorMap: z.core.$ZodErrorMap = (iss) => {
  switch (iss.code) {
    case 'invalid_type':
      return iss.input === undefined ? REQUIRED : `expected ${typeName(iss.expected)}, got ${describeValue(iss.input)}`;
    case 'invalid_value': {
      if (iss.input === undefined) return REQUIRED;
      const values = iss.values.map((v) => String(v));
      return `expected ${values.length === 1 ? values[0] : `one of ${values.join(', ')}`}, got ${describeValue(iss.input)}`;
    }
    case 'too_small':
      if (iss.origin === 'array') return `needs at least ${iss.minimum} item${Number(iss.minimum) === 1 ? '' : 's'}`;
      if (iss.origin === 'string') return Number(iss.minimum) === 1 ? 'must not be empty' : `must be at least ${iss.minimum} characters`;
      return `must be ${iss.inclusive ? 'at least' : 'more than'} ${iss.minimum}, got ${describeValue(iss.input)}`;
    case 'too_big':
      if (iss.origin === 'array') return `allows at most ${iss.maximum} items`;
      return `must be ${iss.inclusive ? 'at most' : 'less than'} ${iss.maximum}, got ${describeValue(iss.input)}`;
    case 'unrecognized_keys':
      return iss.keys.map(() => 'unknown key').join('\n');
    default:
      return undefined;
  }
};

function isTypeMismatch(branch: readonly Issue[]): boolean {
  return branch.length === 1 && branch[0]?.path.length === 0 && (branch[0].code === 'invalid_type' || branch[0].code === 'invalid_value');
}

function expectedOf(issue: Issue | undefined): string {
  if (issue?.code === 'invalid_type') return typeName(issue.expected);
  if (issue?.code === 'invalid_value') return issue.values.map((v) => JSON.stringify(v)).join(' or ');
  return 'something else';
}

/** Picks the union branch the user most likely meant and reports its problems. */
function unionIssues(issue: Extract<Issue, { code: 'invalid_union' }>, path: Path, input: unknown): PathIssue[] {
  const matched = issue.errors.filter((b) => !isTypeMismatch(b));
  if (matched.length === 0) {
    const expected = [...new Set(issue.errors.map((b) => expectedOf(b[0])))].join(' or ');
    return [{ path, message: `expected ${expected}, got ${describeValue(input)}` }];
  }
  // Each unknown key counts as one problem, so the branch that fits the most keys wins.
  const weight = (b: readonly Issue[]): number => b.reduce((n, i) => n + (i.code === 'unrecognized_keys' ? i.keys.length : 1), 0);
  const fewest = Math.min(...matched.map(weight));
  const best = matched.filter((b) => weight(b) === fewest);
  if (best.length > 1) {
    const onlyMissing = (b: readonly Issue[]): boolean => b.every((i) => i.message === REQUIRED && i.path.length === 1);
    if (best.every(onlyMissing)) return [{ path, message: `needs ${best.map((b) => b.map((i) => String(i.path[0])).join(' and ')).join(' or ')}` }];
    const onlyUnknown = (b: readonly Issue[]): boolean => b.every((i) => i.code === 'unrecognized_keys' && i.path.length === 0);
    if (best.every(onlyUnknown)) {
      const keys = [...new Set(best.flatMap((b) => b.flatMap((i) => (i.code === 'unrecognized_keys' ? i.keys : []))))];
      return [{ path, message: `use either ${keys.join(' or ')}, not both` }];
    }
  }
  return flattenIssues(best[0] ?? [], path, input);
}

function valueAt(data: unknown, path: Path): unknown {
  let v = data;
  for (const seg of path) v = v !== null && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[seg] : undefined;
  return v;
}

/** Flattens zod issues (relative to `prefix`, for values inside `data`) into one problem per location. */
export function flattenIssues(issues: readonly Issue[], prefix: Path, data: unknown): PathIssue[] {
  const out: PathIssue[] = [];
  for (const issue of issues) {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'unrecognized_keys') {
      const messages = issue.message.split('\n');
      issue.keys.forEach((key, i) => out.push({ path: [...path, key], message: messages[i] ?? 'unknown key', atKey: true }));
    } else if (issue.code === 'invalid_key') {
      out.push({ path, message: issue.issues[0]?.message ?? issue.message, atKey: true });
    } else if (issue.code === 'invalid_union' && issue.errors.length > 0) {
      out.push(...unionIssues(issue, path, valueAt(data, issue.path)));
    } else {
      out.push({ path, message: issue.message });
    }
  }
  return out;
}

/** Offset in the source where the node at `path` starts; the nearest existing ancestor when it is missing. */
export function locate(doc: Document, path: Path, atKey = false): number {
  let node: unknown = doc.contents;
  let offset = startOf(node) ?? 0;
  for (const [i, seg] of path.entries()) {
    if (isAlias(node)) node = node.resolve(doc);
    if (isMap(node)) {
      const pair = node.items.find((p) => (isScalar(p.key) ? String(p.key.value) : String(p.key)) === String(seg));
      if (pair === undefined) return offset;
      if (atKey && i === path.length - 1) return startOf(pair.key) ?? offset;
      node = pair.value;
      offset = startOf(node) ?? startOf(pair.key) ?? offset;
    } else if (isSeq(node) && typeof seg === 'number') {
      node = node.items[seg];
      if (node === undefined) return offset;
      offset = startOf(node) ?? offset;
    } else {
      return offset;
    }
  }
  return offset;
}

function startOf(node: unknown): number | undefined {
  const range = (node as { range?: readonly number[] | null } | null | undefined)?.range;
  return range?.[0];
}

/** Locates problems in the YAML document and sorts them by position. */
export function toConfigIssues(problems: readonly PathIssue[], doc: Document, lines: LineCounter, file: string): ConfigIssue[] {
  return problems
    .map((p) => ({ p, offset: locate(doc, p.path, p.atKey) }))
    .sort((a, b) => a.offset - b.offset)
    .map(({ p, offset }) => ({ file, ...lines.linePos(offset), path: formatPath(p.path), message: p.message }));
}
