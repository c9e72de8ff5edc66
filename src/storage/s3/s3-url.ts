import { isIP } from 'node:net';
import { UsageError } from '../../util/errors.js';
import { stripCredentials } from '../../util/secret.js';

/** Where an `s3:` repository lives, parsed from its URL. Never holds credentials. */
export interface S3Target {
  /** `http(s)://host[:port]`, no path, no trailing slash. */
  readonly endpoint: string;
  readonly bucket: string;
  /** Folder inside the bucket without leading or trailing slash; `''` for the bucket's root. */
  readonly prefix: string;
  /** Path-style addressing (`endpoint/bucket/key`) rather than virtual-hosted (`bucket.host/key`). */
  readonly pathStyle: boolean;
  /** `s3:endpoint/bucket[/prefix]`, for messages and `properties().location`. */
  readonly location: string;
}

const FORM = 's3:https://host[:port]/bucket[/prefix] (or s3:host/bucket[/prefix] for https)';

/**
 * Parses the part of a repository URL after `s3:` (restic's forms):
 * - `http(s)://host[:port]/bucket[/prefix]`;
 * - `host[:port]/bucket[/prefix]`, meaning https, as in restic's `s3:s3.amazonaws.com/bucket`. The host must look
 *   like one (contain a dot or a port, or be `localhost`), so that `s3:bucket/prefix` is refused rather than taken
 *   as a host called `bucket`.
 *
 * Path-style addressing is chosen when the host is an IP address or `localhost` (no DNS name per bucket can exist)
 * or when the bucket name has a dot (it would not match the server's wildcard TLS certificate).
 * Throws UsageError naming the URL (without credentials) and the expected form.
 */
export function parseS3Url(rest: string): S3Target {
  const bad = (why: string): UsageError => new UsageError(`repository s3:${stripCredentials(rest)}: ${why}; expected ${FORM}`);
  const withScheme = /^https?:\/\//i.test(rest);
  let url: URL;
  try {
    url = new URL(withScheme ? rest : `https://${rest}`);
  } catch {
    throw bad('not a valid URL');
  }
  if (url.username || url.password) throw bad('credentials do not belong in the URL (use AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or a profile)');
  if (url.search || url.hash) throw bad('no query or fragment allowed');
  const host = url.hostname;
  if (!host) throw bad('no host');
  if (!withScheme && !host.includes('.') && !url.port && host !== 'localhost') throw bad(`"${host}" is not a host name`);
  const [bucket = '', ...folders] = decodeURIComponent(url.pathname).split('/').filter(Boolean);
  if (!bucket) throw bad('no bucket');
  if (!/^[a-zA-Z0-9][a-zA-Z0-9._-]{1,61}[a-zA-Z0-9]$/.test(bucket)) throw bad(`"${bucket}" is not a valid bucket name`);
  const prefix = folders.join('/');
  const endpoint = `${url.protocol}//${url.host}`;
  const bare = host.replace(/^\[|\]$/g, '');
  const pathStyle = isIP(bare) !== 0 || bare === 'localhost' || bucket.includes('.');
  return { endpoint, bucket, prefix, pathStyle, location: `s3:${endpoint}/${bucket}${prefix ? `/${prefix}` : ''}` };
}
