import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { runPlan, type PlanStep } from './plan.js';
import { checkHealth, runCommand, startServices, stopServices } from './services.js';

test('a plan runs its steps in order; a failure stops it, later steps are NotExecuted, the error says how to undo', async () => {
  const ran: string[] = [];
  const { ok, reports } = await runPlan([
    { name: 'one', run: async () => (ran.push('one'), 'did one') },
    { name: 'two', run: async () => ({ skipped: 'nothing to do' }) },
    { name: 'three', run: async () => { throw new Error('disk full'); }, onFailure: () => 'snapshot abc holds the old state' },
    { name: 'four', run: async () => (ran.push('four'), 'did four') },
  ]);
  assert.equal(ok, false);
  assert.deepEqual(ran, ['one']);
  assert.deepEqual(reports.map((r) => r.status), ['success', 'skipped', 'error', 'not_executed']);
  assert.equal(reports[2]!.detail, 'disk full; snapshot abc holds the old state');
  const dry = await runPlan([{ name: 'x', run: async () => { throw new Error('must not run'); } }], { dryRun: true });
  assert.deepEqual(dry.reports.map((r) => [r.status, r.detail]), [['not_executed', 'dry run']]);
});

test('service commands: exit status checked, output tail in the error, timeout kills', async () => {
  assert.equal(await runCommand('echo hello'), 'hello');
  await assert.rejects(runCommand('echo boom >&2; exit 3'), /exited with 3: boom/);
  const t0 = Date.now();
  await assert.rejects(runCommand('sleep 5', { timeoutMs: 200 }), /killed \(SIGKILL, timeout 0.2 s\)/);
  assert.ok(Date.now() - t0 < 3000);
  const order: string[] = [];
  const svc = (name: string) => ({ name, stop: `echo stop-${name}`, start: `echo start-${name}` });
  order.push(await stopServices([svc('api'), svc('worker')]));
  order.push(await startServices([svc('api'), svc('worker')]));
  assert.deepEqual(order, ['stopped api, worker', 'started worker, api']);
  await assert.rejects(stopServices([{ name: 'x' }]), /service x has no stop command/);
});

test('health checks: an HTTP status within the timeout, or a command', async () => {
  let calls = 0;
  const server = createServer((_req, res) => {
    calls++;
    res.statusCode = calls < 3 ? 503 : 200; // comes up after a moment
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/health`;
  try {
    assert.match(await checkHealth({ url, expect: 200, timeout: 10_000 }), /answered 200/);
    await assert.rejects(checkHealth({ url, expect: 204, timeout: 1200 }), /answered 200, expected 204/);
  } finally {
    server.close();
  }
  await assert.rejects(checkHealth({ url: 'http://127.0.0.1:9/none', expect: 200, timeout: 600 }), /health check .* failed within 0.6 s/);
  assert.match(await checkHealth({ command: 'true', timeout: 1000 }), /ok/);
});

test('runPlan says when each step starts, before it runs, and not for steps that do not run', async () => {
  const seen: string[] = [];
  const step = (name: string, fail = false): PlanStep => ({ name, run: async () => {
    seen.push(`run ${name}`);
    if (fail) throw new Error('boom');
    return 'done';
  } });
  await runPlan([step('stop'), step('restore', true), step('start')], { onStart: (n, name) => seen.push(`start ${n} ${name}`) });
  assert.deepEqual(seen, ['start 1 stop', 'run stop', 'start 2 restore', 'run restore']);
});
