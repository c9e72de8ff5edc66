/**
 * `safepoint report` through the CLI on real files and a real SQLite database (issue 7): after backups, drills (one
 * failing) and a check, the Markdown, HTML and JSON reports say what the other commands said — the verdicts of
 * `status`, the bytes each backup added, the restore time each drill measured, the failing drill's cause — and
 * `--since` narrows the period.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { runCli, tempDir, writeTree } from './helpers.js';

const events = (stdout: string, type: string): Record<string, unknown>[] =>
  stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>).filter((e) => e.message_type === type);

interface Report {
  report_version: number;
  project: string;
  period: { since: string; until: string };
  summary: { sources: number; ok: number; at_risk: number; violated: number; backups: number; drills: number; drills_failed: number };
  sources: {
    name: string;
    verdict: string;
    reasons: string[];
    last_backups: { snapshot_id: string; data_added: number; bytes_processed: number; complete: boolean }[];
    series: { backups: unknown[]; rpo_exposure: { exposure_seconds: number; current: boolean }[]; drill_rto: { rto_seconds: number }[] };
    drills: { snapshot_id: string; rto_seconds: number; rto_objective_seconds: number; ok: boolean; error: string | null }[];
    checks: { ok: boolean }[];
    failures: { what: string; cause: string }[];
    immutability: { state: string };
  }[];
}

/** Every reference a browser would follow to another file: src/href-like attributes, CSS url() and @import. */
function externalReferences(html: string): string[] {
  const tags = html.match(/<[^>]+>/g) ?? [];
  const attrs = tags.flatMap((t) => [...t.matchAll(/\b(?:src|href|xlink:href|action|data|poster|srcset)\s*=\s*("[^"]*"|'[^']*'|[^\s>]+)/gi)].map((m) => m[1]!.replace(/^["']|["']$/g, '')));
  const css = [...html.matchAll(/<style[^>]*>([\s\S]*?)<\/style>/gi)].flatMap((m) => [...m[1]!.matchAll(/url\(|@import/gi)].map((u) => u[0]));
  return [...attrs.filter((a) => !a.startsWith('#')), ...css];
}

