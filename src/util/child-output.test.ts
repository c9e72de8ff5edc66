import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { keepOutput } from './child-output.js';

async function readAll(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const p of stream) parts.push(p);
  return Buffer.concat(parts);
}

test('a child that exits before its output is read: keepOutput keeps every byte (Node drops them otherwise)', async () => {
  const run = (keep: boolean) => {
    const child = spawn(process.execPath, ['-e', 'process.stdout.write("x".repeat(5000))'], { stdio: ['ignore', 'pipe', 'ignore'] });
    return { child, stdout: keep ? keepOutput(child.stdout) : child.stdout };
  };
  const kept = run(true);
  await once(kept.child, 'close'); // the child is gone before anything reads
  assert.equal((await readAll(kept.stdout)).toString(), 'x'.repeat(5000));
  // what the helper is for: the raw stdout, read only after the exit, has lost its bytes
  const raw = run(false);
  await once(raw.child, 'close');
  assert.equal((await readAll(raw.stdout).catch(() => Buffer.alloc(0))).length, 0);
});

test('keepOutput of a program that cannot start ends instead of waiting forever', async () => {
  const child = spawn('/nonexistent/safepoint-no-such-tool', [], { stdio: ['ignore', 'pipe', 'ignore'] });
  const failed = once(child, 'error');
  const out = await readAll(keepOutput(child.stdout)).catch((err: unknown) => err);
  const [err] = (await failed) as [NodeJS.ErrnoException];
  assert.equal(err.code, 'ENOENT');
  assert.ok(Buffer.isBuffer(out) ? out.length === 0 : out instanceof Error);
});
