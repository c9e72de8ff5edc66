import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  PutObjectRetentionCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { openS3, S3Error } from '../src/storage/s3/s3-storage.js';
import type { BackendOptions, Storage } from '../src/storage/storage.js';
import { runConformance } from '../src/storage/testing/conformance.js';
import { UsageError } from '../src/util/errors.js';
import { mapLimit } from '../src/util/concurrency.js';
import { needService } from './services/require.js';
import { startRgw, type Rgw } from './services/rgw.js';

const DAY = 86_400_000;
const httpStatus = (err: unknown): number | undefined => (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;

describe('S3 storage against a real Ceph RGW', () => {
  let rgw: Rgw | null = null;
  const opened: Storage[] = [];

  before(async () => {
    rgw = await startRgw();
  });
  after(async () => {
    await Promise.all(opened.map((s) => s.close()));
    await rgw?.stop();
  });

  /** The running gateway, or null when the test must stop (skipped locally, failed under CI). */
  const gateway = (t: TestContext): Rgw | null =>
    needService(t, rgw !== null, 'Ceph RGW not installed (apt-get install ceph-mon ceph-osd radosgw ceph-common)') ? rgw : null;

  const open = (g: Rgw, path: string, options: BackendOptions = {}, keys: Partial<Pick<Rgw, 'accessKeyId' | 'secretAccessKey'>> = {}): Storage => {
    const env = { AWS_ACCESS_KEY_ID: keys.accessKeyId ?? g.accessKeyId, AWS_SECRET_ACCESS_KEY: keys.secretAccessKey ?? g.secretAccessKey };
    const rest = `${g.endpoint}/${path}`;
    const s = openS3(rest, `s3:${rest}`, { env, ...options });
    opened.push(s);
    return s;
  };
  const rawClient = (g: Rgw): S3Client =>
    new S3Client({
      endpoint: g.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: g.accessKeyId, secretAccessKey: g.secretAccessKey },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: 1,
    });
  const failures = (results: Awaited<ReturnType<typeof runConformance>>): string[] => results.filter((r) => r.status === 'fail').map((r) => `${r.name}: ${r.detail}`);
  const rejection = async (p: Promise<unknown>): Promise<unknown> => {
    try {
      await p;
    } catch (err) {
      return err;
    }
    throw new Error('expected a rejection');
  };

  it('create() makes the bucket and is idempotent', async (t) => {
    const g = gateway(t);
    if (!g) return;
    const s = open(g, 'made-by-create');
    await s.create!();
    await s.create!();
    const raw = rawClient(g);
    await raw.send(new HeadBucketCommand({ Bucket: 'made-by-create' }));
    raw.destroy();
    assert.deepEqual(s.properties(), { location: `s3:${g.endpoint}/made-by-create`, kind: 's3', objectLock: undefined, parallelism: 6 });
  });

  it('passes the conformance suite at the bucket root and under a prefix', async (t) => {
    const g = gateway(t);
    if (!g) return;
    const root = open(g, 'conformance');
    await root.create!();
    assert.deepEqual(failures(await runConformance(root)), []);
    const nested = open(g, 'conformance/some/prefix');
    assert.equal(nested.properties().location, `s3:${g.endpoint}/conformance/some/prefix`);
    assert.deepEqual(failures(await runConformance(nested)), []);
  });

  it('puts a 16 MiB pack given in parts, refuses to replace it, and reads ranges of it', async (t) => {
    const g = gateway(t);
    if (!g) return;
    const s = open(g, 'conformance/packs');
    const pack = randomBytes(16 << 20);
    const parts = Array.from({ length: 64 }, (_, i) => pack.subarray(i << 18, (i + 1) << 18));
    const t0 = performance.now();
    await s.put('data/ab/pack', parts);
    t.diagnostic(`PUT of a 16 MiB object in 64 parts: ${(performance.now() - t0).toFixed(0)} ms`);
    const t1 = performance.now();
    assert.ok((await s.get('data/ab/pack')).equals(pack));
    t.diagnostic(`GET of a 16 MiB object: ${(performance.now() - t1).toFixed(0)} ms`);
    const err = await rejection(s.put('data/ab/pack', [pack.subarray(0, 5)]));
    assert.match(String((err as Error).message), /object data\/ab\/pack already exists/);
    assert.equal(s.isPermanent(err), true);
    assert.equal(s.isNotFound(err), false);
    assert.equal((await s.get('data/ab/pack', { offset: pack.length })).length, 0);
    assert.equal((await s.get('data/ab/pack', { offset: pack.length + 100, length: 10 })).length, 0);
    assert.ok((await s.get('data/ab/pack', { offset: 12345, length: 1000 })).equals(pack.subarray(12345, 13345)));
    const missing = await rejection(s.get('data/ab/missing'));
    assert.equal(s.isNotFound(missing), true);
    assert.match((missing as Error).message, new RegExp(`s3:${g.endpoint}/conformance/packs: get data/ab/missing: no such object`));
  });

  it('a put given the data\'s SHA-256 is checked by the server with it: the right hash stores, a wrong one is refused', async (t) => {
    const g = gateway(t);
    if (!g) return;
    const s = open(g, 'hashed');
    await s.create!();
    const pack = randomBytes(3 << 20);
    const parts = [pack.subarray(0, 1000), pack.subarray(1000)];
    const sha256 = createHash('sha256').update(pack).digest('hex');
    await s.put('data/cd/good', parts, { sha256 });
    assert.ok((await s.get('data/cd/good')).equals(pack));
    const wrong = createHash('sha256').update('something else').digest('hex');
    const err = await rejection(s.put('data/cd/bad', parts, { sha256: wrong }));
    assert.match((err as Error).message, /XAmzContentSHA256Mismatch|sha256|400/i);
    assert.equal(s.isPermanent(err), false, 'a body damaged in transit is worth another try');
    assert.equal(s.isNotFound(await rejection(s.stat('data/cd/bad'))), true, 'nothing was stored under the name');
  });

  it('lists past one page of 1000 keys', async (t) => {
    const g = gateway(t);
    if (!g) return;
    const s = open(g, 'conformance/many', { connections: 32 });
    const names = Array.from({ length: 1100 }, (_, i) => `index/${String(i).padStart(4, '0')}`);
    await mapLimit(names, 32, (n) => s.put(n, Buffer.from(n)));
    await s.put('other/x', Buffer.from('x'));
    const listed: string[] = [];
    for await (const o of s.list('index/')) listed.push(o.name);
    assert.deepEqual(listed.sort(), names);
  });

  it('reports wrong credentials as permanent, with a message that names the fix and not the secret', async (t) => {
    const g = gateway(t);
    if (!g) return;
    const badKey = open(g, 'conformance', {}, { accessKeyId: 'NOSUCHKEY0000000000', secretAccessKey: 'very-secret-value' });
    const e1 = await rejection(badKey.get('config'));
    assert.ok(e1 instanceof S3Error);
    assert.equal(badKey.isPermanent(e1), true);
    assert.match(e1.message, new RegExp(`^s3:${g.endpoint}/conformance: get config: .*access key.*AWS_ACCESS_KEY_ID`));
    const badSecret = open(g, 'conformance', {}, { secretAccessKey: 'very-secret-value' });
    for (const op of [() => badSecret.get('config'), () => badSecret.put('x', Buffer.from('x')), () => badSecret.stat('config')]) {
      const err = await rejection(op());
      assert.equal(badSecret.isPermanent(err), true);
      assert.equal(badSecret.isNotFound(err), false);
      assert.doesNotMatch((err as Error).message, /very-secret-value/);
      assert.match((err as Error).message, /secret key|access denied/);
    }
  });

  it('reports a missing bucket as permanent', async (t) => {
    const g = gateway(t);
    if (!g) return;
    const s = open(g, 'no-such-bucket/repo');
    for (const op of [() => s.get('config'), () => s.put('config', Buffer.from('x')), async () => { for await (const _ of s.list('')) break; }]) {
      const err = await rejection(op());
      assert.equal(s.isPermanent(err), true);
      assert.equal(s.isNotFound(err), false);
      assert.match((err as Error).message, /bucket no-such-bucket does not exist/);
    }
  });

  it('Object Lock: retention on put, extended and never shortened; locked versions survive remove and attackers', async (t) => {
    const g = gateway(t);
    if (!g) return;
    const policy = { mode: 'compliance', days: 1 } as const;
    const s = open(g, 'locked/repo', { objectLock: policy });
    await s.create!();
    await s.create!();
    assert.deepEqual(s.properties().objectLock, policy);

    const data = randomBytes(1000);
    await s.put('data/00/locked', data);
    const near = (d: Date | undefined, ms: number): boolean => d !== undefined && Math.abs(d.getTime() - (Date.now() + ms)) < 60_000;
    assert.ok(near((await s.stat('data/00/locked')).retainUntil, DAY));
    await s.extendRetention!('data/00/locked', new Date(Date.now() + 2 * DAY));
    assert.ok(near((await s.stat('data/00/locked')).retainUntil, 2 * DAY));
    await s.extendRetention!('data/00/locked', new Date(Date.now() + DAY / 24));
    assert.ok(near((await s.stat('data/00/locked')).retainUntil, 2 * DAY), 'extendRetention shortened the retention');

    // RGW 16 ignores If-None-Match in versioned buckets: the storage must still refuse to replace
    const exists = await rejection(s.put('data/00/locked', Buffer.from('other')));
    assert.match((exists as Error).message, /already exists/);
    assert.ok((await s.get('data/00/locked')).equals(data));
    assert.deepEqual(failures(await runConformance(s)), []);

    const attacker = rawClient(g);
    const Key = 'repo/data/00/locked';
    const { VersionId } = await attacker.send(new HeadObjectCommand({ Bucket: 'locked', Key }));
    assert.ok(VersionId);
    const del = await rejection(attacker.send(new DeleteObjectCommand({ Bucket: 'locked', Key, VersionId, BypassGovernanceRetention: true })));
    assert.equal(httpStatus(del), 403);
    const shorten = await rejection(
      attacker.send(new PutObjectRetentionCommand({ Bucket: 'locked', Key, VersionId, Retention: { Mode: 'COMPLIANCE', RetainUntilDate: new Date(Date.now() + 60_000) } })),
    );
    assert.equal(httpStatus(shorten), 403);

    await s.remove('data/00/locked');
    assert.equal(s.isNotFound(await rejection(s.stat('data/00/locked'))), true);
    const versions = await attacker.send(new ListObjectVersionsCommand({ Bucket: 'locked', Prefix: Key }));
    assert.equal(versions.DeleteMarkers?.length, 1);
    const old = await attacker.send(new GetObjectCommand({ Bucket: 'locked', Key, VersionId }));
    assert.ok(Buffer.from(await old.Body!.transformToByteArray()).equals(data));
    attacker.destroy();

    const plain = open(g, 'conformance', { objectLock: policy });
    const refused = await rejection(plain.create!());
    assert.ok(refused instanceof UsageError);
    assert.match(refused.message, /bucket conformance has no Object Lock: it can only be enabled when the bucket is created/);
  });

  it('honours an abort signal', async (t) => {
    const g = gateway(t);
    if (!g) return;
    const s = open(g, 'conformance/abort');
    await s.put('big', randomBytes(8 << 20));
    const reason = new Error('stop now');
    const err = await rejection(s.get('big', { signal: AbortSignal.abort(reason) }));
    assert.equal(err, reason);
    const ac = new AbortController();
    const pending = s.get('big', { signal: ac.signal });
    setTimeout(() => ac.abort(reason), 2);
    assert.equal(await rejection(pending), reason);
    assert.equal((await s.get('big', { offset: 0, length: 4 })).length, 4, 'the storage still works after an abort');
  });
});

