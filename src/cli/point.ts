/**
 * `safepoint point create | list | show`: git restore points (src/git/restore-point.ts) — a tag on the commit whose
 * message records the backups and database positions taken at that moment.
 */
import type { Command } from 'commander';
import { hostname } from 'node:os';
import type { LoadedConfig } from '../config/load.js';
import type { SourceConfig } from '../config/schema.js';
import { codeSources, findSource } from '../config/lookup.js';
import { isDatabaseSource } from '../db/drivers.js';
import { changedPaths, bundleStream, checkTagName, createTag, git, GitError, listTags, resolveCommit, workTree } from '../git/git.js';
import { DEFAULT_TAG_PREFIX, findPoint, formatPoint, parsePoint, pointTagName, type PointDatabase, type PointSnapshot, type RestorePoint } from '../git/restore-point.js';
import { shortId } from '../repo/ids.js';
import { findSnapshot, loadSnapshots, type SnapshotWithId } from '../repo/snapshot.js';
import { verifySnapshotData } from '../verify/snapshot-data.js';
import { ExitCode, UsageError, UserError, errorMessage } from '../util/errors.js';
import { runBackup } from './backup.js';
import type { Context } from './context.js';
import { collect } from './options.js';

export interface CreateFlags {
  label?: string;
  rev?: string;
  source: string[];
  codeOnly?: boolean;
  allowDirty?: boolean;
  bundle: boolean;
  reason?: string;
  gitDir?: string;
}

export function registerPoint(program: Command, ctx: () => Context): void {
  const point = program.command('point').description('git restore points: a tag on a commit recording the backups and database positions taken with it');
  point
    .command('create')
    .description('back up configuration and data (every source, or --source), then tag the commit restore-point/<UTC time>[-label] with what was taken')
    .option('--label <label>', 'appended to the tag name (letters, digits, . _ -)')
    .option('--rev <rev>', 'the commit to tag (default HEAD; the work tree must then be clean)')
    .option('--source <name>', 'back up only this source (repeatable)', collect, [])
    .option('--code-only', 'only the code and configuration sources (files sources with schedule: on-major-commit, else every files source); databases get a position, not a backup (what the git hooks run)')
    .option('--allow-dirty', 'tag HEAD even with uncommitted changes (they are not part of the point)')
    .option('--no-bundle', 'do not store a git bundle of the commit in the repository (a restore then needs the git server)')
    .option('--reason <text>', 'why the point is made (recorded; default: manual)')
    .option('--git-dir <dir>', "the project's git work tree (default: the config file's folder)")
    .action(async (f: CreateFlags) => {
      process.exitCode = await runCreate(ctx(), f);
    });
  point
    .command('list')
    .description('list restore points, oldest first, with their state: every part present in its repository, or what is missing')
    .option('--git-dir <dir>', "the project's git work tree (default: the config file's folder)")
    .option('--verify', "also read back every byte of every part (exit 1 when one is missing or damaged)")
    .action(async (f: { gitDir?: string; verify?: boolean }) => {
      process.exitCode = await runList(ctx(), f);
    });
  point
    .command('show')
    .description('show a restore point: its commit, backups, database positions and state')
    .argument('<point>', 'tag name, its time part (20261129T071200Z), a unique prefix, or "latest"')
    .option('--git-dir <dir>', "the project's git work tree (default: the config file's folder)")
    .option('--verify', "also read back every byte of the point's backups and bundle (exit 1 when one is missing or damaged)")
    .action(async (ref: string, f: { gitDir?: string; verify?: boolean }) => {
      process.exitCode = await runShow(ctx(), ref, f);
    });
}

function tagPrefix(cfg: LoadedConfig): string {
  return cfg.deploy?.restore_points?.tag_prefix ?? DEFAULT_TAG_PREFIX;
}

/** The sources a point backs up: named ones, the code and configuration ones, or all. */
function pointSources(cfg: LoadedConfig, f: Pick<CreateFlags, 'source' | 'codeOnly'>): SourceConfig[] {
  if (f.source.length > 0) return f.source.map((n) => findSource(cfg, n));
  if (!f.codeOnly) return [...cfg.sources];
  return [...codeSources(cfg), ...cfg.sources.filter((s) => isDatabaseSource(s))];
}

/** The newest snapshot of `source` taken since `since` (the one a backup just made). */
async function newestSince(c: Context, source: string, since: number): Promise<SnapshotWithId | undefined> {
  return c.withRepository('point', 'none', async (repo) => (await loadSnapshots(repo, { source })).filter((s) => Date.parse(s.time) >= since - 1000).at(-1), source);
}

