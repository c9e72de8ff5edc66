import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetBucketVersioningCommand,
  GetObjectCommand,
  GetObjectLockConfigurationCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  PutObjectCommand,
  PutObjectRetentionCommand,
  S3Client,
  type BucketLocationConstraint,
  type ObjectLockMode,
  type StorageClass,
} from '@aws-sdk/client-s3';
import { systemClock, type Clock } from '../../util/clock.js';
import { SafepointError, UsageError } from '../../util/errors.js';
import type { BackendOptions, GetOptions, ObjectInfo, PutOptions, Storage, StorageProperties } from '../storage.js';
import { readBody } from './read-body.js';
import { parseS3Url, type S3Target } from './s3-url.js';

/** The registry's factory for `s3:` URLs: `rest` is the part after `s3:` (see parseS3Url). */
export function openS3(rest: string, _url: string, options: BackendOptions): Storage {
  return new S3Storage(parseS3Url(rest), options);
}

/** A failed S3 request. The message names the operation, the object and the target (never credentials). */
export class S3Error extends SafepointError {
  /** HTTP status, when the server answered. */
  readonly status: number | undefined;
  /** S3 error code (`NoSuchKey`, `AccessDenied`...) or Node's network error code (`ECONNRESET`). */
  readonly code: string;
  readonly notFound: boolean;
  readonly permanent: boolean;
  constructor(message: string, info: ErrorInfo, cause: unknown) {
    super(message, { cause });
    this.status = info.status;
    this.code = info.code;
    this.notFound = isNotFoundInfo(info);
    this.permanent = this.notFound || isPermanentInfo(info);
  }
}

/**
 * Amazon S3 or an S3-compatible server (Ceph RGW, MinIO...) through the AWS SDK v3, objects under `bucket/prefix/`.
 *
 * Guarantees: a put is one PutObject, so it is atomic and, when it resolves, durable and visible to get, stat and
 * list (S3 is strongly consistent since 2020; RGW always was). Create-only puts use `If-None-Match: *`; on a
 * versioned bucket of a server other than AWS (Ceph RGW 16 ignores the header there) the object is looked up
 * first, which leaves a small race between two writers of the same name. Objects are limited to 5 GiB (one
 * PutObject; packs are ~16 MiB). Credentials come from the AWS default chain (environment, shared files, profile,
 * instance roles). The SDK does not retry (`maxAttempts: 1`): RetryingStorage wraps every network backend.
 */
export class S3Storage implements Storage {
  readonly #client: S3Client;
  readonly #target: S3Target;
  readonly #options: BackendOptions;
  readonly #clock: Clock;
  readonly #aws: boolean;
  readonly #region: string;
  /** Keys are `#base + name`. */
  readonly #base: string;
  #versioned: Promise<boolean> | undefined;