test('report: md, html and json after backups, drills (one failing) and a check; the numbers are those the commands reported; --since narrows', async () => {
  const t = await tempDir();
  try {
    const root = t.path;
    await writeTree(join(root, 'app'), { 'config.json': '{"port": 8080}\n', 'src/main.js': 'console.log("shop")\n'.repeat(200), 'public/index.html': '<h1>shop</h1>\n' });
    const d = new Database(join(root, 'sessions.db'));
    d.exec("create table sessions (id integer primary key, who text); insert into sessions (who) values ('ann'), ('bob');");
    d.close();
    const config = join(root, 'safepoint.yaml');
    await writeFile(config, `version: 1
project: shop
repositories:
  main: { targets: [ ${join(root, 'repo')} ] }
sources:
  - name: app
    type: files
    repository: main
    paths: [ ${join(root, 'app')} ]
    rpo: 1h
    rto: 1h
  - name: sessions
    type: sqlite
    repository: main
    path: ${join(root, 'sessions.db')}
    rpo: 1h
    rto: 15m
    checks:
      - sql: "select 0"
`);
    const tmp = join(root, 'tmp');
    await mkdir(tmp);
    const cli = (args: string[]): ReturnType<typeof runCli> => runCli([...args, '--config', config], { env: { TMPDIR: tmp } });
    assert.equal((await cli(['init', '--repo', 'main'])).code, 0);

    const added = new Map<string, number>();
    const backup = async (source: string): Promise<void> => {
      const b = await cli(['backup', '--source', source, '--json']);
      assert.equal(b.code, 0, b.stderr);
      const s = events(b.stdout, 'summary')[0]!;
      added.set(s.snapshot_id as string, s.data_added as number);
    };
    await backup('app');
    await backup('sessions');
    await new Promise((r) => setTimeout(r, 20));
    const middle = new Date().toISOString();
    await writeFile(join(root, 'app', 'config.json'), '{"port": 8081}\n');
    await writeTree(join(root, 'app'), { 'public/new.html': 'x'.repeat(5000) });
    await backup('app');

    const drill = await cli(['drill', '--all', '--json']);
    assert.equal(drill.code, 1, 'the sessions drill fails its check');
    const drilled = events(drill.stdout, 'drill');
    assert.deepEqual(drilled.map((x) => [x.source, x.ok]), [['app', true], ['sessions', false]]);
    assert.match(drilled[1]!.error as string, /select 0/);
    assert.equal((await cli(['check'])).code, 0);
    const status = await cli(['status', '--json']);
    const verdicts = events(status.stdout, 'source_status').map((s) => [s.source, s.verdict]);
    assert.deepEqual(verdicts, [['app', 'ok'], ['sessions', 'violated']]);

    // JSON: the structure, with the commands' own numbers
    const j = await cli(['report', '--format', 'json', '--out', join(root, 'report.json')]);
    assert.equal(j.code, 0, j.stderr);
    assert.match(j.stdout, /^report written to .*report\.json \(json\): 2 sources, 1 ok, 0 at risk, 1 violated$/m);
    const r = JSON.parse(await readFile(join(root, 'report.json'), 'utf8')) as Report;
    assert.equal(r.report_version, 1);
    assert.equal(r.project, 'shop');
    assert.deepEqual(r.sources.map((s) => [s.name, s.verdict]), verdicts);
    assert.deepEqual([r.summary.backups, r.summary.drills, r.summary.drills_failed], [3, 2, 1]);
    const [app, sessions] = r.sources as [Report['sources'][0], Report['sources'][0]];
    assert.equal(app.last_backups.length, 2);
    for (const b of [...app.last_backups, ...sessions.last_backups]) assert.equal(b.data_added, added.get(b.snapshot_id), `bytes added by ${b.snapshot_id}`);
    assert.ok(app.last_backups[0]!.data_added > 0);
    assert.deepEqual([app.drills[0]!.rto_seconds, sessions.drills[0]!.rto_seconds], [drilled[0]!.rto_seconds, drilled[1]!.rto_seconds]);
    assert.deepEqual([app.drills[0]!.snapshot_id, sessions.drills[0]!.snapshot_id], [drilled[0]!.snapshot_id, drilled[1]!.snapshot_id]);
    assert.equal(sessions.drills[0]!.rto_objective_seconds, 900);
    assert.equal(sessions.drills[0]!.error, drilled[1]!.error);
    assert.deepEqual(sessions.series.drill_rto.map((x) => x.rto_seconds), [drilled[1]!.rto_seconds]);
    assert.ok(sessions.failures.some((f) => f.what === 'drill' && f.cause === drilled[1]!.error));
    assert.deepEqual(app.failures, []);
    assert.deepEqual(app.checks.map((c) => c.ok), [true]);
    assert.equal(app.series.rpo_exposure.length, 2, 'the gap between the two app backups, then now');
    assert.equal(app.series.rpo_exposure.at(-1)!.current, true);
    assert.equal(app.immutability.state, 'none');

    // Markdown on stdout: the summary on top, the verdicts in words, the failing drill's cause
    const md = await cli(['report', '--format', 'md']);
    assert.equal(md.code, 0, md.stderr);
    assert.match(md.stdout, /^# Backup report: shop\n/);
    assert.match(md.stdout, /^\*\*2 sources: 1 ok, 0 at risk, 1 violated\.\*\* 3 backups, 2 drills \(1 failed\)/m);
    assert.match(md.stdout, /^- \*\*sessions\*\* is \*\*violated\*\*: last drill .* failed: .*select 0/m);
    assert.match(md.stdout, /^\| app \| files \| \*\*ok\*\* \|/m);
    assert.match(md.stdout, /^\| [\d-]+ [\d:]+Z \| `[0-9a-f]{8}` \| [\d.]+s \/ 15m \| \*\*failed\*\*: 1 of \d+ checks failed: sql: select 0/m);

    // HTML: one file, charts as inline SVG, nothing fetched from elsewhere
    const h = await cli(['report', '--out', join(root, 'report.html')]);
    assert.equal(h.code, 0, h.stderr);
    const html = await readFile(join(root, 'report.html'), 'utf8');
    assert.match(html, /^<!doctype html>/);
    assert.equal((html.match(/<svg /g) ?? []).length, 8, 'four charts per source');
    assert.equal((html.match(/<details>/g) ?? []).length, 8);
    assert.doesNotMatch(html, /<script|<link|<img/i);
    assert.deepEqual(externalReferences(html), []);
    assert.doesNotMatch((html.match(/<[^>]+>/g) ?? []).join(''), /https?:/i);
    assert.match(html, /<span class="verdict violated">violated<\/span>/);
    assert.match(html, /<span class="failed">failed<\/span>: 1 of \d+ checks failed: sql: select 0/);
    assert.match(html, /<title id="s1-rto-title">Drill restore time of sessions<\/title>/);

    // --since: an ISO time between the first backups and the last; a duration; --source
    const later = JSON.parse((await cli(['report', '--format', 'json', '--since', middle])).stdout) as Report;
    assert.deepEqual(later.sources.map((s) => s.last_backups.length), [1, 0]);
    assert.equal(later.period.since, middle);
    assert.deepEqual(later.sources.map((s) => s.verdict), ['ok', 'violated'], 'verdicts are as of now, whatever the period');
    assert.deepEqual(later.sources.map((s) => s.drills.length), [1, 1]);
    const none = JSON.parse((await cli(['report', '--format', 'json', '--since', '1ms'])).stdout) as Report;
    assert.deepEqual([none.summary.backups, none.summary.drills], [0, 0]);
    const one = JSON.parse((await cli(['report', '--format', 'json', '--source', 'sessions', '--since', '30d'])).stdout) as Report;
    assert.deepEqual(one.sources.map((s) => s.name), ['sessions']);

    // bad input: one line, exit 2
    for (const args of [['--since', 'yesterday'], ['--since', '2999-01-01'], ['--format', 'pdf'], ['--source', 'nope']]) {
      const bad = await cli(['report', ...args]);
      assert.equal(bad.code, 2, `${args.join(' ')}: ${bad.stderr}`);
      assert.match(bad.stderr, /^error: /);
      assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
    }
    const noConfig = await runCli(['report'], { cwd: tmp });
    assert.equal(noConfig.code, 2);
    assert.match(noConfig.stderr, /^error: this needs a config file/);
  } finally {
    await t.cleanup();
  }
});
