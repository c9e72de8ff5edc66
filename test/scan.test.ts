import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli, tempDir, writeTree } from './helpers.js';
import { encryptHead, realisticFile } from '../src/scan/testing.js';

/** Documents, JSON exports and CSVs of 3–90 KiB in a few folders: what a project's data looks like. */
function documents(seed: number, n = 40): Record<string, string> {
  const files: Record<string, string> = {};
  const kinds = ['text', 'json', 'csv'] as const;
  for (let i = 0; i < n; i++) {
    const kind = kinds[i % 3]!;
    files[`${['docs', 'exports', 'reports', 'notes'][i % 4]}/item-${i}.${kind === 'text' ? 'txt' : kind}`] = realisticFile(kind, 3000 + ((i * 7919) % 90_000), seed * 1000 + i);
  }
  return files;
}

interface ScanRow {
  snapshot_id: string;
  time: string;
  suspicious: boolean;
  score: number;
  reasons: string[];
}

test('safepoint scan: ordinary history, a ransomware attack in two backups, partial encryption, --json, unknown source', async (ctx) => {
  const t = await tempDir('sp-scan-');
  try {
    const cfg = join(t.path, 'safepoint.yaml');
    await writeFile(join(t.path, 'pw'), 'scan-test-password\n');
    await writeFile(cfg, [
      'version: 1',
      'project: scan',
      'repositories:',
      '  main: { targets: [ ./repo ], password_file: ./pw }',
      'sources:',
      ...['app', 'shop', 'docs'].flatMap((name) => [`  - name: ${name}`, '    type: files', '    repository: main', `    paths: [ ./${name} ]`]),
    ].join('\n'));
    const env = { SAFEPOINT_PASSWORD: undefined, SAFEPOINT_CONFIG: cfg };
    const cli = (args: string[]): ReturnType<typeof runCli> => runCli(args, { env, cwd: t.path });
    const backup = async (source: string): Promise<void> => {
      const b = await cli(['backup', '--source', source]);
      assert.equal(b.code, 0, b.stderr);
    };
    assert.equal((await cli(['init', '--repo', 'main'])).code, 0);

    // (a) app: ordinary life — edits, new files, a few deletions
    const app = join(t.path, 'app');
    await writeTree(app, documents(1));
    await backup('app');
    for (let day = 1; day <= 3; day++) {
      await writeFile(join(app, `docs/item-${day * 4}.txt`), realisticFile('text', 12_000, 100 + day));
      await writeFile(join(app, `exports/item-${day * 4 + 1}.json`), realisticFile('json', 30_000, 200 + day));
      await writeTree(app, { [`exports/new-${day}.csv`]: realisticFile('csv', 20_000, 300 + day) });
      if (day === 2) for (const rel of Object.keys(documents(1)).filter((p) => p.startsWith('reports/')).slice(0, 2)) await rm(join(app, rel));
      await backup('app');
    }
    const a = await cli(['scan', '--source', 'app']);
    assert.equal(a.code, 0, a.stdout + a.stderr);
    assert.match(a.stdout, /source app: 4 snapshots, 0 suspicious/);
    assert.match(a.stdout, /no suspicious snapshot \(4 snapshots of 1 source scanned\)/);
    assert.doesNotMatch(a.stdout, /SUSPICIOUS/);

    // (b) shop: two clean backups, then ransomware in two runs
    const shop = join(t.path, 'shop');
    const clean = documents(2);
    await writeTree(shop, clean);
    await backup('shop');
    await writeFile(join(shop, 'notes/item-3.txt'), realisticFile('text', 9000, 77));
    await backup('shop');
    const names = Object.keys(clean).sort();
    const encrypt = async (which: readonly string[]): Promise<void> => {
      for (const [i, rel] of which.entries()) {
        const p = join(shop, rel);
        await writeFile(p, encryptHead(await readFile(p), 4096, i + 1));
        await rename(p, `${p}.locked`);
      }
    };
    await encrypt(names.slice(0, names.length / 2));
    await writeFile(join(shop, 'README_TO_DECRYPT.txt'), 'All your files are encrypted. Write to ... to get them back.\n');
    await backup('shop');
    await encrypt(names.slice(names.length / 2));
    await backup('shop');
    const started = Date.now();
    const b = await cli(['scan', '--source', 'shop']);
    const ms = Date.now() - started;
    assert.equal(b.code, 5, b.stdout + b.stderr);
    assert.match(b.stdout, /source shop: 4 snapshots, 2 suspicious/);
    const rows = b.stdout.split('\n').filter((l) => /^[0-9a-f]{8} {2}/.test(l));
    assert.deepEqual(rows.map((l) => l.split(/\s{2,}/)[2]), ['first', 'ok', 'SUSPICIOUS', 'SUSPICIOUS']);
    assert.match(b.stdout, /20 of 20 sampled changed files \(100%\) that compressed well now start with high-entropy data/);
    assert.match(b.stdout, /20 files \(50%\) replaced by a copy with an extension appended: \.locked \(20\)/);
    assert.match(b.stdout, /1 new file named like a ransom note: shop\/README_TO_DECRYPT\.txt/);
    assert.match(b.stdout, /2 of 4 snapshots suspicious: [0-9a-f]{8}, [0-9a-f]{8}/);
    ctx.diagnostic(`scan of 4 snapshots (40 files) through the CLI: ${ms} ms`);

    // (c) docs: the first 4 KiB of half the files encrypted in place, no rename, no note
    const docs = join(t.path, 'docs');
    await writeTree(docs, documents(3));
    await backup('docs');
    await writeFile(join(docs, 'docs/item-0.txt'), realisticFile('text', 5000, 55));
    await backup('docs');
    for (const [i, rel] of Object.keys(documents(3)).sort().entries()) {
      if (i % 2 === 1) continue;
      const p = join(docs, rel);
      await writeFile(p, encryptHead(await readFile(p), 4096, 1000 + i));
    }
    await backup('docs');
    const c = await cli(['scan', '--source', 'docs']);
    assert.equal(c.code, 5, c.stdout + c.stderr);
    assert.match(c.stdout, /source docs: 3 snapshots, 1 suspicious/);
    assert.match(c.stdout, /20 of 20 sampled changed files \(100%\) that compressed well now start with high-entropy data/);
    assert.doesNotMatch(c.stdout, /ransom note|appended/);

    // (d) --json: one array over every source
    const d = await cli(['scan', '--json']);
    assert.equal(d.code, 5, d.stderr);
    const list = JSON.parse(d.stdout) as ScanRow[];
    assert.equal(list.length, 11);
    for (const r of list) {
      assert.deepEqual(Object.keys(r).sort(), ['reasons', 'score', 'snapshot_id', 'suspicious', 'time']);
      assert.match(r.snapshot_id, /^[0-9a-f]{64}$/);
      assert.equal(typeof r.score, 'number');
      assert.ok(r.score >= 0 && r.score <= 1);
      assert.ok(Array.isArray(r.reasons));
      assert.equal(r.suspicious, r.score >= 0.5);
    }
    assert.equal(list.filter((r) => r.suspicious).length, 3);
    const appOnly = JSON.parse((await cli(['scan', '--json', '--source', 'app'])).stdout) as ScanRow[];
    assert.equal(appOnly.length, 4);
    assert.ok(appOnly.every((r) => !r.suspicious));

    // (e) an unknown source: one line, non-zero
    for (const args of [['scan', '--source', 'nope'], ['scan', '--repo', join(t.path, 'repo'), '--password-file', join(t.path, 'pw'), '--source', 'nope']]) {
      const e = await cli(args);
      assert.notEqual(e.code, 0);
      assert.equal(e.stdout, '');
      assert.equal(e.stderr.trim().split('\n').length, 1, e.stderr);
      assert.match(e.stderr, /^error: .*nope/);
    }
  } finally {
    await t.cleanup();
  }
});
