/**
 * What a restore will write, held in typed arrays rather than one object per entry and per chunk.
 *
 * A restore of 30,000 files kept, per file, its tree node (an object with a name, two time strings and a list of
 * 64-character blob ids), an entry linking it to its parent, a job with its progress, and per chunk a location
 * object, a target object and a record of the blob: ~30 MiB of live heap for the 1.5 GB benchmark, which the heap
 * cap lets grow by half between collections. Here an entry is a row of columns (parent, type, mode, owner, mtime,
 * size) plus its name, and a chunk to write is a row of the chunk columns (pack, offset, lengths, binary id, file,
 * file offset): ~100 bytes of heap per file and ~60 bytes outside it per chunk. Objects are made for the packs
 * being read and the files being written, and are short-lived.
 */
import picomatch from 'picomatch';
import type { BlobLocation } from '../repo/index-file.js';
import { isSafeName, loadTree, type NodeType, type TreeNode } from '../repo/tree.js';
import type { BlobLoader } from '../repo/repository.js';
import { IntegrityError, errorMessage } from '../util/errors.js';
import { nsToSeconds } from '../util/small-files.js';

/** What planning needs from the repository. */
export type PlanRepo = BlobLoader & { locate(id: string): readonly BlobLocation[] };

export interface PlanOptions {
  readonly include?: readonly string[];
  readonly exclude?: readonly string[];
}

const TYPES: readonly NodeType[] = ['file', 'dir', 'symlink', 'fifo', 'socket', 'chardev', 'blockdev'];
const FILE = TYPES.indexOf('file');
const DIR = TYPES.indexOf('dir');
const ID_BYTES = 32;

/** The metadata restored on an entry (made on demand from the columns). */
export interface EntryMeta {
  readonly type: NodeType;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** Seconds since the epoch (what utimes takes). */
  readonly mtime: number;
  readonly size: number;
  readonly target?: string;
  readonly rdev?: number;
}

/** One blob of a pack to read, and the places its bytes go. */
export interface PlannedBlob {
  readonly id: string;
  readonly loc: BlobLocation;
  readonly targets: { readonly file: number; readonly offset: number }[];
}

/** A growable typed array. */
class Column<T extends Float64Array | Int32Array | Uint32Array | Uint8Array> {
  a: T;
  constructor(
    private readonly make: (n: number) => T,
    private readonly per = 1,
  ) {
    this.a = make(1024 * per);
  }
  /** Rows there is room for. */
  get rows(): number {
    return this.a.length / this.per;
  }
  reserve(rows: number): void {
    if (rows <= this.rows) return;
    const bigger = this.make(Math.max(rows, this.rows * 2) * this.per);
    bigger.set(this.a);
    this.a = bigger;
  }
}

const f64 = (): Column<Float64Array> => new Column((n) => new Float64Array(n));
const i32 = (): Column<Int32Array> => new Column((n) => new Int32Array(n));
const u32 = (): Column<Uint32Array> => new Column((n) => new Uint32Array(n));
const u8 = (per = 1): Column<Uint8Array> => new Column((n) => new Uint8Array(n), per);

export class RestorePlan {
  /** Entries, parents before children, in tree order. */
  count = 0;
  readonly #parent = i32();
  readonly #type = u8();
  readonly #mode = u32();
  readonly #uid = u32();
  readonly #gid = u32();
  readonly #mtime = f64();
  readonly #size = f64();
  /** Per file: its first chunk row and how many (its chunk rows are consecutive). */
  readonly #firstChunk = i32();
  readonly #chunks = i32();
  readonly #names: string[] = [];
  /** Symlink targets and device numbers: few entries have them. */
  readonly #extra = new Map<number, { target?: string; rdev?: number }>();
  /** Later names of a hard-linked file, each with the entry of its first name (restored as a link to it). */
  readonly laterLinks: [entry: number, first: number][] = [];
  /** Files that cannot be restored, found while planning (a blob missing from the index...). */
  readonly failures: [entry: number, message: string][] = [];

