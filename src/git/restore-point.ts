/**
 * Restore points: annotated git tags `<prefix><YYYYMMDDTHHMMSSZ>[-label]` whose message ends with trailers that tie
 * the commit to the backups and database positions taken at that moment (format: docs/restore-points.md).
 */
import { UsageError } from '../util/errors.js';

/** The format version written in the `Safepoint-Point` trailer. */
export const POINT_FORMAT = 1;
export const DEFAULT_TAG_PREFIX = 'restore-point/';

/** A backup taken for the point. */
export interface PointSnapshot {
  readonly source: string;
  readonly id: string;
}

/** Where a database stood at the point, as its recovery understands it. */
export interface PointDatabase {
  readonly source: string;
  readonly kind: 'postgres' | 'mariadb' | 'sqlite';
  /** key=value pairs: restore_point, lsn, timeline (PostgreSQL); binlog (MariaDB); snapshot (any). */
  readonly position: Readonly<Record<string, string>>;
}

export interface RestorePoint {
  readonly tag: string;
  readonly commit: string;
  readonly created: string;
  readonly host: string;
  readonly label: string | null;
  /** Why it was made: `manual`, `tag v1.2.0`, `merge into main`, `breaking change`... */
  readonly reason: string;
  readonly snapshots: readonly PointSnapshot[];
  readonly databases: readonly PointDatabase[];
  /** The snapshot holding a git bundle of the commit (clone without the git server), or null. */
  readonly bundle: PointSnapshot | null;
  /** What could not be recorded when the point was made (a source that failed), one line each. */
  readonly missing: readonly string[];
}

const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,38}[A-Za-z0-9])?$/;

/** The repository holding a point's git bundle (its part is named `git:<project>@<repository>`). */
export function bundleRepository(p: { readonly bundle: PointSnapshot | null }): string {
  if (!p.bundle) throw new Error('the point has no git bundle');
  return p.bundle.source.slice(p.bundle.source.lastIndexOf('@') + 1);
}

/** A tag-name label made of `text`: allowed characters only, no `..`, at most 40, starting and ending alphanumeric. */
export function safeLabel(text: string): string | null {
  const cleaned = text.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/\.{2,}/g, '.').slice(0, 40).replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
  return cleaned === '' ? null : cleaned;
}

/** `20261129T071200Z` for a date (UTC, seconds). */
export function pointStamp(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '');
}

/** The tag name of a point made at `time` with an optional label. @throws UsageError on a label git or humans would trip on. */
export function pointTagName(prefix: string, time: Date, label: string | null): string {
  if (label !== null && (!LABEL.test(label) || label.includes('..'))) throw new UsageError(`--label ${JSON.stringify(label)}: use up to 40 letters, digits, dots, dashes or underscores, starting and ending with a letter or digit, no ".."`);
  return `${prefix}${pointStamp(time)}${label ? `-${label}` : ''}`;
}

/** The tag message: a subject line, a readable paragraph, then the trailers. */
export function formatPoint(p: RestorePoint): string {
  const lines = [
    `safepoint restore point ${p.tag}`,
    '',
    `Commit ${p.commit.slice(0, 12)} with ${p.snapshots.length} backups and ${p.databases.length} database positions (${p.reason}).`,
    '',
    `Safepoint-Point: ${POINT_FORMAT}`,
    `Commit: ${p.commit}`,
    `Created: ${p.created}`,
    `Host: ${p.host}`,
    `Reason: ${oneLine(p.reason)}`,
    ...(p.label ? [`Label: ${p.label}`] : []),
    ...p.snapshots.map((s) => `Snapshot: ${s.source} ${s.id}`),
    ...p.databases.map((d) => `Database: ${d.source} ${d.kind} ${Object.entries(d.position).map(([k, v]) => `${k}=${v}`).join(' ')}`),
    ...(p.bundle ? [`Bundle: ${p.bundle.source} ${p.bundle.id}`] : []),
    ...p.missing.map((m) => `Missing: ${oneLine(m)}`),
  ];
  return `${lines.join('\n')}\n`;
}

function oneLine(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}

/**
 * The point a tag message describes, or null when the message is not a safepoint point (another tool's tag under
 * the same prefix). Trailers are read from the last paragraph; unknown keys are ignored (later versions add some).
 */
export function parsePoint(tag: string, message: string): RestorePoint | null {
  const paragraphs = message.trim().split(/\n\s*\n/);
  const trailers = (paragraphs.at(-1) ?? '').split('\n').map((l) => /^([A-Za-z-]+):\s?(.*)$/.exec(l.trim())).filter((m): m is RegExpExecArray => m !== null);
  const first = (key: string): string | undefined => trailers.find((m) => m[1] === key)?.[2]?.trim();
  const all = (key: string): string[] => trailers.filter((m) => m[1] === key).map((m) => m[2]!.trim());
  if (first('Safepoint-Point') === undefined) return null;
  const commit = first('Commit');
  if (!commit || !/^[0-9a-f]{40,64}$/.test(commit)) return null;
  const pair = (v: string): PointSnapshot | null => {
    const [source, id] = v.split(/\s+/);
    return source && id && /^[0-9a-f]{64}$/.test(id) ? { source, id } : null;
  };
  const databases: PointDatabase[] = [];
  for (const v of all('Database')) {
    const [source, kind, ...rest] = v.split(/\s+/);
    if (!source || (kind !== 'postgres' && kind !== 'mariadb' && kind !== 'sqlite')) continue;
    const position: Record<string, string> = {};
    for (const kv of rest) {
      const eq = kv.indexOf('=');
      if (eq > 0) position[kv.slice(0, eq)] = kv.slice(eq + 1);
    }
    databases.push({ source, kind, position });
  }
  const bundle = first('Bundle');
  return {
    tag,
    commit,
    created: first('Created') ?? '',
    host: first('Host') ?? '',
    label: first('Label') ?? null,
    reason: first('Reason') ?? 'manual',
    snapshots: all('Snapshot').map(pair).filter((s): s is PointSnapshot => s !== null),
    databases,
    bundle: bundle ? pair(bundle) : null,
    missing: all('Missing'),
  };
}

/**
 * The point `ref` names among `points` (oldest first): `latest`, a whole tag name, the tag without its prefix, or a
 * unique prefix of either. @throws UsageError naming the candidates when none or several match.
 */
export function findPoint<P extends { tag: string }>(points: readonly P[], ref: string, prefix: string): P {
  if (points.length === 0) throw new UsageError(`no restore point yet: create one with \`safepoint point create\``);
  if (ref === 'latest') return points.at(-1)!;
  const exact = points.find((p) => p.tag === ref || p.tag === `${prefix}${ref}`);
  if (exact) return exact;
  const matches = points.filter((p) => p.tag.startsWith(ref) || p.tag.startsWith(`${prefix}${ref}`));
  if (matches.length === 1) return matches[0]!;
  if (matches.length === 0) throw new UsageError(`no restore point ${JSON.stringify(ref)}: \`safepoint point list\` shows them (latest: ${points.at(-1)!.tag})`);
  throw new UsageError(`${JSON.stringify(ref)} names ${matches.length} restore points (${matches.slice(0, 3).map((p) => p.tag).join(', ')}${matches.length > 3 ? ', ...' : ''}): give more of the name`);
}
