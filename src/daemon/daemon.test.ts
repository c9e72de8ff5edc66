import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigSchema } from '../config/schema.js';
import { checkArgs, planJobs } from './jobs.js';
import { missedRun, nextTime, previousTime } from './schedule.js';
import { jobState, loadState, saveState } from './state.js';
import { startServer, type DaemonView } from './server.js';
import { freePort } from '../util/net.js';

const config = (): ReturnType<typeof ConfigSchema.parse> => ConfigSchema.parse({
  version: 1,
  project: 'p',
  repositories: { files: { targets: ['/r/files'] }, db: { targets: ['/r/db'] } },
  sources: [
    { name: 'code', type: 'files', repository: 'files', paths: ['/srv/code'], schedule: 'on-major-commit' },
    { name: 'uploads', type: 'files', repository: 'files', paths: ['/srv/up'], retention: { keep_last: 3 } },
    { name: 'shop', type: 'postgres', repository: 'db', mode: 'physical', connection: { database: 'shop' }, schedule: { full: '0 1 * * 0', incr: '0 */6 * * *' } },
  ],
  checks: { read_data_subset: '25%' },
});

test('jobs: per source and backup type, none for on-major-commit, one check per repository, drill, forget when a retention exists', () => {
  const jobs = planJobs(config());
  assert.deepEqual(jobs.map((j) => [j.id, j.cron, j.args.join(' '), j.sources.join(',')]), [
    ['backup:uploads', '0 2 * * *', 'backup --source uploads', 'uploads'],
    ['backup:shop:full', '0 1 * * 0', 'backup --source shop --type full', 'shop'],
    ['backup:shop:incr', '0 */6 * * *', 'backup --source shop --type incr', 'shop'],
    ['check:files', '0 3 * * 0', 'check --repo files', 'code,uploads'],
    ['check:db', '0 3 * * 0', 'check --repo db', 'shop'],
    ['drill', '0 4 * * 6', 'drill', 'code,uploads,shop'],
    ['forget', '0 5 * * *', 'forget --all --prune', 'code,uploads,shop'],
  ]);
  // 25%: four slices, each read in turn
  assert.deepEqual([0, 1, 2, 3, 4].map((n) => checkArgs(0.25, n).join(' ')), ['--read-data-subset 1/4', '--read-data-subset 2/4', '--read-data-subset 3/4', '--read-data-subset 4/4', '--read-data-subset 1/4']);
  assert.deepEqual(checkArgs(undefined, 3), []);
  assert.deepEqual(checkArgs(1, 3), ['--read-data']);
});

test('schedule: next and previous times; a run is missed when its time passed since the last run that ended by itself', () => {
  const at = new Date('2026-11-29T10:00:00Z');
  assert.equal(nextTime('0 2 * * *', at)?.getUTCHours(), 2);
  assert.equal(previousTime('@daily', at)?.toISOString().slice(11, 16), '00:00');
  const since = new Date('2026-11-20T00:00:00Z');
  // ran yesterday at 02:00: today's 02:00 was missed
  assert.ok(missedRun('0 2 * * *', new Date('2026-11-28T02:00:00Z'), since, at));
  // ran today at 02:00: nothing missed
  assert.equal(missedRun('0 2 * * *', new Date('2026-11-29T02:00:00Z'), since, at), null);
  // never ran, first seen after the last scheduled time: nothing missed yet
  assert.equal(missedRun('0 2 * * *', null, new Date('2026-11-29T03:00:00Z'), at), null);
});