/** Where a database stands at the point, from the backup just taken (or, for a code-only point, asked of the server). */
function positionOf(source: SourceConfig, snap: SnapshotWithId | undefined): PointDatabase | null {
  if (source.type === 'files') return null;
  const m = (snap?.meta ?? {}) as { restore_point?: { name: string; lsn: string } | null; timeline?: number; binlog?: { file: string; position: number } | null };
  const position: Record<string, string> = {};
  if (snap) position.snapshot = snap.id;
  if (m.restore_point) Object.assign(position, { restore_point: m.restore_point.name, lsn: m.restore_point.lsn });
  if (m.timeline !== undefined) position.timeline = String(m.timeline);
  if (m.binlog) position.binlog = `${m.binlog.file}:${m.binlog.position}`;
  return { source: source.name, kind: source.type, position };
}

export async function runCreate(c: Context, f: CreateFlags): Promise<number> {
  return (await createPoint(c, f)).code;
}

/** Makes a restore point; resolves with it and the exit code (3 when a part is missing). */
export async function createPoint(c: Context, f: CreateFlags): Promise<{ point: RestorePoint; code: number }> {
  const cfg = await c.requireConfig();
  const dir = await workTree(f.gitDir ?? cfg.dir);
  const prefix = tagPrefix(cfg);
  const commit = await resolveCommit(dir, f.rev ?? 'HEAD');
  if (f.rev === undefined && !f.allowDirty) {
    const changed = await changedPaths(dir);
    if (changed.length > 0) {
      throw new UserError(`${dir} has ${changed.length} uncommitted changes (${changed.slice(0, 3).join(', ')}${changed.length > 3 ? ', ...' : ''}): commit or stash them first, or pass --allow-dirty (the point records commit ${commit.slice(0, 12)}, not the changes)`);
    }
  }
  const now = new Date();
  const tag = pointTagName(prefix, now, f.label ?? null);
  await checkTagName(dir, tag);
  if ((await listTags(dir, tag)).some((t) => t.name === tag)) throw new UserError(`tag ${tag} exists already: wait a second, or give another --label`);
  const sources = pointSources(cfg, f);
  c.out.info(`restore point ${tag} on commit ${commit.slice(0, 12)}: ${sources.length} sources`);

  const snapshots: PointSnapshot[] = [];
  const databases: PointDatabase[] = [];
  const missing: string[] = [];
  for (const source of sources) {
    const started = Date.now();
    try {
      if (isDatabaseSource(source) && f.codeOnly) {
        const pos = await databasePosition(source, tag);
        if (pos) databases.push(pos);
        continue;
      }
      const code = isDatabaseSource(source)
        ? await (await import('./database.js')).runDatabaseBackup(c, source, { tag: ['restore-point'], ...(source.type !== 'sqlite' && source.mode === 'physical' ? { type: 'incr' } : {}) })
        : await runBackup(c, [], { source: source.name, tag: ['restore-point'], exclude: [], excludeFile: [] });
      const snap = await newestSince(c, source.name, started);
      if (!snap) throw new UserError('the backup recorded no snapshot');
      snapshots.push({ source: source.name, id: snap.id });
      const pos = positionOf(source, snap);
      if (pos) databases.push(pos);
      if (code !== ExitCode.ok) missing.push(`${source.name}: snapshot ${shortId(snap.id)} is incomplete (some files could not be read)`);
    } catch (err) {
      missing.push(`${source.name}: ${errorMessage(err)}`);
      c.out.warn(`source ${source.name}: ${errorMessage(err)}`);
    }
  }
  let bundle: PointSnapshot | null = null;
  if (f.bundle) {
    try {
      bundle = await storeBundle(c, cfg, dir, commit, tag, sources);
    } catch (err) {
      missing.push(`git bundle: ${errorMessage(err)}`);
      c.out.warn(`git bundle not stored: ${errorMessage(err)}`);
    }
  }
  const p: RestorePoint = { tag, commit, created: now.toISOString(), host: hostname(), label: f.label ?? null, reason: f.reason ?? 'manual', snapshots, databases, bundle, missing };
  await createTag(dir, tag, commit, formatPoint(p));
  c.out.event({ message_type: 'point', ...p });
  c.out.info(`${tag}: ${snapshots.length} backups, ${databases.length} database positions${bundle ? ', git bundle' : ''}${missing.length > 0 ? `; missing: ${missing.join('; ')}` : ''}`);
  return { point: p, code: missing.length > 0 ? ExitCode.incomplete : ExitCode.ok };
}

/**
 * A database's position for a code-only point: PostgreSQL with WAL archiving gets a named restore point (recovery
 * can stop exactly there); MariaDB writing binlogs, its current binlog position (a --target-time restore replays up
 * to it); SQLite is covered by its last backup or its replication, so nothing is recorded.
 */
