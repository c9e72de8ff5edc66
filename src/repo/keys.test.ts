import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { ExitCode, IntegrityError, UserError, WrongPasswordError } from '../util/errors.js';
import { Secret } from '../util/secret.js';
import { masterKeyBytes, newMasterKey } from './crypto.js';
import { DEFAULT_KDF, makeKeyFile, parseKeyFile, tryUnwrap, unlockWithPassword, type KdfParams } from './keys.js';

/** Small scrypt parameters keep these tests fast; the format stores them per key file. */
const FAST: KdfParams = { N: 1024, r: 8, p: 1 };
const pw = (s: string): Secret => new Secret(s);

describe('makeKeyFile (format §3)', () => {
  it('writes a JSON key file with the kdf parameters, a 32-byte salt and the wrapped master key', async () => {
    const master = newMasterKey();
    const now = new Date('2026-11-24T09:00:00.000Z');
    const { id, bytes, file } = await makeKeyFile(master, pw('correct horse'), FAST, now);
    assert.equal(id, createHash('sha256').update(bytes).digest('hex'), 'the id is the SHA-256 of the stored bytes');
    const json = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
    assert.deepEqual(json, file);
    assert.equal(file.version, 1);
    assert.equal(file.kdf, 'scrypt');
    assert.deepEqual([file.N, file.r, file.p], [1024, 8, 1]);
    assert.equal(file.created, '2026-11-24T09:00:00.000Z');
    assert.equal(file.host, hostname());
    assert.equal(Buffer.from(file.salt, 'base64').length, 32);
    assert.equal(Buffer.from(file.data, 'base64').length, 96 + 29, 'a box of the 96-byte master key');
    assert.ok(!bytes.includes(masterKeyBytes(master).toString('base64')), 'the master key is not in clear');
    assert.ok(!bytes.toString().includes('correct horse'), 'the password is not stored');
  });

  it('writes new keys with scrypt N=2^14, r=8, p=5 (16 MiB; OWASP equivalent of N=2^15, p=3), which open again', async () => {
    assert.deepEqual(DEFAULT_KDF, { N: 16384, r: 8, p: 5 });
    const master = newMasterKey();
    const { file } = await makeKeyFile(master, pw('default parameters'));
    assert.deepEqual({ N: file.N, r: file.r, p: file.p }, DEFAULT_KDF, 'the key file records its parameters');
    const got = await tryUnwrap(file, pw('default parameters'));
    assert.deepEqual(got && masterKeyBytes(got), masterKeyBytes(master));
  });

  it('uses a fresh salt each time', async () => {
    const master = newMasterKey();
    const a = await makeKeyFile(master, pw('pw'), FAST);
    const b = await makeKeyFile(master, pw('pw'), FAST);
    assert.notEqual(a.file.salt, b.file.salt);
    assert.notEqual(a.id, b.id);
  });

  it('refuses an empty password', async () => {
    await assert.rejects(makeKeyFile(newMasterKey(), pw(''), FAST), (err: unknown) => err instanceof UserError && /empty password/.test(err.message));
  });
});

describe('tryUnwrap', () => {
  it('returns the master key for the right password and null for a wrong one', async () => {
    const master = newMasterKey();
    const { file } = await makeKeyFile(master, pw('secret one'), FAST);
    const got = await tryUnwrap(file, pw('secret one'));
    assert.ok(got);
    assert.deepEqual(masterKeyBytes(got), masterKeyBytes(master));
    assert.equal(await tryUnwrap(file, pw('secret two')), null);
    assert.equal(await tryUnwrap(file, pw('secret on')), null);
    assert.equal(await tryUnwrap(file, pw('')), null);
  });

  it('honours the kdf parameters stored in the file', async () => {
    const master = newMasterKey();
    const { file } = await makeKeyFile(master, pw('x'), { N: 2048, r: 4, p: 2 });
    assert.deepEqual([file.N, file.r, file.p], [2048, 4, 2]);
    assert.ok(await tryUnwrap(file, pw('x')));
    assert.equal(await tryUnwrap({ ...file, N: 1024 }, pw('x')), null, 'other parameters derive another key');
  });

  it('returns null when the wrapped data or the salt was changed', async () => {
    const { file } = await makeKeyFile(newMasterKey(), pw('x'), FAST);
    const data = Buffer.from(file.data, 'base64');
    data[40]! ^= 1;
    assert.equal(await tryUnwrap({ ...file, data: data.toString('base64') }, pw('x')), null);
    const salt = Buffer.from(file.salt, 'base64');
    salt[0]! ^= 1;
    assert.equal(await tryUnwrap({ ...file, salt: salt.toString('base64') }, pw('x')), null);
  });

  it('handles non-ASCII passwords', async () => {
    const { file } = await makeKeyFile(newMasterKey(), pw('pässwörd 🔑'), FAST);
    assert.ok(await tryUnwrap(file, pw('pässwörd 🔑')));
    assert.equal(await tryUnwrap(file, pw('passwörd 🔑')), null);
  });
});

describe('unlockWithPassword', () => {
  it('picks the key file the password opens among several', async () => {
    const master = newMasterKey();
    const keys = await Promise.all(['alpha', 'bravo', 'charlie'].map(async (p) => makeKeyFile(master, pw(p), FAST)));
    const files = keys.map((k) => ({ id: k.id, file: k.file }));
    for (const [i, p] of ['alpha', 'bravo', 'charlie'].entries()) {
      const { keyId, master: got } = await unlockWithPassword(files, pw(p));
      assert.equal(keyId, keys[i]!.id);
      assert.deepEqual(masterKeyBytes(got), masterKeyBytes(master));
    }
  });

  it('tells apart key files wrapping different master keys', async () => {
    const [m1, m2] = [newMasterKey(), newMasterKey()];
    const k1 = await makeKeyFile(m1, pw('one'), FAST);
    const k2 = await makeKeyFile(m2, pw('two'), FAST);
    const got = await unlockWithPassword([k1, k2], pw('two'));
    assert.equal(got.keyId, k2.id);
    assert.deepEqual(masterKeyBytes(got.master), masterKeyBytes(m2));
  });

  it('throws WrongPasswordError (exit code 12) when no key opens, or there are no keys', async () => {
    const master = newMasterKey();
    const files = await Promise.all(['a', 'b'].map(async (p) => makeKeyFile(master, pw(p), FAST)));
    const isWrong = (err: unknown): boolean => err instanceof WrongPasswordError && err.exitCode === 12 && /wrong password/.test(err.message);
    await assert.rejects(unlockWithPassword(files, pw('c')), isWrong);
    await assert.rejects(unlockWithPassword([], pw('a')), isWrong);
    assert.equal(ExitCode.wrongPassword, 12);
    assert.equal(new WrongPasswordError().exitCode, 12);
    assert.ok(new WrongPasswordError() instanceof UserError);
  });
});

describe('parseKeyFile', () => {
  it('parses what makeKeyFile wrote', async () => {
    const { id, bytes, file } = await makeKeyFile(newMasterKey(), pw('x'), FAST);
    assert.deepEqual(parseKeyFile(bytes, id), file);
  });

  it('rejects garbage and files without the required fields with IntegrityError', () => {
    const id = 'ab'.repeat(32);
    for (const text of ['not json', '{}', '{"kdf":"argon2","salt":"","data":""}', '{"kdf":"scrypt","salt":1,"data":""}', 'null']) {
      assert.throws(() => parseKeyFile(Buffer.from(text), id), (err: unknown) => err instanceof IntegrityError && /key abababab: not a safepoint key file/.test(err.message), text);
    }
  });
});