  /** Chunk rows: where the blob is, its binary id, and where it goes. */
  chunkCount = 0;
  readonly #cPack = i32();
  readonly #cOffset = u32();
  readonly #cLength = u32();
  readonly #cRaw = u32();
  readonly #cCompressed = u8();
  readonly #cId = u8(ID_BYTES);
  readonly #cFile = i32();
  readonly #cAt = f64();
  readonly #packIds: string[] = [];
  readonly #packNumber = new Map<string, number>();
  /** The columns of an entry row and of a chunk row, grown together. */
  readonly #entryColumns = [this.#parent, this.#type, this.#mode, this.#uid, this.#gid, this.#mtime, this.#size, this.#firstChunk, this.#chunks];
  readonly #chunkColumns = [this.#cPack, this.#cOffset, this.#cLength, this.#cRaw, this.#cCompressed, this.#cId, this.#cFile, this.#cAt];

  /** Walks the snapshot tree and keeps what include/exclude select; directories on the way are kept. */
  static async build(repo: PlanRepo, treeId: string, o: PlanOptions = {}): Promise<RestorePlan> {
    const plan = new RestorePlan();
    const inc = o.include && o.include.length > 0 ? picomatch([...o.include], { dot: true }) : null;
    const exc = o.exclude && o.exclude.length > 0 ? picomatch([...o.exclude], { dot: true }) : null;
    const links = new Map<string, number>();
    const visit = async (id: string, parent: number, prefix: string, parentIncluded: boolean): Promise<boolean> => {
      let any = false;
      for (const node of (await loadTree(repo, id)).nodes) {
        if (!isSafeName(node.name)) throw new IntegrityError(`tree ${id.slice(0, 8)} holds an unsafe name ${JSON.stringify(node.name)}: refusing to restore it`);
        const rel = prefix === '' ? node.name : `${prefix}/${node.name}`;
        if (exc?.(rel)) continue;
        const included = parentIncluded || inc === null || inc(rel);
        if (node.type === 'dir') {
          const dir = plan.#add(node, parent);
          const childAny = node.subtree ? await visit(node.subtree, dir, rel, included) : false;
          if (included || childAny) any = true;
          else plan.count = dir; // nothing below it was kept either: it is the last entry
        } else if (included) {
          const e = plan.#add(node, parent);
          if (node.type === 'file') {
            const key = `${node.dev}:${node.inode}`;
            const first = node.nlink > 1 ? links.get(key) : undefined;
            if (first !== undefined) plan.laterLinks.push([e, first]);
            else {
              if (node.nlink > 1) links.set(key, e);
              plan.#addChunks(repo, e, node);
            }
          }
          any = true;
        }
      }
      return any;
    };
    await visit(treeId, -1, '', false);
    return plan;
  }

  #add(node: TreeNode, parent: number): number {
    const e = this.count++;
    if (this.count > this.#parent.rows) for (const c of this.#entryColumns) c.reserve(this.count);
    this.#parent.a[e] = parent;
    this.#type.a[e] = TYPES.indexOf(node.type);
    this.#mode.a[e] = node.mode;
    this.#uid.a[e] = node.uid;
    this.#gid.a[e] = node.gid;
    this.#mtime.a[e] = nsToSeconds(node.mtime);
    this.#size.a[e] = node.size;
    this.#firstChunk.a[e] = 0;
    this.#chunks.a[e] = 0;
    this.#names[e] = node.name;
    this.#extra.delete(e); // an entry number reused after a directory was dropped
    if (node.target !== undefined || node.rdev !== undefined) this.#extra.set(e, { ...(node.target !== undefined ? { target: node.target } : {}), ...(node.rdev !== undefined ? { rdev: node.rdev } : {}) });
    return e;
  }

