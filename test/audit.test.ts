/** `safepoint audit` and `from_audit` through the CLI, on a sample project with a real repository and real git. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { writeSampleProject } from '../src/audit/testing.js';
import { lastJson, listFiles, runCli, tempDir } from './helpers.js';

const AUDIT = 'docs/rollback_points_audit.md';

/** One clear line on stderr, no stack trace. */
function assertCleanError(stderr: string, pattern: RegExp): void {
  assert.match(stderr, pattern);
  assert.doesNotMatch(stderr, /\n\s+at |internal error/, 'no stack trace');
  assert.equal(stderr.trim().split('\n').length, 1, `one line: ${stderr}`);
}

/** A sample project in t/shop with safepoint.yaml: repository ../repo, source `app` (src/ and package.json) and source `critical` (from_audit). */
async function withProject(fn: (project: string, env: NodeJS.ProcessEnv, tmp: string) => Promise<void>, nodeModules = 500): Promise<void> {
  const t = await tempDir();
  try {
    const project = join(t.path, 'shop');
    await mkdir(project);
    await writeSampleProject(project, { nodeModules });
    const config = join(project, 'safepoint.yaml');
    await writeFile(
      config,
      [
        'version: 1',
        'project: shop',
        'repositories:',
        '  local: { targets: [ ../repo ] }',
        'sources:',
        '  - { name: app, type: files, repository: local, paths: [ ./src, ./package.json ] }',
        `  - { name: critical, type: files, repository: local, from_audit: ${AUDIT} }`,
        '',
      ].join('\n'),
    );
    await fn(project, { SAFEPOINT_CONFIG: config }, t.path);
  } finally {
    await t.cleanup();
  }
}

test('audit writes the report: categories, coverage by the config\'s sources, skipped folders; --json and --dry-run', async () => {
  await withProject(async (project, env) => {
    const dry = await runCli(['audit', project, '--dry-run'], { env });
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /^# Rollback points audit/);
    assert.equal(existsSync(join(project, AUDIT)), false, '--dry-run writes nothing');

    const r = await runCli(['audit', project], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /critical paths: 4 code, 4 configuration, 3 data, 3 secrets and certificates, 3 database files, 7 deployment scripts/);
    assert.match(r.stdout, /wrote .*rollback_points_audit\.md/);
    const md = await readFile(join(project, AUDIT), 'utf8');
    assert.equal(md, dry.stdout.replace(/^- Written: .*$/m, md.match(/^- Written: .*$/m)![0]), 'the file is what --dry-run printed');
    assert.match(md, /^\| `src\/` \| source code: 3 files \(TypeScript, JavaScript\) \| at each major commit \| app, critical \(from_audit\) \|$/m);
    assert.match(md, /^\| `\.env` \*\*secret\*\* \| environment file.* \| at each change \| critical \(from_audit\) \|$/m);
    assert.match(md, /^\| `node_modules\/` \| npm dependencies/m);
    assert.match(md, /^- Coverage checked against: `safepoint\.yaml`$/m);

    // without the from_audit source, what the app source does not hold is flagged
    await writeFile(join(project, 'safepoint.yaml'), 'version: 1\nproject: shop\nrepositories:\n  local: { targets: [ ../repo ] }\nsources:\n  - { name: app, type: files, repository: local, paths: [ ./src ] }\n');
    const j = await runCli(['audit', project, '--json', '--dry-run'], { env });
    assert.equal(j.code, 0, j.stderr);
    const summary = lastJson(j.stdout) as { message_type: string; paths: { path: string; category: string; covered_by: string[]; secret: boolean }[]; not_covered: number; written: boolean; markdown: string; skipped: { path: string }[] };
    assert.equal(summary.message_type, 'summary');
    assert.equal(summary.written, false);
    assert.deepEqual(summary.paths.find((p) => p.path === 'src/')?.covered_by, ['app']);
    assert.deepEqual(summary.paths.find((p) => p.path === '.env')?.covered_by, []);
    assert.equal(summary.not_covered, summary.paths.length - 1);
    assert.match(summary.markdown, /\*\*Not covered: \d+ paths\*\*/);
    assert.match(summary.markdown, /^\| `\.env` \*\*secret\*\* \| .* \| \*\*not covered\*\* \|$/m);
    for (const line of j.stdout.trim().split('\n')) JSON.parse(line); // every stdout line is JSON
  });
});

test('audit warns about each secret tracked by git, and only those', async () => {
  await withProject(async (project, env) => {
    const git = (...args: string[]): string => execFileSync('git', ['-c', 'user.email=t@example.com', '-c', 'user.name=t', ...args], { cwd: project, encoding: 'utf8' });
    git('init', '-q');
    git('add', '.env', 'package.json', 'src');
    git('commit', '-q', '-m', 'oops: .env committed');
    const r = await runCli(['audit', project], { env });
    assert.equal(r.code, 0, r.stderr);
    const warnings = r.stderr.split('\n').filter((l) => l.startsWith('warning:'));
    assert.deepEqual(warnings, ['warning: .env is a secret tracked by git: it is in the history; remove it with `git rm --cached .env`, rotate it and add it to .gitignore']);
    const md = await readFile(join(project, AUDIT), 'utf8');
    assert.match(md, /^\| `\.env` \*\*secret\*\* \| environment file[^|]*; \*\*tracked by git\*\* \|/m);
    assert.match(md, /\*\*Tracked by git: 1 secret\*\* \(`\.env`\)/);
    assert.doesNotMatch(md, /server\.key[^\n]*tracked by git/);
  });
});