async function databasePosition(source: SourceConfig, tag: string): Promise<PointDatabase | null> {
  if (source.type === 'mariadb') {
    const { query } = await import('../db/mariadb/mariadb-tools.js');
    const [row] = await query(source, 'SHOW MASTER STATUS');
    return row?.[0] ? { source: source.name, kind: 'mariadb', position: { binlog: `${row[0]}:${row[1] ?? '0'}`, time: new Date().toISOString() } } : null;
  }
  if (source.type !== 'postgres' || source.mode !== 'physical' || !source.wal_archiving) return null;
  const { psql } = await import('../db/postgres/pg-tools.js');
  const { quoteLiteral } = await import('../db/postgres/pg-sql.js');
  // PostgreSQL keeps at most 63 bytes of a restore point name: the time of the tag, not its label
  const name = `safepoint-point-${/\d{8}T\d{6}Z/.exec(tag)?.[0] ?? Date.now()}`;
  const [[lsn = '', timeline = ''] = []] = await psql(source, 'postgres', `SELECT pg_catalog.pg_create_restore_point(${quoteLiteral(name)}), (SELECT timeline_id FROM pg_catalog.pg_control_checkpoint());`);
  return { source: source.name, kind: 'postgres', position: { restore_point: name, lsn, timeline } };
}

/** Stores `git bundle` of the commit in the repository of the first code source (else the first repository). */
async function storeBundle(c: Context, cfg: LoadedConfig, dir: string, commit: string, tag: string, sources: readonly SourceConfig[]): Promise<PointSnapshot> {
  const holder = sources.find((s) => s.type === 'files') ?? cfg.sources.find((s) => s.type === 'files');
  const repoName = holder?.repository ?? Object.keys(cfg.repositories)[0];
  if (repoName === undefined) throw new UsageError('no repository to store the git bundle in');
  const ref = `refs/safepoint/bundle-${process.pid}-${Date.now()}`; // one per point: points may be made at once
  await git(dir, ['update-ref', ref, commit]);
  try {
    const { backupStreams } = await import('../snapshot/stream-backup.js');
    const source = `git:${cfg.project}`;
    const { snapshotId } = await c.withRepository('point', 'shared', async (repo) => {
      const b = bundleStream(dir, [ref]);
      const r = await backupStreams(repo, [{ name: 'repository.bundle', data: b.stream as AsyncIterable<Uint8Array> }], { source, tags: ['git-bundle'], meta: { kind: 'git-bundle', commit, tag, ref }, paths: [dir] });
      await b.done;
      return r;
    }, undefined, { repository: repoName });
    return { source: `${source}@${repoName}`, id: snapshotId };
  } finally {
    await git(dir, ['update-ref', '-d', ref]).catch(() => undefined);
  }
}

export interface PointState {
  readonly point: RestorePoint;
  /** Parts that are not in their repository (or whose repository could not be opened, or damaged), one line each. */
  readonly absent: readonly string[];
  /** Every part's data was read back and verified (`--verify`). */
  readonly verified: boolean;
}

/** The restore points of the project, oldest first, each with its parts looked up in their repositories. */
/**
 * The project's restore points, or none when the configuration's folder is not a git work tree (a project without
 * git has no points); any other failure (git missing, a broken repository) is reported, not taken for "no point".
 */
export async function pointsIfAny(c: Context, gitDir?: string): Promise<PointState[]> {
  try {
    return (await loadPoints(c, gitDir)).points;
  } catch (err) {
    if (err instanceof GitError && /is not in a git work tree/.test(err.message)) return [];
    throw err;
  }
}