  constructor(target: S3Target, options: BackendOptions = {}, clock: Clock = systemClock) {
    this.#target = target;
    this.#options = options;
    this.#clock = clock;
    this.#base = target.prefix ? `${target.prefix}/` : '';
    const env = options.env ?? process.env;
    const host = new URL(target.endpoint).hostname;
    this.#aws = host === 'amazonaws.com' || host.endsWith('.amazonaws.com') || host.endsWith('.amazonaws.com.cn');
    this.#region = options.region ?? (env.AWS_REGION || env.AWS_DEFAULT_REGION || 'us-east-1');
    // The SDK warns once per process that its 2027 releases will need Node 22: nothing a user of ours can act on.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    // Checksums follow the target. AWS verifies the SDK's CRC32 (sent as an aws-chunked trailer for streamed
    // bodies). Other servers may predate S3's flexible checksums: Ceph RGW 16 answers such streamed uploads with
    // 411 MissingContentLength and ignores x-amz-checksum-* headers, so there the SDK sends only what an operation
    // requires and put sends a Content-MD5 of its own (RGW checks it: a body damaged in transit gets 400 BadDigest), or, for a pack,
    // the SHA-256 it is named by as the signed payload hash (checked too: 400 XAmzContentSHA256Mismatch), which
    // costs no hashing here (MD5 of every pack was ~3 s of the main thread's time per 1.5 GB).
    const checksums = this.#aws ? 'WHEN_SUPPORTED' : 'WHEN_REQUIRED';
    const agent = { keepAlive: true, maxSockets: options.connections ?? 8 };
    const id = env.AWS_ACCESS_KEY_ID;
    const secret = env.AWS_SECRET_ACCESS_KEY;
    this.#client = new S3Client({
      // s3.amazonaws.com: let the SDK pick the regional endpoint (and follow a redirect to the bucket's region)
      endpoint: host === 's3.amazonaws.com' ? undefined : target.endpoint,
      region: this.#region,
      followRegionRedirects: this.#aws,
      forcePathStyle: options.pathStyle ?? target.pathStyle,
      profile: options.profile,
      // keys in an explicit options.env are used as they are; otherwise the default chain (which reads process.env)
      credentials: options.env && id && secret && !options.profile ? { accessKeyId: id, secretAccessKey: secret, sessionToken: env.AWS_SESSION_TOKEN || undefined } : undefined,
      maxAttempts: 1,
      requestChecksumCalculation: checksums,
      responseChecksumValidation: checksums,
      logger: quiet,
      // connect within 10 s; a connection silent for 60 s in the middle of a request fails it
      requestHandler: { connectionTimeout: 10_000, socketTimeout: 60_000, httpAgent: agent, httpsAgent: agent, logger: quiet },
    });
  }

  properties(): StorageProperties {
    return { location: this.#target.location, kind: 's3', objectLock: this.#options.objectLock, parallelism: Math.min(this.#options.connections ?? 8, 6) };
  }

  /**
   * Stores the parts concatenated in one PutObject, streamed without joining them, with Content-MD5 (not for AWS,
   * which checks the SDK's CRC32). Under Object Lock the object gets a retention of `days` from now.
   */
  async put(name: string, data: Uint8Array | readonly Uint8Array[], options: PutOptions = {}): Promise<void> {
    const { signal, overwrite = false } = options;
    const parts = data instanceof Uint8Array ? [data] : data;
    if (!overwrite && (await this.#headBeforePut()) && (await this.#exists(name, signal))) throw this.#alreadyExists(name);
    const lock = this.#options.objectLock;
    // a known SHA-256 goes in x-amz-content-sha256, which the signature covers and the server checks against the
    // body (a damaged upload is refused), at no hashing cost here; otherwise a Content-MD5 (see the constructor)
    const sha256 = options.sha256 !== undefined && /^[0-9a-f]{64}$/.test(options.sha256) ? options.sha256 : undefined;
    try {
      const command = new PutObjectCommand({
          Bucket: this.#target.bucket,
          Key: this.#base + name,
          Body: parts.length === 1 ? parts[0] : Readable.from(parts),
          ContentLength: parts.reduce((n, p) => n + p.length, 0),
          ContentMD5: this.#aws || (sha256 && !lock) ? undefined : md5(parts), // Object Lock puts need a Content-MD5 (S3 requires one)
          IfNoneMatch: overwrite ? undefined : '*',
          StorageClass: this.#options.storageClass as StorageClass | undefined,
          ObjectLockMode: lock ? (lock.mode.toUpperCase() as ObjectLockMode) : undefined,
          ObjectLockRetainUntilDate: lock ? new Date(this.#clock.now().getTime() + lock.days * 86_400_000) : undefined,
        });
      if (sha256) {
        command.middlewareStack.add(
          (next) => async (args) => {
            const request = args.request as { headers?: Record<string, string> };
            if (request.headers) request.headers['x-amz-content-sha256'] = sha256;
            return next(args);
          },
          { step: 'build', name: 'safepointPayloadSha256' },
        );
      }
      await this.#client.send(command, { abortSignal: signal });
    } catch (err) {
      if (!signal?.aborted && errorInfo(err).status === 412) throw this.#alreadyExists(name, err);
      throw this.#error('put', name, err, signal);
    }
  }

  /** A ranged GetObject; a range starting at or past the end gives an empty buffer (S3 answers 416). */
  async get(name: string, options: GetOptions = {}): Promise<Buffer> {
    const { offset = 0, length, signal } = options;
    if (length === 0) return Buffer.alloc(0);
    const ranged = offset > 0 || length !== undefined;
    try {
      const res = await this.#client.send(
        new GetObjectCommand({
          Bucket: this.#target.bucket,
          Key: this.#base + name,
          Range: ranged ? `bytes=${offset}-${length === undefined ? '' : offset + length - 1}` : undefined,
        }),
        { abortSignal: signal },
      );
      let buf = await readBody(res.Body, res.ContentLength);
      if (ranged && res.ContentRange === undefined) buf = buf.subarray(offset); // the server ignored the Range
      return length !== undefined && buf.length > length ? buf.subarray(0, length) : buf;
    } catch (err) {
      if (!signal?.aborted && errorInfo(err).code === 'InvalidRange') return Buffer.alloc(0);
      throw this.#error('get', name, err, signal);
    }
  }

  /**
   * HeadObject: the size and, under Object Lock, the retention date. A HEAD error has no body, so in a missing
   * bucket stat reports the object as not found (get and list say the bucket is missing).
   */
  async stat(name: string, options: { signal?: AbortSignal } = {}): Promise<ObjectInfo> {
    const head = await this.#send('stat', name, options.signal, (o) => this.#client.send(new HeadObjectCommand({ Bucket: this.#target.bucket, Key: this.#base + name }), o));
    return { name, size: head.ContentLength ?? 0, ...(head.ObjectLockRetainUntilDate ? { retainUntil: head.ObjectLockRetainUntilDate } : {}) };
  }

  /** ListObjectsV2, page after page. Names are relative to the URL's prefix; folder markers (`x/`) are skipped. */
  async *list(prefix: string, options: { signal?: AbortSignal } = {}): AsyncIterable<ObjectInfo> {
    let token: string | undefined;
    do {
      const page = await this.#send('list', prefix || '/', options.signal, (o) =>
        this.#client.send(new ListObjectsV2Command({ Bucket: this.#target.bucket, Prefix: this.#base + prefix, ContinuationToken: token }), o),
      );
      for (const obj of page.Contents ?? []) {
        const name = obj.Key?.startsWith(this.#base) ? obj.Key.slice(this.#base.length) : '';
        if (name && !name.endsWith('/')) yield { name, size: obj.Size ?? 0, ...(obj.LastModified ? { modified: obj.LastModified } : {}) };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  /**
   * DeleteObject; an absent object is not an error. In a versioned bucket (every Object Lock bucket) this only
   * adds a delete marker: the object disappears from get, stat and list, but its versions stay, and locked ones
   * cannot be deleted by anyone until their retention date.
   */
  async remove(name: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    await this.#send('remove', name, options.signal, (o) => this.#client.send(new DeleteObjectCommand({ Bucket: this.#target.bucket, Key: this.#base + name }), o));
  }

  /**
   * Creates the bucket when it is missing, with Object Lock when the policy asks for it. An existing bucket is
   * fine, but under an Object Lock policy it must have Object Lock enabled (UsageError otherwise).
   */
  async create(options: { signal?: AbortSignal } = {}): Promise<void> {
    const { signal } = options;
    const Bucket = this.#target.bucket;
    const what = `bucket ${Bucket}`;
    const lock = this.#options.objectLock;
    try {
      await this.#client.send(new HeadBucketCommand({ Bucket }), { abortSignal: signal });
    } catch (err) {
      if (signal?.aborted || errorInfo(err).status !== 404) throw this.#error('create', what, err, signal);
      const elsewhere = this.#aws && this.#region !== 'us-east-1';
      try {
        await this.#client.send(
          new CreateBucketCommand({
            Bucket,
            ObjectLockEnabledForBucket: lock ? true : undefined,
            CreateBucketConfiguration: elsewhere ? { LocationConstraint: this.#region as BucketLocationConstraint } : undefined,
          }),
          { abortSignal: signal },
        );
        return;
      } catch (err2) {
        if (signal?.aborted || errorInfo(err2).code !== 'BucketAlreadyOwnedByYou') throw this.#error('create', what, err2, signal);
      }
    }
    if (!lock) return;
    let enabled = false;
    try {
      const res = await this.#client.send(new GetObjectLockConfigurationCommand({ Bucket }), { abortSignal: signal });
      enabled = res.ObjectLockConfiguration?.ObjectLockEnabled === 'Enabled';
    } catch (err) {
      if (signal?.aborted || errorInfo(err).code !== 'ObjectLockConfigurationNotFoundError') throw this.#error('create', what, err, signal);
    }
    if (!enabled) {
      throw new UsageError(
        `${this.#target.location}: bucket ${Bucket} has no Object Lock: it can only be enabled when the bucket is created; use a new bucket, or remove objectLock from the target`,
      );
    }
  }

  /**
   * Moves the retention of the object's current version to `until` in its own mode (else the configured one);
   * does nothing when it is already retained that long. Never shortens a retention.
   */
  async extendRetention(name: string, until: Date, options: { signal?: AbortSignal } = {}): Promise<void> {
    const op = 'extend retention of';
    const Bucket = this.#target.bucket;
    const Key = this.#base + name;
    const head = await this.#send(op, name, options.signal, (o) => this.#client.send(new HeadObjectCommand({ Bucket, Key }), o));
    if (head.ObjectLockRetainUntilDate && head.ObjectLockRetainUntilDate.getTime() >= until.getTime()) return;
    const Mode = head.ObjectLockMode ?? (this.#options.objectLock?.mode.toUpperCase() as ObjectLockMode | undefined);
    if (!Mode) throw new UsageError(`${this.#target.location}: cannot extend the retention of ${name}: the target has no objectLock mode`);
    await this.#send(op, name, options.signal, (o) =>
      this.#client.send(new PutObjectRetentionCommand({ Bucket, Key, VersionId: head.VersionId, Retention: { Mode, RetainUntilDate: until } }), o),
    );
  }

  isNotFound(err: unknown): boolean {
    return err instanceof S3Error ? err.notFound : isNotFoundInfo(errorInfo(err));
  }

  /**
   * Permanent: authentication and permission errors, a missing bucket or object, other 4xx answers, an unknown host,
   * TLS certificate errors, missing credentials. Transient: 5xx, throttling (429, SlowDown), 408, RequestTimeout,
   * BadDigest, XAmzContentSHA256Mismatch and IncompleteBody (damaged in transit), network errors including refused connections (a server
   * restarting) and timeouts.
   */
  isPermanent(err: unknown): boolean {
    if (err instanceof S3Error) return err.permanent;
    const info = errorInfo(err);
    return isNotFoundInfo(info) || isPermanentInfo(info);
  }

  /**
   * Versioned buckets (every Object Lock bucket): undoes what was done to existing objects after `since`. For each
   * object that had a version at `since`, the delete markers and newer versions written after it are deleted by
   * version id, so the object reads as it was then. Objects created after `since` are left alone. A newer version
   * that is itself locked cannot be removed and is reported. This is how a repository comes back after an attacker
   * with the backup credentials deleted or overwrote it: the locked versions were never gone.
   */
  async revertTo(since: Date, options: { signal?: AbortSignal } = {}): Promise<{ reverted: number; failed: string[] }> {
    const { signal } = options;
    const byKey = new Map<string, { id: string; at: Date; marker: boolean }[]>();
    let keyMarker: string | undefined;
    let versionMarker: string | undefined;
    do {
      const page = await this.#send('list versions', this.#base || '/', signal, (o) =>
        this.#client.send(new ListObjectVersionsCommand({ Bucket: this.#target.bucket, Prefix: this.#base, KeyMarker: keyMarker, VersionIdMarker: versionMarker }), o),
      );
      const add = (key: string | undefined, id: string | undefined, at: Date | undefined, marker: boolean): void => {
        if (!key || !id || !at) return;
        const list = byKey.get(key) ?? [];
        list.push({ id, at, marker });
        byKey.set(key, list);
      };
      for (const v of page.Versions ?? []) add(v.Key, v.VersionId, v.LastModified, false);
      for (const m of page.DeleteMarkers ?? []) add(m.Key, m.VersionId, m.LastModified, true);
      keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
      versionMarker = page.IsTruncated ? page.NextVersionIdMarker : undefined;
    } while (keyMarker);
    let reverted = 0;
    const failed: string[] = [];
    for (const [key, versions] of byKey) {
      if (!versions.some((v) => !v.marker && v.at <= since)) continue; // created after `since`, or gone before it
      if (/^(locks|lag)\//.test(key.slice(this.#base.length))) continue; // session scratch: reviving it would only block
      const later = versions.filter((v) => v.at > since);
      if (later.length === 0) continue;
      const name = key.slice(this.#base.length);
      try {
        for (const v of later) {
          await this.#send('revert', name, signal, (o) => this.#client.send(new DeleteObjectCommand({ Bucket: this.#target.bucket, Key: key, VersionId: v.id }), o));
        }
        reverted++;
      } catch (err) {
        failed.push(`${name}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    return { reverted, failed };
  }

  async close(): Promise<void> {
    this.#client.destroy();
  }

  /** Whether a create-only put must look first: RGW ignores `If-None-Match: *` in versioned buckets. */
  #headBeforePut(): Promise<boolean> {
    if (this.#aws) return Promise.resolve(false);
    if (this.#options.objectLock) return Promise.resolve(true);
    this.#versioned ??= this.#client.send(new GetBucketVersioningCommand({ Bucket: this.#target.bucket })).then(
      (res) => res.Status !== undefined,
      () => {
        this.#versioned = undefined; // ask again next time; look first meanwhile
        return true;
      },
    );
    return this.#versioned;
  }

  async #exists(name: string, signal: AbortSignal | undefined): Promise<boolean> {
    try {
      await this.stat(name, { signal });
      return true;
    } catch (err) {
      if (this.isNotFound(err)) return false;
      throw err;
    }
  }

  #alreadyExists(name: string, cause?: unknown): S3Error {
    return new S3Error(`${this.#target.location}: object ${name} already exists`, { status: 412, code: 'PreconditionFailed' }, cause);
  }

  async #send<T>(op: string, name: string, signal: AbortSignal | undefined, call: (options: { abortSignal?: AbortSignal }) => Promise<T>): Promise<T> {
    try {
      return await call({ abortSignal: signal });
    } catch (err) {
      throw this.#error(op, name, err, signal);
    }
  }

  /** The error to throw: the caller's abort reason when it aborted, else an S3Error naming op, object and target. */
  #error(op: string, name: string, err: unknown, signal: AbortSignal | undefined): unknown {
    if (signal?.aborted) return signal.reason;
    const info = errorInfo(err);
    return new S3Error(`${this.#target.location}: ${op} ${name}: ${explain(info, this.#target.bucket)}`, info, err);
  }
}

interface ErrorInfo {
  readonly status?: number;
  readonly code: string;
  readonly message?: string;
}

const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

/** Status and code of an SDK or network error. RGW sends no <Message>, so the SDK's message is often "UnknownError". */
function errorInfo(err: unknown): ErrorInfo {
  if (err instanceof S3Error) return { status: err.status, code: err.code };
  const e = (typeof err === 'object' && err !== null ? err : {}) as { name?: unknown; code?: unknown; Code?: unknown; message?: unknown; $metadata?: { httpStatusCode?: number } };
  const status = e.$metadata?.httpStatusCode;
  const nodeCode = typeof e.code === 'string' ? e.code : undefined;
  const code = typeof e.Code === 'string' ? e.Code : (nodeCode ?? (typeof e.name === 'string' ? e.name : 'Error'));
  const message = typeof e.message === 'string' && e.message !== 'UnknownError' ? e.message : undefined;
  return { status, code, message };
}

const TRANSIENT = new Set([
  'RequestTimeout', 'RequestTimeoutException', 'Throttling', 'ThrottlingException', 'SlowDown', 'TooManyRequests', 'RequestThrottled',
  'RequestLimitExceeded', 'BandwidthLimitExceeded', 'PriorRequestNotComplete', 'InternalError', 'ServiceUnavailable', 'OperationAborted',
  'ConditionalRequestConflict', 'BadDigest', 'XAmzContentSHA256Mismatch', 'IncompleteBody', 'TimeoutError',
]);
const PERMANENT = new Set([
  'CredentialsProviderError', 'ENOTFOUND', 'CERT_HAS_EXPIRED', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'ERR_TLS_CERT_ALTNAME_INVALID',
]);

function isNotFoundInfo(info: ErrorInfo): boolean {
  return info.code === 'NoSuchKey' || (info.status === 404 && info.code === 'NotFound');
}

function isPermanentInfo(info: ErrorInfo): boolean {
  if (TRANSIENT.has(info.code)) return false;
  if (PERMANENT.has(info.code)) return true;
  const s = info.status;
  return s !== undefined && s >= 400 && s < 500 && s !== 408 && s !== 429;
}

/** What went wrong, in words, with the fix where there is an obvious one. */
function explain(info: ErrorInfo, bucket: string): string {
  switch (info.code) {
    case 'NoSuchKey':
    case 'NotFound':
      if (info.status === 404) return 'no such object';
      break;
    case 'NoSuchBucket':
      return `bucket ${bucket} does not exist (safepoint init creates it)`;
    case 'InvalidAccessKeyId':
      return 'the server does not know the access key (check AWS_ACCESS_KEY_ID or the profile)';
    case 'SignatureDoesNotMatch':
      return 'the request signature does not match: wrong secret key (check AWS_SECRET_ACCESS_KEY or the profile)';
    case 'AccessDenied':
      return 'access denied (HTTP 403): check the credentials and the permissions on the bucket';
    case 'RequestTimeTooSkewed':
      return "this machine's clock is too far from the server's";
    case 'CredentialsProviderError':
      return `no S3 credentials found (${info.message ?? 'none'}): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or name a profile`;
  }
  if (info.status === 403) return 'access denied (HTTP 403): check the credentials and the permissions on the bucket';
  if (info.status === undefined) return info.message?.includes(info.code) ? info.message : `${info.code}${info.message ? `: ${info.message}` : ''}`;
  return `${info.code} (HTTP ${info.status})${info.message ? `: ${info.message}` : ''}`;
}

function md5(parts: readonly Uint8Array[]): string {
  const h = createHash('md5');
  for (const p of parts) h.update(p);
  return h.digest('base64');
}