  /** The file's chunks, each at its offset; a file with a blob the index lacks is a failure, with no chunk rows. */
  #addChunks(repo: PlanRepo, e: number, node: TreeNode): void {
    const content = node.content ?? [];
    const first = this.chunkCount;
    try {
      let at = 0;
      for (const id of content) {
        const loc = repo.locate(id)[0];
        if (!loc) throw new IntegrityError(`data blob ${id.slice(0, 8)} is missing from the repository (run \`safepoint check\`)`);
        const c = this.chunkCount++;
        if (this.chunkCount > this.#cPack.rows) for (const c of this.#chunkColumns) c.reserve(this.chunkCount);
        let p = this.#packNumber.get(loc.pack);
        if (p === undefined) {
          p = this.#packIds.push(loc.pack) - 1;
          this.#packNumber.set(loc.pack, p);
        }
        this.#cPack.a[c] = p;
        this.#cOffset.a[c] = loc.offset;
        this.#cLength.a[c] = loc.length;
        this.#cRaw.a[c] = loc.rawLength;
        this.#cCompressed.a[c] = loc.compressed ? 1 : 0;
        this.#cFile.a[c] = e;
        this.#cAt.a[c] = at;
        if (Buffer.from(this.#cId.a.buffer, c * ID_BYTES, ID_BYTES).write(id, 'hex') !== ID_BYTES) throw new IntegrityError(`tree lists a blob id that is not 64 hex digits: ${JSON.stringify(id)}`);
        at += loc.rawLength;
      }
      if (at !== node.size) throw new IntegrityError(`the index says ${at} bytes, the snapshot says ${node.size}`);
      this.#firstChunk.a[e] = first;
      this.#chunks.a[e] = content.length;
    } catch (err) {
      this.chunkCount = first;
      this.failures.push([e, errorMessage(err)]);
    }
  }

  name(e: number): string {
    return this.#names[e]!;
  }
  /** The slash-separated path below the restore target (made when asked: not kept for 30,000 entries). */
  rel(e: number): string {
    const names: string[] = [];
    for (let x = e; x >= 0; x = this.#parent.a[x]!) names.push(this.#names[x]!);
    return names.reverse().join('/');
  }
  isFile(e: number): boolean {
    return this.#type.a[e] === FILE;
  }
  isDir(e: number): boolean {
    return this.#type.a[e] === DIR;
  }
  size(e: number): number {
    return this.#size.a[e]!;
  }
  /** Chunks of a file (0 for an empty file, or one that failed while planning). */
  chunks(e: number): number {
    return this.#chunks.a[e]!;
  }
  meta(e: number): EntryMeta {
    const x = this.#extra.get(e);
    return { type: TYPES[this.#type.a[e]!]!, mode: this.#mode.a[e]!, uid: this.#uid.a[e]!, gid: this.#gid.a[e]!, mtime: this.#mtime.a[e]!, size: this.#size.a[e]!, ...x };
  }

  /** A file's chunks in order: blob id, offset in the file and plaintext length (to verify what was written). */
  *fileChunks(e: number): Generator<{ id: string; offset: number; length: number }> {
    const first = this.#firstChunk.a[e]!;
    for (let c = first; c < first + this.#chunks.a[e]!; c++) yield { id: this.#id(c), offset: this.#cAt.a[c]!, length: this.#cRaw.a[c]! };
  }

  /**
   * Pack by pack, the blobs to read from it in offset order, each once with every place it goes (a blob several
   * files share, or one file holds twice, is read and decoded once). The objects are made per pack, as it is asked.
   */
  *packs(): Generator<{ pack: string; blobs: () => PlannedBlob[] }> {
    const order = new Int32Array(this.chunkCount);
    for (let i = 0; i < order.length; i++) order[i] = i;
    const pack = this.#cPack.a;
    const offset = this.#cOffset.a;
    order.sort((a, b) => pack[a]! - pack[b]! || offset[a]! - offset[b]! || a - b);
    for (let i = 0; i < order.length; ) {
      const p = pack[order[i]!]!;
      let end = i;
      while (end < order.length && pack[order[end]!] === p) end++;
      const from = i;
      yield { pack: this.#packIds[p]!, blobs: () => this.#blobs(order, from, end) };
      i = end;
    }
  }

  #blobs(order: Int32Array, from: number, end: number): PlannedBlob[] {
    const out: PlannedBlob[] = [];
    for (let i = from; i < end; ) {
      const c = order[i]!;
      const targets: { file: number; offset: number }[] = [];
      let j = i;
      for (; j < end && this.#cOffset.a[order[j]!] === this.#cOffset.a[c]; j++) targets.push({ file: this.#cFile.a[order[j]!]!, offset: this.#cAt.a[order[j]!]! });
      const id = this.#id(c);
      const loc: BlobLocation = { id, pack: this.#packIds[this.#cPack.a[c]!]!, type: 'data', offset: this.#cOffset.a[c]!, length: this.#cLength.a[c]!, rawLength: this.#cRaw.a[c]!, compressed: this.#cCompressed.a[c] === 1 };
      out.push({ id, loc, targets });
      i = j;
    }
    return out;
  }

  #id(c: number): string {
    return Buffer.from(this.#cId.a.buffer, c * ID_BYTES, ID_BYTES).toString('hex');
  }
}