describe('S3 error classification (no server)', () => {
  const s = openS3('http://127.0.0.1:9/bucket', 's3:http://127.0.0.1:9/bucket', { env: {} });
  after(() => s.close());
  const sdk = (name: string, status?: number): Error => Object.assign(new Error('UnknownError'), { name, ...(status ? { $metadata: { httpStatusCode: status } } : {}) });
  const net = (code: string): Error => Object.assign(new Error(`connect ${code}`), { code });

  it('treats missing objects as not found, and a missing bucket as permanent but not "not found"', () => {
    for (const e of [sdk('NoSuchKey', 404), sdk('NotFound', 404)]) assert.deepEqual([s.isNotFound(e), s.isPermanent(e)], [true, true], e.name);
    assert.deepEqual([s.isNotFound(sdk('NoSuchBucket', 404)), s.isPermanent(sdk('NoSuchBucket', 404))], [false, true]);
  });

  it('retries what can pass: 5xx, throttling, timeouts, damaged bodies and network errors', () => {
    const transient = [sdk('InternalError', 500), sdk('ServiceUnavailable', 503), sdk('SlowDown', 503), sdk('TooManyRequests', 429), sdk('RequestTimeout', 400), sdk('BadDigest', 400), sdk('XAmzContentSHA256Mismatch', 400), sdk('Unknown', 408), sdk('TimeoutError'), net('ECONNRESET'), net('ECONNREFUSED'), net('ETIMEDOUT'), net('EAI_AGAIN')];
    for (const e of transient) assert.equal(s.isPermanent(e), false, `${e.name} ${(e as { code?: string }).code ?? ''}`);
  });

  it('gives up at once on authentication, permissions, other 4xx, unknown hosts and missing credentials', () => {
    const permanent = [sdk('AccessDenied', 403), sdk('Unknown', 403), sdk('InvalidAccessKeyId', 403), sdk('SignatureDoesNotMatch', 403), sdk('PreconditionFailed', 412), sdk('InvalidBucketName', 400), net('ENOTFOUND'), sdk('CredentialsProviderError')];
    for (const e of permanent) assert.equal(s.isPermanent(e), true, e.name);
  });
});