test('state: saves never interleave (each through its own flushed file); a damaged file is kept aside, not silently reused', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sp-daemon-state-'));
  try {
    const file = join(dir, 'daemon-p.json');
    const state = await loadState(file, new Date());
    await Promise.all(Array.from({ length: 50 }, (_, i) => {
      jobState(state, `job${i % 5}`).runs = i;
      return saveState(file, state);
    }));
    const back = await loadState(file, new Date());
    assert.equal(Object.keys(back.jobs).length, 5);
    assert.deepEqual((await readdir(dir)).sort(), ['daemon-p.json']);
    await writeFile(file, '{"version": 1, "jo');
    const problems: string[] = [];
    const fresh = await loadState(file, new Date(), (m) => problems.push(m));
    assert.deepEqual(fresh.jobs, {});
    assert.match(problems[0]!, /is damaged \(not JSON\): kept as .*\.damaged/);
    assert.equal(await readFile(`${file}.damaged`, 'utf8'), '{"version": 1, "jo');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('server: reads open on loopback only for loopback Host names; HEAD is a read; actions need the token; beyond loopback every read does', async () => {
  const view: DaemonView = {
    project: 'p',
    statuses: async () => [],
    snapshots: async () => [],
    journal: async () => [],
    sources: () => [],
    jobs: () => [],
    act: () => 'unknown',
    metrics: async () => ({ contentType: 'text/plain', body: '' }),
    dashboard: async () => '<html></html>',
  };
  const token = 'x'.repeat(32);
  const port = await freePort();
  const { app, url } = await startServer(view, { host: '127.0.0.1', port, token });
  try {
    assert.equal((await fetch(`${url}/api/journal`)).status, 200);
    assert.equal((await fetch(`${url}/api/journal`, { method: 'HEAD' })).status, 200);
    const rebound = await app.inject({ method: 'GET', url: '/api/journal', headers: { host: 'attacker.example' } });
    assert.equal(rebound.statusCode, 401, 'a foreign Host name is refused (DNS rebinding)');
    assert.equal((await app.inject({ method: 'GET', url: '/api/journal', headers: { host: 'attacker.example', authorization: `bearer ${token}` } })).statusCode, 200);
    assert.equal((await fetch(`${url}/api/sources/x/backup`, { method: 'POST' })).status, 401);
    assert.equal((await fetch(`${url}/api/sources/x/backup`, { method: 'POST', headers: { authorization: `Bearer ${token}` } })).status, 404);
    assert.equal((await fetch(`${url}/healthz`)).status, 200);
  } finally {
    await app.close();
  }
  const open = await startServer(view, { host: '0.0.0.0', port: await freePort(), token });
  try {
    const head = await open.app.inject({ method: 'HEAD', url: '/api/journal', headers: { host: 'backup.internal' } });
    assert.equal(head.statusCode, 401, 'beyond loopback, HEAD needs the token like GET');
    assert.equal((await open.app.inject({ method: 'GET', url: '/api/journal', headers: { host: 'backup.internal', authorization: `Bearer ${token}` } })).statusCode, 200);
    assert.equal((await open.app.inject({ method: 'GET', url: '/healthz', headers: { host: 'backup.internal' } })).statusCode, 200);
  } finally {
    await open.app.close();
  }
});

test('runner: a job waiting for busy sources reserves them, so later jobs on them do not overtake it', async () => {
  const { Runner } = await import('./runner.js');
  const order: string[] = [];
  const runner = new Runner({ command: [process.execPath, '-e', 'setTimeout(() => {}, 300)'], env: process.env, timeoutMs: 10_000, onStart: (j) => order.push(j.id) });
  const job = (id: string, sources: string[]): Parameters<typeof runner.enqueue>[0] => ({ id, kind: 'backup', cron: '@daily', args: [], sources });
  runner.enqueue(job('backup:a', ['a']));
  runner.enqueue(job('drill', ['a', 'b']));
  runner.enqueue(job('backup:b', ['b']));
  runner.enqueue(job('backup:c', ['c']));
  assert.deepEqual(order, ['backup:a', 'backup:c'], 'b waits behind the drill that waits for a; c is free');
  await runner.idle();
  assert.deepEqual(order, ['backup:a', 'backup:c', 'drill', 'backup:b']);
});
