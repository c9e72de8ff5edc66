import type { Command } from 'commander';
import { resolve, basename } from 'node:path';
import { CONTINUOUS_TAGS, findSnapshot, formatSnapshotTime, isContinuous, loadSnapshots, type SnapshotWithId } from '../repo/snapshot.js';
import { walkTree, loadTree } from '../repo/tree.js';
import { shortId } from '../repo/ids.js';
import { diffLive, diffTrees, type Change } from '../snapshot/diff.js';
import { repositoryStats } from '../repo/stats.js';
import { UsageError } from '../util/errors.js';
import { formatBytes, table } from '../util/format.js';
import type { Context } from './context.js';
import { collect } from './options.js';
import type { Repository } from '../repo/repository.js';


export function registerInspect(program: Command, ctx: () => Context): void {
  program
    .command('snapshots')
    .description('list snapshots')
    .option('--source <name>', 'only snapshots of this source')
    .option('--host <name>', 'only snapshots from this host')
    .option('--tag <tag>', 'only snapshots with this tag (repeatable)', collect, [])
    .option('--wal', 'also list continuous protection entries: the PostgreSQL WAL archive (tag wal) and SQLite replication (tag replica)')
    .action(async (f: { source?: string; host?: string; tag: string[]; wal?: boolean }) => {
      const c = ctx();
      await c.withRepository('snapshots', 'none', async (repo) => {
        const all = await loadSnapshots(repo, { ...(f.source ? { source: f.source } : {}), ...(f.host ? { host: f.host } : {}), tags: f.tag });
        const showAll = f.wal === true || f.tag.some((t) => CONTINUOUS_TAGS.includes(t));
        const list = showAll ? all : all.filter((s) => !isContinuous(s));
        if (c.out.json) process.stdout.write(JSON.stringify(list.map(jsonSnapshot)) + '\n');
        c.out.info(table([['ID', 'Time', 'Host', 'Source', 'Type', 'Tags', 'Paths', 'Size'], ...list.map(row)]));
        const hidden = all.length - list.length;
        c.out.info(`${list.length} snapshots${hidden > 0 ? `, and ${hidden} WAL archive and replication entries (--wal lists them)` : ''}`);
      });
    });

  program
    .command('ls')
    .description('list the files in a snapshot')
    .argument('<snapshot>', 'snapshot id or "latest"')
    .argument('[path]', 'only entries under this path (relative to the snapshot root)')
    .option('-l, --long', 'show mode, size and time')
    .action(async (ref: string, path: string | undefined, f: { long?: boolean }) => {
      const c = ctx();
      await c.withRepository('ls', 'none', async (repo) => {
        await repo.loadIndex();
        const sn = await findSnapshot(repo, ref);
        const prefix = path?.replace(/^\/+|\/+$/g, '') ?? '';
        for await (const { path: p, node } of walkTree(repo, sn.tree)) {
          if (prefix && p !== prefix && !p.startsWith(prefix + '/')) continue;
          if (c.out.json) c.out.event({ message_type: 'node', path: p, type: node.type, size: node.size, mode: node.mode, mtime: nsIso(node.mtime), uid: node.uid, gid: node.gid });
          else if (f.long) c.out.info(`${modeString(node.type, node.mode)} ${String(node.uid).padStart(5)} ${String(node.gid).padStart(5)} ${String(node.size).padStart(12)} ${nsIso(node.mtime)} ${p}${node.type === 'symlink' ? ` -> ${node.target ?? ''}` : ''}`);
          else c.out.info(p);
        }
      });
    });

  program
    .command('diff')
    .description('what changed between two snapshots, or between a snapshot and the disk now (--live)')
    .argument('<snapshot-a>', 'snapshot id or "latest"')
    .argument('[snapshot-b]', 'second snapshot')
    .option('--live [path]', 'compare with the files on disk now (default: the snapshot\'s own paths)')
    .option('--quick', 'with --live: trust size and mtime instead of hashing file contents')
    .action(async (a: string, b: string | undefined, f: { live?: string | boolean; quick?: boolean }) => {
      const c = ctx();
      await c.withRepository('diff', 'none', async (repo) => {
        await repo.loadIndex();
        const sa = await findSnapshot(repo, a);
        let changes: AsyncIterable<Change>;
        if (f.live !== undefined) {
          if (b) throw new UsageError('give one snapshot with --live');
          changes = liveChanges(repo, sa, typeof f.live === 'string' ? f.live : undefined, !f.quick);
        } else {
          if (!b) throw new UsageError('give two snapshots, or one with --live');
          changes = diffTrees(repo, sa.tree, (await findSnapshot(repo, b)).tree);
        }
        const counts = { '+': 0, '-': 0, M: 0, T: 0, U: 0 };
        for await (const ch of changes) {
          counts[ch.kind]++;
          c.out.event({ message_type: 'change', path: ch.path, modifier: ch.kind, type: ch.type });
          c.out.info(`${ch.kind}    ${ch.path}${ch.type === 'dir' ? '/' : ''}`);
        }
        c.out.event({ message_type: 'statistics', added: counts['+'], removed: counts['-'], modified: counts.M, type_changed: counts.T, metadata_changed: counts.U });
        c.out.info(`\n${counts['+']} added, ${counts['-']} removed, ${counts.M} modified, ${counts.T} changed type, ${counts.U} metadata only`);
        const changed = counts['+'] + counts['-'] + counts.M + counts.T + counts.U;
        process.exitCode = f.live !== undefined && changed > 0 ? 1 : 0;
      });
    });

  program
    .command('stats')
    .description('repository size, deduplication and compression figures')
    .action(async () => {
      const c = ctx();
      await c.withRepository('stats', 'none', async (repo) => {
        const s = await repositoryStats(repo);
        c.out.event({ message_type: 'stats', ...s });
        c.out.info(`snapshots:                ${s.snapshots}`);
        c.out.info(`packs:                    ${s.packs}  (${formatBytes(s.stored_size)})`);
        c.out.info(`blobs:                    ${s.blobs}  (${s.tree_blobs} trees)`);
        c.out.info(`unique data (raw):        ${formatBytes(s.raw_size)}`);
        c.out.info(`files in all snapshots:   ${s.total_file_count}  (${formatBytes(s.total_size)})`);
        c.out.info(`dedup ratio:              ${s.raw_size > 0 ? (s.total_size / s.raw_size).toFixed(2) : '-'}x   compression: ${s.stored_size > 0 ? (s.raw_size / s.stored_size).toFixed(2) : '-'}x`);
      });
    });
}

