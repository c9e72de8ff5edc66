import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkHostKey, fingerprint, HostKeyError, hostKeyError, keyType, knownKeyTypes, readKnownHosts } from './known-hosts.js';
import { UserError } from '../../util/errors.js';

// a real key, its fingerprint as `ssh-keygen -lf` prints it, and `ssh-keygen -H` of a `[127.0.0.1]:2222` line for it
const ED = 'AAAAC3NzaC1lZDI1NTE5AAAAIMgvsg6OPtsEb/rkbeewa8UPGUgxkta/GTAzJx9pg4bD';
const ED_FP = 'SHA256:rJVDoJxQzM/dD9no60PUDmggSf/uDYYeJR0hurOBG1A';
const HASHED = '|1|NNUzVBHNnkBL7Kjbr4+OszWh2BY=|eYP9938y6fQ6u6eY/u5cC2u73ZU=';
const key = Buffer.from(ED, 'base64');

/** A syntactically valid blob of some type with random key material. */
function blob(type: string): Buffer {
  const t = Buffer.from(type);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(t.length);
  return Buffer.concat([len, t, Buffer.from([0, 0, 0, 32]), randomBytes(32)]);
}
const b64 = (b: Buffer): string => b.toString('base64');

test('fingerprint and key type in OpenSSH format', () => {
  assert.equal(fingerprint(key), ED_FP);
  assert.equal(keyType(key), 'ssh-ed25519');
  assert.equal(keyType(Buffer.from([0, 0, 1])), '');
});

test('plain, [host]:port, lists, wildcards and negation', () => {
  const other = blob('ssh-ed25519');
  assert.deepEqual(checkHostKey(`nas ssh-ed25519 ${ED}\n`, 'nas', 22, key), { status: 'match' });
  assert.deepEqual(checkHostKey(`NAS.example ssh-ed25519 ${ED} comment here\n`, 'nas.EXAMPLE', 22, key), { status: 'match' });
  assert.deepEqual(checkHostKey(`nas ssh-ed25519 ${ED}\n`, 'nas', 2222, key), { status: 'unknown' }, 'port 22 entries are not for other ports');
  assert.deepEqual(checkHostKey(`[nas]:2222 ssh-ed25519 ${ED}\n`, 'nas', 2222, key), { status: 'match' });
  assert.deepEqual(checkHostKey(`[nas]:2222 ssh-ed25519 ${ED}\n`, 'nas', 22, key), { status: 'unknown' });
  assert.deepEqual(checkHostKey(`a,nas,10.0.0.2 ssh-ed25519 ${ED}\n`, 'nas', 22, key), { status: 'match' });
  assert.deepEqual(checkHostKey(`*.example,!evil.example ssh-ed25519 ${ED}\n`, 'nas.example', 22, key), { status: 'match' });
  assert.deepEqual(checkHostKey(`*.example,!evil.example ssh-ed25519 ${ED}\n`, 'evil.example', 22, key), { status: 'unknown' });
  assert.deepEqual(checkHostKey(`nas? ssh-ed25519 ${ED}\n`, 'nas1', 22, key), { status: 'match' });
  assert.deepEqual(checkHostKey(`[::1]:2222 ssh-ed25519 ${ED}\n`, '::1', 2222, key), { status: 'match' });
  // comments, blank and malformed lines are skipped; the type field must agree with the blob
  const noisy = `# comment\n\n  \ngarbage\nnas ssh-rsa ${ED}\nnas ssh-ed25519 !!!notbase64\nnas ssh-ed25519 ${b64(other)}\n`;
  assert.deepEqual(checkHostKey(noisy, 'nas', 22, key), { status: 'changed', line: 7 });
});

test('hashed entries', () => {
  assert.deepEqual(checkHostKey(`${HASHED} ssh-ed25519 ${ED}\n`, '127.0.0.1', 2222, key), { status: 'match' });
  assert.deepEqual(checkHostKey(`${HASHED} ssh-ed25519 ${ED}\n`, '127.0.0.1', 2223, key), { status: 'unknown' });
  assert.deepEqual(checkHostKey(`${HASHED} ssh-ed25519 ${b64(blob('ssh-ed25519'))}\n`, '127.0.0.1', 2222, key), { status: 'changed', line: 1 });
  assert.deepEqual(checkHostKey(`|1|broken ssh-ed25519 ${ED}\n`, '127.0.0.1', 2222, key), { status: 'unknown' });
});