export async function loadPoints(c: Context, gitDir?: string, o: { verify?: boolean; only?: string } = {}): Promise<{ dir: string; prefix: string; points: PointState[] }> {
  const cfg = await c.requireConfig();
  const dir = await workTree(gitDir ?? cfg.dir);
  const prefix = tagPrefix(cfg);
  const points = (await listTags(dir, prefix)).map((t) => parsePoint(t.name, t.message)).filter((p): p is RestorePoint => p !== null && (o.only === undefined || p.tag === o.only));
  const repoOf = (source: string): string | undefined => {
    const at = source.lastIndexOf('@');
    if (source.startsWith('git:') && at > 0) return source.slice(at + 1);
    return cfg.sources.find((s) => s.name === source)?.repository;
  };
  const partsOf = (p: RestorePoint): PointSnapshot[] => [...p.snapshots, ...(p.bundle ? [p.bundle] : [])];
  // each repository opened once: its snapshot ids listed, and (verify) each part read back once for every point
  const wanted = new Map<string, Set<string>>();
  for (const p of points) {
    for (const part of partsOf(p)) {
      const r = repoOf(part.source);
      if (r !== undefined) wanted.set(r, (wanted.get(r) ?? new Set()).add(part.id));
    }
  }
  const seen = new Map<string, { ids: Set<string>; damage: Map<string, string[]> } | Error>();
  for (const [repoName, ids] of wanted) {
    const got = await c.withRepository('point', o.verify ? 'shared' : 'none', async (repo) => {
      const all = new Set((await loadSnapshots(repo)).map((sn) => sn.id));
      const damage = new Map<string, string[]>();
      if (o.verify) {
        await repo.loadIndex();
        for (const id of ids) if (all.has(id)) damage.set(id, (await verifySnapshotData(repo, (await findSnapshot(repo, id)).tree)).problems);
      }
      return { ids: all, damage };
    }, undefined, { repository: repoName }).catch((err: unknown) => new Error(errorMessage(err)));
    seen.set(repoName, got);
  }
  const states: PointState[] = [];
  for (const point of points) {
    const absent: string[] = [...point.missing.map((m) => `not taken: ${m}`)];
    for (const part of partsOf(point)) {
      const repoName = repoOf(part.source);
      const have = repoName === undefined ? undefined : seen.get(repoName);
      if (repoName === undefined || have === undefined) absent.push(`${part.source}: no such source in the configuration`);
      else if (have instanceof Error) absent.push(`${part.source}: repository ${repoName} cannot be read (${have.message})`);
      else if (!have.ids.has(part.id)) absent.push(`${part.source}: snapshot ${shortId(part.id)} is not in repository ${repoName} (forgotten?)`);
      else {
        const problems = have.damage.get(part.id) ?? [];
        if (problems.length > 0) absent.push(`${part.source}: snapshot ${shortId(part.id)} is damaged (${problems.length} problems: ${problems.slice(0, 2).join('; ')})`);
      }
    }
    states.push({ point, absent, verified: o.verify === true && absent.length === 0 });
  }
  return { dir, prefix, points: states };
}

function stateWord(s: PointState): string {
  return s.absent.length === 0 ? (s.verified ? 'complete, every byte verified' : 'complete') : `incomplete (${s.absent.length} missing or damaged)`;
}

function stateOf(s: PointState): string {
  return s.absent.length > 0 ? 'incomplete' : s.verified ? 'verified' : 'complete';
}

async function runList(c: Context, f: { gitDir?: string; verify?: boolean }): Promise<number> {
  const { points } = await loadPoints(c, f.gitDir, { verify: f.verify ?? false });
  for (const s of points) {
    c.out.event({ message_type: 'point', ...s.point, state: stateOf(s), absent: s.absent });
    c.out.info(`${s.point.tag}  ${s.point.commit.slice(0, 12)}  ${s.point.reason}  ${s.point.snapshots.length} backups, ${s.point.databases.length} db positions  ${stateWord(s)}`);
  }
  if (points.length === 0) c.out.info('no restore point yet: create one with `safepoint point create`');
  return f.verify && points.some((s) => s.absent.length > 0) ? 1 : 0;
}

async function runShow(c: Context, ref: string, f: { gitDir?: string; verify?: boolean }): Promise<number> {
  const { points, prefix } = await loadPoints(c, f.gitDir);
  let s = findPoint(points.map((x) => ({ ...x, tag: x.point.tag })), ref, prefix);
  if (f.verify) s = { ...(await loadPoints(c, f.gitDir, { verify: true, only: s.point.tag })).points[0]!, tag: s.point.tag };
  const p = s.point;
  c.out.event({ message_type: 'point', ...p, state: stateOf(s), absent: s.absent });
  c.out.info(`restore point ${p.tag}`);
  c.out.info(`  commit   ${p.commit}`);
  c.out.info(`  created  ${p.created} on ${p.host} (${p.reason})`);
  for (const sn of p.snapshots) c.out.info(`  backup   ${sn.source}: snapshot ${shortId(sn.id)}`);
  for (const d of p.databases) c.out.info(`  database ${d.source} (${d.kind}): ${Object.entries(d.position).map(([k, v]) => `${k} ${k === 'snapshot' ? shortId(v) : v}`).join(', ')}`);
  if (p.bundle) c.out.info(`  git      bundle in snapshot ${shortId(p.bundle.id)}`);
  c.out.info(`  state    ${stateWord(s)}`);
  for (const a of s.absent) c.out.info(`    - ${a}`);
  return f.verify && s.absent.length > 0 ? 1 : 0;
}
