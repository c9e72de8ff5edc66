import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSftpUrl } from './sftp-url.js';
import { UsageError } from '../../util/errors.js';

const parse = (rest: string): ReturnType<typeof parseSftpUrl> => parseSftpUrl(rest, 'me');

test('scp-like form: user, host, absolute and relative paths', () => {
  assert.deepEqual(parse('backup@nas.example:/srv/repo/'), {
    user: 'backup',
    host: 'nas.example',
    port: 22,
    path: '/srv/repo',
    location: 'sftp://backup@nas.example:22/srv/repo',
  });
  assert.deepEqual(parse('nas:repos/main'), { user: 'me', host: 'nas', port: 22, path: 'repos/main', location: 'sftp://me@nas:22/~/repos/main' });
  assert.equal(parse('nas:').path, '');
  assert.equal(parse('nas:').location, 'sftp://me@nas:22/~');
  assert.equal(parse('nas:/').path, '/');
  assert.equal(parse('first.last@corp@nas:/x').user, 'first.last@corp');
  assert.equal(parse('nas:/odd@name:x').path, '/odd@name:x');
});

test('URL form: port, absolute path, /~/ relative path, restic double slash', () => {
  assert.deepEqual(parse('//u@127.0.0.1:2222/tmp/r'), { user: 'u', host: '127.0.0.1', port: 2222, path: '/tmp/r', location: 'sftp://u@127.0.0.1:2222/tmp/r' });
  assert.equal(parse('//host/srv/repo').port, 22);
  assert.equal(parse('//host/srv/repo').user, 'me');
  assert.equal(parse('//host//srv/repo').path, '/srv/repo');
  assert.equal(parse('//host/~/repo').path, 'repo');
  assert.equal(parse('//host/~/repo').location, 'sftp://me@host:22/~/repo');
  assert.equal(parse('//host/a%20b').path, '/a b');
  assert.equal(parse('//host').path, '');
});

test('IPv6 addresses in brackets', () => {
  assert.deepEqual(parse('u@[::1]:/srv/r'), { user: 'u', host: '::1', port: 22, path: '/srv/r', location: 'sftp://u@[::1]:22/srv/r' });
  const v = parse('//[fe80::1]:2200/srv/r');
  assert.equal(v.host, 'fe80::1');
  assert.equal(v.port, 2200);
  assert.equal(v.location, 'sftp://me@[fe80::1]:2200/srv/r');
});

test('bad URLs: UsageError naming the URL and the accepted forms, never a password', () => {
  const cases: [string, RegExp][] = [
    ['host', /no "host:" part/],
    ['/srv/repo', /no "host:" part/],
    ['@host:/x', /empty user/],
    ['//host:99999/x', /"99999" is not a port/],
    ['//host:ssh/x', /"ssh" is not a port/],
    ['//u:hunter2@host/x', /passwords do not belong/],
    ['u:hunter2@host:/x', /passwords do not belong/],
    ['u:hun@ter2@host:/x', /passwords do not belong/],
    ['//host/x?a=b', /no query/],
    ['[nothost]:/x', /not an IPv6 address/],
    ['bad_host!:/x', /no "host:" part|not a host name/],
    ['-oProxyCommand=x:/x', /not a host name/],
    ['//host/%zz', /bad %-escape/],
  ];
  for (const [rest, why] of cases) {
    assert.throws(
      () => parse(rest),
      (err: unknown) => {
        assert.ok(err instanceof UsageError, rest);
        assert.match(err.message, why, rest);
        assert.match(err.message, /^repository sftp:/);
        assert.match(err.message, /expected sftp:\[user@\]host:path or sftp:\/\/\[user@\]host\[:port\]\/path$/);
        assert.ok(!err.message.includes('hunter2') && !err.message.includes('ter2'), err.message);
        assert.ok(!err.message.includes('\n'));
        return true;
      },
    );
  }
});