/** Live diff: the snapshot's root holds one node per backed-up path; compare each with that path on disk. */
async function* liveChanges(repo: Repository, sn: SnapshotWithId, path: string | undefined, content: boolean): AsyncGenerator<Change> {
  const root = (await loadTree(repo, sn.tree)).nodes;
  const o = { content, gear: repo.gear, chunkerParams: repo.chunkerParams, blobId: (p: Uint8Array) => repo.blobId(p) };
  const wanted = path ? [resolve(path)] : sn.paths;
  for (const p of wanted) {
    const node = root.find((n) => n.name === (basename(p) || '/'));
    if (!node) throw new UsageError(`${p} is not one of the snapshot's paths (${sn.paths.join(', ')})`);
    if (node.type !== 'dir') throw new UsageError(`${p} is a single file: compare folders with --live`);
    yield* diffLive(repo, node.subtree, p, o, node.name);
  }
}

function row(s: SnapshotWithId): string[] {
  return [shortId(s.id), formatSnapshotTime(s), s.host, s.source ?? '', s.type + (s.complete ? '' : ' (incomplete)'), s.tags.join(','), s.paths.join(','), formatBytes(s.summary.total_bytes_processed)];
}

function jsonSnapshot(s: SnapshotWithId): Record<string, unknown> {
  return { id: s.id, short_id: shortId(s.id), time: s.time, host: s.host, username: s.username, paths: s.paths, tags: s.tags, source: s.source, type: s.type, parent: s.parent, tree: s.tree, complete: s.complete, summary: s.summary };
}

const nsIso = (ns: string): string => new Date(Number(BigInt(ns) / 1000000n)).toISOString();

function modeString(type: string, mode: number): string {
  const t = type === 'dir' ? 'd' : type === 'symlink' ? 'l' : type === 'fifo' ? 'p' : type === 'socket' ? 's' : type === 'chardev' ? 'c' : type === 'blockdev' ? 'b' : '-';
  const bits = 'rwxrwxrwx'.split('').map((ch, i) => ((mode >> (8 - i)) & 1 ? ch : '-')).join('');
  return t + bits;
}
