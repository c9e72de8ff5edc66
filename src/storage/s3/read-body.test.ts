import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough, Readable } from 'node:stream';
import { readBody } from './read-body.js';

const parts = [Buffer.from('abc'), Buffer.from('defg'), Buffer.from('h')];

test('readBody: a stream of the announced length, of an unknown length, an async iterable, no body', async () => {
  assert.equal((await readBody(Readable.from(parts), 8)).toString(), 'abcdefgh');
  assert.equal((await readBody(Readable.from(parts), undefined)).toString(), 'abcdefgh');
  assert.equal((await readBody((async function* () { yield* parts; })(), 8)).toString(), 'abcdefgh');
  assert.equal((await readBody(undefined, 8)).length, 0);
});

test('readBody: a body longer or shorter than announced, or cut off, is an error', async () => {
  await assert.rejects(readBody(Readable.from(parts), 5), /more than the 5 bytes it announced/);
  await assert.rejects(readBody(Readable.from(parts), 12), /sent 8 of the 12 bytes/);
  const cut = new PassThrough();
  cut.write('abc');
  setImmediate(() => cut.destroy());
  await assert.rejects(readBody(cut, 8), /closed before the end of the body/);
  const failing = new PassThrough();
  setImmediate(() => failing.destroy(new Error('ECONNRESET')));
  await assert.rejects(readBody(failing, 8), /ECONNRESET/);
});