test('backup --source with from_audit backs up what the audit lists; editing the audit changes the backup', async () => {
  await withProject(async (project, env, tmp) => {
    const name = basename(project);
    assert.equal((await runCli(['init', '--repo', 'local'], { env })).code, 0);
    assert.equal((await runCli(['audit', project], { env })).code, 0);
    const b1 = await runCli(['backup', '--source', 'critical'], { env });
    assert.equal(b1.code, 0, b1.stderr);
    assert.match(b1.stdout, /from_audit .*rollback_points_audit\.md: \d+ paths under .*\(2 marked secret, stored encrypted\)/);
    const ls = async (): Promise<string[]> => {
      const r = await runCli(['ls', 'latest'], { env });
      assert.equal(r.code, 0, r.stderr);
      return r.stdout.trim().split('\n');
    };
    const first = await ls();
    for (const p of ['src/index.ts', 'src/routes/users.ts', '.env', 'certs/server.key', 'db/production.sqlite3', 'data/sessions.db', 'uploads/avatars/alice.png', 'k8s/deployment.yaml', 'migrations/001_init.sql', 'safepoint.yaml']) {
      assert.ok(first.includes(`${name}/${p}`), `${p} is backed up: ${first.join(' ')}`);
    }
    for (const p of ['README.md', 'node_modules', 'dist', 'logs', 'coverage', 'src/__pycache__', 'etc-link', `docs/rollback_points_audit.md`]) {
      assert.ok(!first.includes(`${name}/${p}`), `${p} is not backed up`);
    }

    // by hand: drop the .env row, add README.md and a path that does not exist
    const file = join(project, AUDIT);
    const md = await readFile(file, 'utf8');
    const edited = md
      .split('\n')
      .filter((l) => !l.startsWith('| `.env` '))
      .join('\n')
      .replace(/^(\| `Dockerfile` .*)$/m, '$1\n| `README.md` | the runbook | at each major commit | |\n| `notes/todo.txt` | planned | daily | |');
    await writeFile(file, edited);
    const b2 = await runCli(['backup', '--source', 'critical'], { env });
    assert.equal(b2.code, 0, b2.stderr);
    assert.match(b2.stderr, /^warning: .*rollback_points_audit\.md:\d+: notes\/todo\.txt does not exist: not backed up$/m);
    const second = await ls();
    assert.ok(second.includes(`${name}/README.md`), 'the added row is backed up');
    assert.ok(!second.includes(`${name}/.env`), 'the removed row is not');
    assert.ok(second.includes(`${name}/certs/server.key`));

    // a restore puts every file back at its place in the project
    const out = join(tmp, 'restored');
    const r = await runCli(['restore', 'latest', '--target', out], { env });
    assert.equal(r.code, 0, r.stderr);
    const restored = await listFiles(join(out, name));
    assert.ok(restored.includes('config/nginx/site.conf') && restored.includes('README.md') && !restored.includes('.env'), restored.join(' '));

    // re-running the audit keeps the row added by hand
    assert.equal((await runCli(['audit', project], { env })).code, 0);
    assert.match(await readFile(file, 'utf8'), /^\| `README\.md` \| the runbook \|/m);
  });
});

test('from_audit: a path out of the project, a missing audit file and a file that is not an audit are one-line errors', async () => {
  await withProject(async (project, env) => {
    assert.equal((await runCli(['init', '--repo', 'local'], { env })).code, 0);
    const missing = await runCli(['backup', '--source', 'critical'], { env });
    assert.notEqual(missing.code, 0);
    assertCleanError(missing.stderr, /^error: audit file .*rollback_points_audit\.md not found: run `safepoint audit`/);

    await mkdir(join(project, 'docs'), { recursive: true });
    await writeFile(join(project, AUDIT), '# Critical files\n\nProject root: `..`\n\n| path | why |\n|---|---|\n| `src/` | code |\n| `../../etc/` | everything |\n');
    const escape = await runCli(['backup', '--source', 'critical'], { env });
    assert.equal(escape.code, 1);
    assertCleanError(escape.stderr, /^error: .*rollback_points_audit\.md:8: path \.\.\/\.\.\/etc\/ escapes the project root/);

    await writeFile(join(project, AUDIT), 'just some notes\n');
    const notAudit = await runCli(['backup', '--source', 'critical'], { env });
    assert.equal(notAudit.code, 1);
    assertCleanError(notAudit.stderr, /^error: audit file .* is not an audit: run `safepoint audit`/);
    const snaps = await runCli(['snapshots', '--json'], { env });
    assert.deepEqual(JSON.parse(snaps.stdout), [], 'nothing was backed up');
  }, 0);
});

test('audit skips an unreadable folder with a warning', async () => {
  await withProject(async (project, env, tmp) => {
    await mkdir(join(project, 'private'));
    await writeFile(join(project, 'private/.env'), 'A=1');
    await chmod(join(project, 'private'), 0);
    // root reads everything: run the CLI as nobody (who may read the project, not the folder)
    const asNobody = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : null;
    if (asNobody) await chmod(tmp, 0o755);
    const r = await runCli(['audit', project, '--dry-run'], { env, as: asNobody });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^warning: cannot read folder private\/: permission denied \(skipped\)$/m);
    assert.match(r.stdout, /^- cannot read folder private\/: permission denied \(skipped\)$/m);
    assert.match(r.stdout, /`\.env` \*\*secret\*\*/, 'the rest of the project is audited');
  }, 0);
});

test('audit refuses a folder that does not exist', async () => {
  const r = await runCli(['audit', '/no/such/project']);
  assert.equal(r.code, 1);
  assertCleanError(r.stderr, /^error: project folder \/no\/such\/project does not exist$/m);
});
