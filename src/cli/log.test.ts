import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLog, rotateLog } from './log.js';

test('rotateLog: a log past its size moves to .1, older ones shift, the oldest kept is dropped', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sp-log-'));
  try {
    const file = join(dir, 'safepoint.jsonl');
    rotateLog(file, 10, 2); // no file yet: nothing to do
    for (const gen of ['one', 'two', 'three']) {
      await writeFile(file, `${gen} `.repeat(5));
      rotateLog(file, 10, 2);
    }
    assert.deepEqual((await readdir(dir)).sort(), ['safepoint.jsonl.1', 'safepoint.jsonl.2']);
    assert.match(await readFile(`${file}.1`, 'utf8'), /^three/);
    assert.match(await readFile(`${file}.2`, 'utf8'), /^two/);
    await writeFile(file, 'small');
    rotateLog(file, 10, 2);
    assert.equal(await readFile(file, 'utf8'), 'small', 'under the size: left alone');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('an open log rotated by rotate() goes on writing into a new file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sp-log-'));
  try {
    const file = join(dir, 'daemon.jsonl');
    const log = openLog(file, 'op1');
    log.info('x'.repeat(17 * 1024 * 1024));
    log.rotate();
    log.info('after the rotation');
    const now = (await readFile(file, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { msg: string; op_id: string });
    assert.deepEqual(now.map((l) => [l.msg, l.op_id]), [['after the rotation', 'op1']]);
    assert.ok((await readFile(`${file}.1`, 'utf8')).length > 17 * 1024 * 1024);
    // another run rotated the shared file: the next rotate() follows it to the new one
    rotateLog(file, 0);
    log.rotate();
    log.info('after another run rotated it');
    assert.match(await readFile(file, 'utf8'), /after another run rotated it/);
    assert.doesNotMatch(await readFile(`${file}.1`, 'utf8'), /after another run rotated it/);
    assert.equal((await stat(file)).mode & 0o777, 0o600, 'readable by its owner only');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
