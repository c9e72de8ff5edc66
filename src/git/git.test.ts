import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleStream } from './git.js';

test('bundleStream: a bundle read only after git has exited is whole (a point once stored an empty one)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sp-bundle-'));
  try {
    const git = (...args: string[]): string => execFileSync('git', ['-C', dir, '-c', 'user.email=t@example.invalid', '-c', 'user.name=t', ...args], { encoding: 'utf8' });
    git('init', '-q');
    await writeFile(join(dir, 'app.js'), 'console.log("v1")\n');
    git('add', 'app.js');
    git('commit', '-qm', 'v1');
    const b = bundleStream(dir, ['HEAD']);
    await b.done; // git has exited: what it wrote is read only now, as when the repository is slow to open
    const parts: Buffer[] = [];
    for await (const p of b.stream as AsyncIterable<Buffer>) parts.push(p);
    const bundle = Buffer.concat(parts);
    assert.match(bundle.subarray(0, 20).toString(), /^# v\d git bundle/);
    await writeFile(join(dir, 'x.bundle'), bundle);
    assert.match(git('bundle', 'list-heads', join(dir, 'x.bundle')), /HEAD/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
