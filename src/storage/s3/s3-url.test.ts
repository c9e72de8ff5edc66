import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError } from '../../util/errors.js';
import { parseS3Url } from './s3-url.js';

describe('parseS3Url', () => {
  it('splits endpoint, bucket and prefix', () => {
    assert.deepEqual(parseS3Url('https://s3.example.com/backups/host-a/repo/'), {
      endpoint: 'https://s3.example.com',
      bucket: 'backups',
      prefix: 'host-a/repo',
      pathStyle: false,
      location: 's3:https://s3.example.com/backups/host-a/repo',
    });
    assert.deepEqual(parseS3Url('http://127.0.0.1:7480/bk1'), {
      endpoint: 'http://127.0.0.1:7480',
      bucket: 'bk1',
      prefix: '',
      pathStyle: true,
      location: 's3:http://127.0.0.1:7480/bk1',
    });
  });

  it('uses path-style for IP addresses, localhost and buckets with dots', () => {
    assert.equal(parseS3Url('http://localhost:9000/bucket').pathStyle, true);
    assert.equal(parseS3Url('http://[::1]:9000/bucket').pathStyle, true);
    assert.equal(parseS3Url('https://s3.example.com/my.bucket').pathStyle, true);
    assert.equal(parseS3Url('https://s3.example.com/bucket').pathStyle, false);
  });

  it('takes restic\'s host/bucket form as https', () => {
    const t = parseS3Url('s3.amazonaws.com/bucket/p');
    assert.equal(t.endpoint, 'https://s3.amazonaws.com');
    assert.equal(t.bucket, 'bucket');
    assert.equal(t.prefix, 'p');
    assert.equal(parseS3Url('minio:9000/bucket').endpoint, 'https://minio:9000');
  });

  it('refuses bad URLs with the URL and the expected form, never the credentials', () => {
    for (const bad of ['', 'http://host.example', 'https://host.example/', 'bucket/prefix', 'https://h.example/b?x=1', 'https://h.example/a_', 'https://h.example/x', 'ftp//x']) {
      assert.throws(() => parseS3Url(bad), (err: unknown) => err instanceof UsageError && err.message.includes(`s3:${bad}`) && err.message.includes('expected s3:https://host'), bad);
    }
    assert.throws(
      () => parseS3Url('https://AKIA:topsecret@h.example/b1'),
      (err: unknown) => err instanceof UsageError && !err.message.includes('topsecret') && err.message.includes('credentials do not belong'),
    );
  });
});
