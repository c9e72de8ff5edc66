/**
 * The scheduler daemon (issue 7), run for real: it catches up the runs missed while it was down, never runs two jobs
 * on one source at once, serves the API (reads open on loopback, actions behind the token), /metrics and the
 * dashboard, alerts by webhook and command when a job fails or an objective is violated, and on SIGTERM lets the
 * running job finish before it exits.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { runCli, spawnCli, tempDir, waitUntil, writeTree } from './helpers.js';
import { freePort } from '../src/util/net.js';

const TOKEN = 'a'.repeat(20) + 'daemon-test-token';

test('daemon: catch-up at start, one job per source at a time, API with token, metrics, dashboard, alerts, SIGTERM', async (t) => {
  const dir = await tempDir();
  t.after(dir.cleanup);
  const root = dir.path;
  await writeTree(join(root, 'app'), { 'a.txt': 'alpha\n', 'b/c.txt': 'gamma\n' });
  const db = new Database(join(root, 'sessions.db'));
  db.exec("create table s (id integer primary key, who text); insert into s (who) values ('ann');");
  db.close();
  await writeFile(join(root, 'token'), `${TOKEN}\n`, { mode: 0o600 });
  // the webhook: a local server that records what it is sent
  const hooks: Record<string, unknown>[] = [];
  const hook = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      hooks.push(JSON.parse(body) as Record<string, unknown>);
      res.end('ok');
    });
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => hook.close(() => r())));
  const hookPort = (hook.address() as { port: number }).port;
  const port = await freePort();
  const config = join(root, 'safepoint.yaml');
  await writeFile(config, `version: 1
project: shop
repositories:
  main: { targets: [ ${join(root, 'repo')} ] }
sources:
  - { name: app, type: files, repository: main, paths: [ ${join(root, 'app')} ], schedule: "0 2 * * *", rpo: 1d, rto: 1h }
  - { name: sessions, type: sqlite, repository: main, path: ${join(root, 'sessions.db')}, rpo: 1d, rto: 1h }
  - { name: broken, type: files, repository: main, paths: [ ${join(root, 'gone')} ] }
alerts:
  webhook: http://127.0.0.1:${hookPort}/hook
  command: echo "$SAFEPOINT_ALERT_KIND $SAFEPOINT_ALERT_SOURCE" >> ${join(root, 'alerts.log')}
daemon:
  listen: 127.0.0.1:${port}
  token_file: ${join(root, 'token')}
`);
  assert.equal((await runCli(['init', '--config', config, '--repo', 'main'])).code, 0);
  const list = await runCli(['daemon', '--config', config, '--list', '--json']);
  assert.equal(list.code, 0, list.stderr);
  const jobs = list.stdout.trim().split('\n').map((l) => JSON.parse(l) as { id: string; cron: string });
  assert.deepEqual(jobs.map((j) => [j.id, j.cron]), [['backup:app', '0 2 * * *'], ['backup:sessions', '0 2 * * *'], ['backup:broken', '0 2 * * *'], ['check', '0 3 * * 0'], ['drill', '0 4 * * 6']]);

  // the daemon was first started 8 days ago and has not run since: every job missed a run
  const state = join(root, 'state');
  await mkdir(state);
  await writeFile(join(state, 'daemon-shop.json'), JSON.stringify({ version: 1, since: new Date(Date.now() - 8 * 86_400_000).toISOString(), jobs: {} }));
  const daemon = spawnCli(['daemon', '--config', config, '--state-dir', state], { timeoutMs: 120_000 });
  t.after(() => void daemon.kill('SIGKILL'));
  await daemon.waitForLine((l) => /dashboard, API and \/metrics on http/.test(l), 30_000);
  const api = `http://127.0.0.1:${port}`;
  const get = async (path: string): Promise<unknown> => (await fetch(`${api}${path}`)).json();

  // the caught-up runs: app and sessions backed up, checked and drilled, so both are ok
  type Status = { sources: { source: string; verdict: string; reasons: string[] }[] };
  await waitUntil(async () => {
    const s = (await get('/api/status')) as Status;
    return s.sources.filter((x) => x.source !== 'broken').every((x) => x.verdict === 'ok') ? s : null;
  }, 'app and sessions ok', 90_000, 500);
  type Entry = { operation: string; source: string | null; started: string; time: string; result: string };
  const journal = (await get('/api/journal')) as Entry[];
  const ops = journal.map((e) => `${e.operation}:${e.source ?? '-'}:${e.result}`);
  for (const want of ['backup:app:ok', 'backup:sessions:ok', 'backup:broken:failed', 'check:-:ok', 'drill:app:ok', 'drill:sessions:ok']) assert.ok(ops.includes(want), `${want} in ${ops.join(', ')}`);
  // never two jobs on one source at once: app's backup and drill did not overlap
  const span = (e: Entry): [number, number] => [Date.parse(e.started), Date.parse(e.time)];
  const [b0, b1] = span(journal.find((e) => e.operation === 'backup' && e.source === 'app')!);
  const [d0, d1] = span(journal.find((e) => e.operation === 'drill' && e.source === 'app')!);
  assert.ok(b1 <= d0 || d1 <= b0, 'backup and drill of app ran one after the other');

  // alerts: the broken source's backup failed, and it violates its objective (never backed up)
  await waitUntil(() => (hooks.some((h) => h.kind === 'job_failed') && hooks.some((h) => h.kind === 'objective_violated') ? true : null), 'alerts', 30_000, 200);
  assert.equal(hooks.find((h) => h.kind === 'job_failed')!.source, 'broken');
  assert.match(await readFile(join(root, 'alerts.log'), 'utf8'), /job_failed broken/);

  // the API: reads open on loopback, actions behind the token
  const sources = (await get('/api/sources')) as { name: string; jobs: { id: string }[] }[];
  assert.deepEqual(sources.map((s) => s.name), ['app', 'sessions', 'broken']);
  const snaps = (await get('/api/snapshots?source=app')) as { source: string }[];
  assert.ok(snaps.length >= 1 && snaps.every((s) => s.source === 'app'));
  const post = (path: string, token?: string): Promise<Response> => fetch(`${api}${path}`, { method: 'POST', headers: token ? { authorization: `Bearer ${token}` } : {} });
  assert.equal((await post('/api/sources/app/backup')).status, 401);
  assert.equal((await post('/api/sources/app/backup', 'wrong-token-wrong-token')).status, 401);
  assert.equal((await post('/api/sources/nope/backup', TOKEN)).status, 404);
  assert.equal((await post('/api/sources/app/restore', TOKEN)).status, 404);
  const queued = await post('/api/sources/app/drill', TOKEN);
  assert.equal(queued.status, 202);
  assert.deepEqual(await queued.json(), { queued: 'drill:app' });
  assert.equal((await post('/api/sources/app/drill', TOKEN)).status, 409, 'the same job is never queued twice');

  // metrics and dashboard
  const metrics = await (await fetch(`${api}/metrics`)).text();
  assert.match(metrics, /^safepoint_rpo_exposure_seconds\{source="app"\} \d+/m);
  assert.match(metrics, /^safepoint_job_last_exit_code\{source="app",job="backup:app"\} 0$/m);
  assert.match(metrics, /^safepoint_source_verdict\{source="broken",verdict="violated"\} 1$/m);
  assert.match(metrics, /^safepoint_repository_size_bytes\{repository="main"\} [1-9]/m);
  const page = await (await fetch(`${api}/`)).text();
  assert.match(page, /Scheduled jobs/);
  assert.match(page, /backup:app/);
  assert.doesNotMatch(page, new RegExp(TOKEN));

  // SIGTERM while the drill runs: it finishes, the state is saved, the daemon exits 0
  daemon.kill('SIGTERM');
  const end = await daemon.exited;
  assert.equal(end.code, 0, end.stderr);
  const saved = JSON.parse(await readFile(join(state, 'daemon-shop.json'), 'utf8')) as { jobs: Record<string, { last_exit: number | null; runs: number }>; verdicts: Record<string, string> };
  assert.equal(saved.jobs['drill:app']?.last_exit, 0);
  assert.equal(saved.jobs['backup:app']?.runs, 1);
  assert.equal(saved.verdicts.broken, 'violated');

  // restarted: the verdicts it alerted on are remembered, so the violation is not alerted again
  const violations = hooks.filter((h) => h.kind === 'objective_violated').length;
  const again = spawnCli(['daemon', '--config', config, '--state-dir', state], { timeoutMs: 60_000 });
  t.after(() => void again.kill('SIGKILL'));
  await again.waitForLine((l) => /dashboard, API and \/metrics on http/.test(l), 30_000);
  await waitUntil(async () => ((await get('/api/status')) as Status).sources.some((x) => x.source === 'broken' && x.verdict === 'violated') || null, 'broken still violated', 30_000, 200);
  assert.equal(hooks.filter((h) => h.kind === 'objective_violated').length, violations);
  again.kill('SIGTERM');
  assert.equal((await again.exited).code, 0);
});