test('changed only for another key of the same type; any listed key matches', () => {
  const rsa = blob('ssh-rsa');
  const ecdsa = blob('ecdsa-sha2-nistp256');
  assert.deepEqual(checkHostKey(`nas ssh-rsa ${b64(rsa)}\n`, 'nas', 22, key), { status: 'unknown' });
  assert.deepEqual(checkHostKey(`nas ssh-rsa ${b64(rsa)}\nnas ecdsa-sha2-nistp256 ${b64(ecdsa)}\n`, 'nas', 22, ecdsa), { status: 'match' });
  assert.deepEqual(checkHostKey(`nas ssh-ed25519 ${b64(blob('ssh-ed25519'))}\nnas ssh-ed25519 ${ED}\n`, 'nas', 22, key), { status: 'match' });
  assert.deepEqual(knownKeyTypes(`nas ssh-rsa ${b64(rsa)}\nother ssh-ed25519 ${ED}\n@revoked nas ssh-ed25519 ${ED}\nnas ecdsa-sha2-nistp256 ${b64(ecdsa)}\n`, 'nas', 22), [
    'ssh-rsa',
    'ecdsa-sha2-nistp256',
  ]);
});

test('@revoked keys are refused even when also listed; @cert-authority lines are ignored', () => {
  assert.deepEqual(checkHostKey(`nas ssh-ed25519 ${ED}\n@revoked * ssh-ed25519 ${ED}\n`, 'nas', 22, key), { status: 'revoked', line: 2 });
  assert.deepEqual(checkHostKey(`@revoked nas ssh-ed25519 ${b64(blob('ssh-ed25519'))}\nnas ssh-ed25519 ${ED}\n`, 'nas', 22, key), { status: 'match' });
  assert.deepEqual(checkHostKey(`@cert-authority nas ssh-ed25519 ${ED}\n`, 'nas', 22, key), { status: 'unknown' });
  assert.deepEqual(checkHostKey(`@cert-authority nas ssh-ed25519 ${b64(blob('ssh-ed25519'))}\n`, 'nas', 22, key), { status: 'unknown' }, 'a CA key is not a changed host key');
});

test('refusal messages say what to do', () => {
  const where = { host: '127.0.0.1', port: 2222, key, file: '~/.ssh/known_hosts' };
  const unknown = hostKeyError({ status: 'unknown' }, where);
  assert.ok(unknown instanceof HostKeyError && unknown instanceof UserError);
  assert.equal(
    unknown.message,
    `sftp host 127.0.0.1:2222 is not in ~/.ssh/known_hosts: check its key fingerprint ${ED_FP} (ssh-ed25519) and add it with ssh-keyscan -p 2222 127.0.0.1 >> ~/.ssh/known_hosts`,
  );
  assert.match(hostKeyError({ status: 'unknown' }, { ...where, port: 22 }).message, /ssh-keyscan 127\.0\.0\.1 >>/);
  const changed = hostKeyError({ status: 'changed', line: 3 }, where).message;
  assert.match(changed, /^WARNING: the host key of sftp host 127\.0\.0\.1:2222 has CHANGED/);
  assert.match(changed, /man-in-the-middle/);
  assert.match(changed, /line 3/);
  assert.ok(changed.includes(ED_FP));
  assert.ok(changed.includes(`ssh-keygen -R '[127.0.0.1]:2222' -f ~/.ssh/known_hosts`), changed);
  assert.match(hostKeyError({ status: 'revoked', line: 1 }, where).message, /@revoked in ~\/\.ssh\/known_hosts line 1/);
  assert.match(hostKeyError({ status: 'unknown' }, { ...where, host: '::1' }).message, /^sftp host \[::1\]:2222 .* ssh-keyscan -p 2222 ::1 >>/);
});

test('a missing known_hosts file reads as empty', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sp-kh-'));
  try {
    assert.equal(await readKnownHosts(join(dir, 'absent')), '');
    await writeFile(join(dir, 'kh'), `nas ssh-ed25519 ${ED}\n`);
    assert.deepEqual(checkHostKey(await readKnownHosts(join(dir, 'kh')), 'nas', 22, key), { status: 'match' });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
