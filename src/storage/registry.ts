import { resolve } from 'node:path';
import { UsageError } from '../util/errors.js';
import { stripCredentials } from '../util/secret.js';
import { LocalStorage } from './local/local-storage.js';
import type { BackendOptions, Storage } from './storage.js';

/** Backends by URL scheme. A plain path (or `local:PATH`) is the local backend. */
type Factory = (rest: string, url: string, options: BackendOptions) => Storage | Promise<Storage>;

// network backends are loaded on first use: the AWS SDK alone takes longer to import than most commands run
const factories = new Map<string, Factory>([
  ['local', (rest) => new LocalStorage(resolve(rest))],
  ['s3', async (rest, url, options) => (await import('./s3/s3-storage.js')).openS3(rest, url, options)],
  ['sftp', async (rest, url, options) => (await import('./sftp/sftp-storage.js')).openSftp(rest, url, options)],
]);

export function registerBackend(scheme: string, factory: Factory): void {
  factories.set(scheme, factory);
}

/** True for a URL with a scheme (`s3:...`, `sftp:...`), false for a plain path. */
export function urlScheme(url: string): string | undefined {
  const m = /^([a-z][a-z0-9+.-]*):/i.exec(url);
  // a single letter is a Windows drive, not a scheme we know
  return m && m[1]!.length > 1 ? m[1]!.toLowerCase() : undefined;
}

/** Opens the storage named by a repository URL: a path, `local:PATH`, `s3:...`, `sftp:...`. */
export async function openStorage(url: string, options: BackendOptions = {}): Promise<Storage> {
  const scheme = urlScheme(url);
  if (scheme === undefined) return new LocalStorage(resolve(url));
  const factory = factories.get(scheme);
  if (!factory) {
    throw new UsageError(`repository ${stripCredentials(url)}: unknown scheme "${scheme}:" (supported: a path, ${[...factories.keys()].map((s) => `${s}:`).join(', ')})`);
  }
  return factory(url.slice(scheme.length + 1), url, options);
}
