import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { groupFindings } from './group.js';
import { scanProject } from './scan.js';
import { NODE_MODULES_FILES, writeSampleProject } from './testing.js';

async function withSample(fn: (root: string) => Promise<void>, o: { nodeModules?: number } = {}): Promise<void> {
  const root = await realpath(await mkdtemp(join(tmpdir(), 'sp-audit-')));
  try {
    await writeSampleProject(root, o);
    await fn(root);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

test('the sample project: every critical file in its category, with its reason', async () => {
  await withSample(async (root) => {
    const started = Date.now();
    const scan = await scanProject(root);
    const ms = Date.now() - started;
    const { rows, stacks } = groupFindings(scan);
    const by = (c: string): string[] => rows.filter((r) => r.category === c).map((r) => r.path).sort();
    assert.deepEqual(by('code'), ['package-lock.json', 'package.json', 'src/', 'tsconfig.json']);
    assert.deepEqual(by('configuration'), ['.env.example', 'config/default.yaml', 'config/nginx/site.conf']);
    assert.deepEqual(by('data'), ['data/', 'legacy.db', 'uploads/'], 'the fake .db is plain data, not a database');
    assert.deepEqual(by('secrets'), ['.env', 'certs/server.crt', 'certs/server.key']);
    assert.deepEqual(by('database'), ['data/sessions.db', 'db/production.sqlite3', 'migrations/']);
    assert.deepEqual(by('deployment'), ['.github/workflows/ci.yml', 'Dockerfile', 'Procfile', 'deploy.sh', 'docker-compose.yml', 'k8s/deployment.yaml', 'systemd/shop.service']);

    const row = (p: string) => rows.find((r) => r.path === p)!;
    assert.equal(row('.env').secret, true);
    assert.equal(row('certs/server.key').secret, true);
    assert.equal(row('certs/server.crt').secret, false, 'a certificate is public');
    assert.equal(row('.env.example').secret, false);
    assert.match(row('db/production.sqlite3').why, /SQLite database/);
    assert.match(row('legacy.db').why, /not a SQLite database/);
    assert.match(row('k8s/deployment.yaml').why, /Kubernetes manifest \(Deployment, Service\)/);
    assert.match(row('systemd/shop.service').why, /systemd unit/);
    assert.match(row('config/nginx/site.conf').why, /nginx/);
    assert.match(row('src/').why, /source code: 3 files \(TypeScript, JavaScript\)/);
    assert.equal(row('data/').frequency, 'daily');
    assert.equal(row('src/').frequency, 'at each major commit');
    assert.equal(row('config/default.yaml').frequency, 'at each major commit');

    assert.deepEqual(
      scan.skipped.map((s) => s.path).sort(),
      ['coverage/', 'dist/', 'logs/', 'node_modules/', 'src/__pycache__/'],
    );
    assert.match(scan.skipped.find((s) => s.path === 'node_modules/')!.why, /npm ci/);
    const stackNames = new Map(stacks.map((s) => [s.name, s.evidence]));
    assert.equal(stackNames.get('Node.js'), 'package.json');
    assert.equal(stackNames.get('Docker'), 'Dockerfile');
    assert.equal(stackNames.get('Kubernetes'), 'k8s/deployment.yaml');
    assert.equal(stackNames.get('SQLite'), 'data/sessions.db', 'the first database found, by header');
    assert.equal(stackNames.get('Database migrations'), 'migrations/');
    assert.equal(stackNames.get('systemd'), 'systemd/shop.service');
    assert.equal(stackNames.get('nginx'), 'config/nginx/site.conf');
    assert.equal(stackNames.get('dotenv (.env files)'), '.env');

    // node_modules was not entered: far fewer entries than the files it holds, and quick
    assert.ok(scan.entries < 200, `looked at ${scan.entries} entries (node_modules has ${NODE_MODULES_FILES} files)`);
    assert.ok(ms < 2000, `scan took ${ms} ms`);
    assert.ok(scan.notes.some((n) => /1 symbolic link was not followed/.test(n)), scan.notes.join('\n'));
    assert.ok(!rows.some((r) => r.path.startsWith('etc-link')), 'the link to /etc is not followed');
  });
});

test('the walk stops at its entry and depth budgets, with a note', async () => {
  await withSample(async (root) => {
    const capped = await scanProject(root, { maxEntries: 10 });
    assert.equal(capped.truncated, true);
    assert.equal(capped.entries, 10);
    assert.ok(capped.notes.some((n) => /stopped after 10 files and folders/.test(n)));

    await mkdir(join(root, 'a/b/c/d'), { recursive: true });
    await writeFile(join(root, 'a/b/c/d/deep.env'), 'TOKEN=1');
    const shallow = await scanProject(root, { maxDepth: 2 });
    assert.ok(!shallow.files.some((f) => f.rel === 'a/b/c/d/deep.env'));
    assert.ok(shallow.notes.some((n) => /deeper than 2 levels/.test(n)), shallow.notes.join('\n'));
    const deep = await scanProject(root);
    assert.ok(deep.files.some((f) => f.rel === 'a/b/c/d/deep.env' && f.cls.secret === true));
  }, { nodeModules: 100 });
});

test('virtualenvs, caches and backup repositories are recognised by what they hold', async () => {
  await withSample(async (root) => {
    await mkdir(join(root, 'pyenv/lib'), { recursive: true });
    await writeFile(join(root, 'pyenv/pyvenv.cfg'), 'home = /usr/bin\n');
    await writeFile(join(root, 'pyenv/lib/secret.key'), 'not scanned');
    await mkdir(join(root, 'backups/keys'), { recursive: true });
    for (const d of ['snapshots', 'index', 'data']) await mkdir(join(root, 'backups', d));
    await writeFile(join(root, 'backups/config'), 'x');
    const scan = await scanProject(root);
    const skipped = new Map(scan.skipped.map((s) => [s.path, s.why]));
    assert.match(skipped.get('pyenv/') ?? '', /virtualenv/);
    assert.match(skipped.get('backups/') ?? '', /backup repository/);
    assert.ok(!scan.files.some((f) => f.rel.startsWith('pyenv/') || f.rel.startsWith('backups/')));
    // a repository in a folder whose name says data (storage/): skipped, not listed as data to back up
    await mkdir(join(root, 'storage/keys'), { recursive: true });
    for (const d of ['snapshots', 'index', 'data']) await mkdir(join(root, 'storage', d));
    await writeFile(join(root, 'storage/config'), 'x');
    const again = await scanProject(root);
    assert.match(new Map(again.skipped.map((x) => [x.path, x.why])).get('storage/') ?? '', /backup repository/);
    assert.ok(!again.dataFolders.some((f) => f.path === 'storage/'), JSON.stringify(again.dataFolders));
  }, { nodeModules: 0 });
});
