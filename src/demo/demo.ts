import { mkdtemp, mkdir, writeFile, rm, symlink, unlink, readFile, open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Repository } from '../repo/repository.js';
import { openStorage } from '../storage/registry.js';
import { backup } from '../snapshot/archiver.js';
import { restoreTree } from '../snapshot/restorer.js';
import { diffLive, type Change } from '../snapshot/diff.js';
import { loadTree } from '../repo/tree.js';
import { checkRepository } from '../verify/check.js';
import { shortId } from '../repo/ids.js';
import { Secret } from '../util/secret.js';
import { IntegrityError } from '../util/errors.js';
import { formatBytes } from '../util/format.js';

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
 * The demo scenario (npm start): a sample project is backed up into a local repository, damaged, restored and
 * verified byte for byte against the snapshot.
 */
export async function runDemo(o: { dir?: string; keep?: boolean; onStep?: (s: DemoStep) => void } = {}): Promise<DemoResult> {
  const dir = o.dir ?? (await mkdtemp(join(tmpdir(), 'safepoint-demo-')));
  const project = join(dir, 'shop');
  const steps: DemoStep[] = [];
  const step = async <T>(title: string, fn: () => Promise<[T, string]>): Promise<T> => {
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
    const repo = await step('initialise an encrypted repository', async () => {
      const r = await Repository.init(await openStorage(join(dir, 'repo')), new Secret(randomBytes(16).toString('hex')));
      return [r, `${join(dir, 'repo')} (AES-256-GCM, scrypt-wrapped key, id ${shortId(r.config.id)})`];
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
    await step('restore the last good snapshot in place', async () => {
      await rm(project, { recursive: true, force: true }); // the safety snapshot holds what is removed here
      const r = await restoreTree(repo, second.snapshot.tree, { target: dir, overwrite: true, verify: true });
      if (r.errors.length > 0) throw new IntegrityError(`restore failed: ${r.errors.join('; ')}`);
      return [r, `${r.files} files, ${r.dirs} folders, ${formatBytes(r.bytes)} written; ${r.verified} files re-read and verified`];
    });
    const ok = await step('verify every byte against the snapshot', async () => {
      const changes: Change[] = [];
      for await (const c of diffLive(repo, await rootNode(), project, liveOpts, 'shop')) changes.push(c);
      const report = await checkRepository(repo, { readData: 1 });
      const good = changes.length === 0 && report.problems.length === 0;
      return [good, good && changes.length === 0 ? `no difference with snapshot ${shortId(second.snapshotId)}; check --read-data: ${report.blobsRead} blobs in ${report.packsRead} packs verified` : `${changes.length} differences (${changes.slice(0, 5).map((c) => `${c.kind} ${c.path}`).join(', ')}), ${report.problems.length} repository problems`];
    });
    await repo.close();
    return { dir, steps, ok };
  } finally {
    if (!o.keep && !o.dir) await rm(dir, { recursive: true, force: true });
  }
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
