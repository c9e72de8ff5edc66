/** Test support for the scan: an in-memory repository of trees and blobs, and realistic compressible file contents. */
import { createHash } from 'node:crypto';
import type { SnapshotWithId } from '../repo/snapshot.js';
import { encodeTree, type TreeNode } from '../repo/tree.js';
import type { ScanRepo } from './scan-source.js';

export type FileSpec = string | Buffer | { readonly data: string | Buffer; readonly mode: number };

/** Blobs in a map, ids by SHA-256 (identical subtrees share an id, as in a real repository). */
export class MemoryRepo implements ScanRepo {
  readonly #blobs = new Map<string, Buffer>();
  #time = Date.parse('2026-01-01T00:00:00Z');
  /** Data blobs loaded so far. */
  dataLoads = 0;

  async loadIndex(): Promise<void> {}

  hasBlob(id: string): boolean {
    return this.#blobs.has(id);
  }

  async loadBlob(type: 'data' | 'tree', id: string): Promise<Buffer> {
    const b = this.#blobs.get(id);
    if (!b) throw new Error(`no blob ${id}`);
    if (type === 'data') this.dataLoads++;
    return b;
  }

  save(b: Buffer): string {
    const id = createHash('sha256').update(b).digest('hex');
    this.#blobs.set(id, b);
    return id;
  }

  /** A snapshot of `files` (slash-separated paths), a day after the previous one. Files are cut into 64 KiB chunks. */
  snapshot(files: Readonly<Record<string, FileSpec>>, o: { source?: string; meta?: Record<string, unknown>; tags?: string[] } = {}): SnapshotWithId {
    const tree = this.#saveDir(files, '');
    const time = new Date(this.#time).toISOString();
    this.#time += 86_400_000;
    return {
      version: 1, time, host: 'h', username: 'u', uid: 0, gid: 0, paths: ['/srv/app'], tags: o.tags ?? [], source: o.source ?? 'app',
      type: 'full', parent: null, tree, excludes: [], complete: true, warnings: [],
      summary: { files_new: 0, files_changed: 0, files_unmodified: 0, dirs_new: 0, dirs_changed: 0, dirs_unmodified: 0, data_blobs: 0, tree_blobs: 0, data_added: 0, total_files_processed: 0, total_bytes_processed: 0, backup_start: time, backup_end: time, total_duration: 0 },
      program_version: 'test', ...(o.meta ? { meta: o.meta } : {}),
      id: createHash('sha256').update(`${tree}${time}`).digest('hex'),
    };
  }

  #saveDir(files: Readonly<Record<string, FileSpec>>, prefix: string): string {
    const nodes: TreeNode[] = [];
    const dirs = new Set<string>();
    for (const [path, spec] of Object.entries(files)) {
      if (!path.startsWith(prefix)) continue;
      const rest = path.slice(prefix.length);
      const slash = rest.indexOf('/');
      if (slash >= 0) {
        dirs.add(rest.slice(0, slash));
        continue;
      }
      const data = typeof spec === 'string' || Buffer.isBuffer(spec) ? Buffer.from(spec) : Buffer.from(spec.data);
      const mode = typeof spec === 'string' || Buffer.isBuffer(spec) ? 0o644 : spec.mode;
      const content: string[] = [];
      for (let at = 0; at < data.length; at += 65536) content.push(this.save(data.subarray(at, at + 65536)));
      nodes.push({ name: rest, type: 'file', mode, uid: 0, gid: 0, mtime: '0', ctime: '0', inode: 0, dev: 0, nlink: 1, size: data.length, content });
    }
    for (const d of dirs) nodes.push({ name: d, type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: '0', ctime: '0', inode: 0, dev: 0, nlink: 1, size: 0, subtree: this.#saveDir(files, `${prefix}${d}/`) });
    return this.save(encodeTree(nodes));
  }
}

/** Deterministic pseudo-random numbers (mulberry32), so test data is the same on every run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = 'the backup of every order is kept for ninety days while the invoice service writes its ledger to the database and customers receive a confirmation email with their delivery address payment status and a summary of the items they bought in the shop this week'.split(' ');

/** Text, JSON or CSV of about `bytes` bytes: what documents, configs and exports look like (compress to 20–50%). */
export function realisticFile(kind: 'text' | 'json' | 'csv', bytes: number, seed: number): string {
  const r = prng(seed);
  const word = (): string => WORDS[Math.floor(r() * WORDS.length)]!;
  const parts: string[] = [];
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    let line: string;
    if (kind === 'json') line = `  {"id": ${seed * 10000 + i}, "name": "${word()} ${word()}", "amount": ${(r() * 1000).toFixed(2)}, "status": "${word()}", "tags": ["${word()}", "${word()}"]},\n`;
    else if (kind === 'csv') line = `${seed * 10000 + i},${word()},${word()} ${word()},${(r() * 500).toFixed(2)},2026-0${1 + Math.floor(r() * 9)}-1${Math.floor(r() * 9)}\n`;
    else line = Array.from({ length: 8 + Math.floor(r() * 10) }, word).join(' ') + '.\n';
    parts.push(line);
    size += line.length;
  }
  const body = parts.join('');
  return kind === 'json' ? `[\n${body}  {}\n]\n` : kind === 'csv' ? `id,category,label,amount,date\n${body}` : body;
}

/** Random bytes from the seed: what ciphertext looks like. */
export function randomBytesFrom(n: number, seed: number): Buffer {
  const r = prng(seed);
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(r() * 256);
  return b;
}

/** What intermittent ransomware leaves: the first `n` bytes replaced by ciphertext, the rest untouched. */
export function encryptHead(data: string | Buffer, n: number, seed: number): Buffer {
  const b = Buffer.from(data);
  randomBytesFrom(Math.min(n, b.length), seed).copy(b, 0);
  return b;
}
