import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { format, inspect } from 'node:util';
import { Secret, stripCredentials } from './secret.js';

const VALUE = 'hunter2-do-not-print';

describe('Secret', () => {
  const s = new Secret(VALUE);

  it('reveals its value only through reveal()', () => {
    assert.equal(s.reveal(), VALUE);
    const obj = new Secret({ token: VALUE });
    assert.deepEqual(obj.reveal(), { token: VALUE });
  });

  it('prints **redacted** through String(), templates and concatenation', () => {
    assert.equal(String(s), '**redacted**');
    assert.equal(`${s}`, '**redacted**');
    assert.equal(s.toString(), '**redacted**');
    assert.equal('pw=' + s, 'pw=**redacted**');
    assert.equal(String(new Secret({ token: VALUE })), '**redacted**');
  });

  it('prints **redacted** through JSON.stringify, also nested', () => {
    assert.equal(JSON.stringify(s), '"**redacted**"');
    assert.equal(JSON.stringify({ password: s, list: [s] }), '{"password":"**redacted**","list":["**redacted**"]}');
    assert.equal(JSON.stringify({ password: s }, null, 2).includes(VALUE), false);
  });

  it('prints Secret(**redacted**) through util.inspect and console formatting', () => {
    assert.equal(inspect(s), 'Secret(**redacted**)');
    assert.equal(inspect({ a: { b: s } }), '{ a: { b: Secret(**redacted**) } }');
    for (const out of [inspect(s, { showHidden: true, depth: Infinity }), inspect(s, { customInspect: false }), inspect([s, { s }], { depth: 10 }), format('%s %o %O %j', s, s, s, s), format(s), format('%s', { s })]) {
      assert.ok(!out.includes(VALUE), out);
      assert.ok(out.includes('redacted') || out === 'Secret {}', out);
    }
  });

  it('does not expose its value as a property or through structuredClone', () => {
    assert.deepEqual(Object.keys(s), []);
    assert.deepEqual(Object.getOwnPropertyNames(s), []);
    assert.deepEqual(Object.entries({ ...s }), []);
    assert.ok(!JSON.stringify(structuredClone({ s })).includes(VALUE));
  });

  it('keeps the value out of error messages and stacks built from it', () => {
    const err = new Error(`cannot log in with ${s}`);
    assert.ok(!err.message.includes(VALUE));
    assert.ok(!(err.stack ?? '').includes(VALUE));
    assert.ok(!inspect(new Error('x', { cause: s })).includes(VALUE));
  });
});

describe('stripCredentials', () => {
  it('removes user:password@ from URLs', () => {
    assert.equal(stripCredentials('https://user:pw@host/path'), 'https://host/path');
    assert.equal(stripCredentials('sftp://deploy:secret@backup.example:22/srv/repo'), 'sftp://backup.example:22/srv/repo');
    assert.equal(stripCredentials('https://user@host/x'), 'https://host/x');
    assert.equal(stripCredentials('https://:token@host'), 'https://host');
    assert.equal(stripCredentials('HTTPS://U:P@H/'), 'HTTPS://H/');
    assert.equal(stripCredentials('https://us%40er:p%2Fw@host/x'), 'https://host/x');
  });

  it('leaves strings without credentials alone', () => {
    for (const u of ['/srv/backups/repo', 'local:/srv/repo', 'https://host/path', 'https://host/x?mail=a@b', 'https://host/@scope/pkg', 's3:https://host/bucket/prefix', '']) {
      assert.equal(stripCredentials(u), u);
    }
  });

  it('removes credentials from backend-prefixed URLs (s3:https://..., rest:https://...)', () => {
    assert.equal(stripCredentials('s3:https://AKIA123:s3cr3t@s3.example.com/bucket'), 's3:https://s3.example.com/bucket');
    assert.equal(stripCredentials('rest:https://user:pw@backup.example:8000/repo'), 'rest:https://backup.example:8000/repo');
  });

  it('removes a password that contains an unencoded @ entirely', () => {
    assert.equal(stripCredentials('https://user:p@ss@host/x'), 'https://host/x');
  });
});
