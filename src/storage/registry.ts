import { resolve } from 'node:path';
import { UsageError } from '../util/errors.js';
import { stripCredentials } from '../util/secret.js';
import { LocalStorage } from './local/local-storage.js';
import type { BackendOptions, Storage } from './storage.js';

/** Backends by URL scheme. A plain path (or `local:PATH`) is the local backend. */
type Factory = (rest: string, url: string, options: BackendOptions) => Storage;

const factories = new Map<string, Factory>([['local', (rest) => new LocalStorage(resolve(rest))]]);

export function registerBackend(scheme: string, factory: Factory): void {
  factories.set(scheme, factory);
}

/** Opens the storage named by a repository URL: a path, `local:PATH`, and later `s3:...`, `sftp:...`. */
export function openStorage(url: string, options: BackendOptions = {}): Storage {
  const m = /^([a-z][a-z0-9+.-]*):(.*)$/i.exec(url);
  // Windows drive letters are not a concern here; a single letter scheme is not a scheme we know anyway.
  if (!m || m[1]!.length === 1) return new LocalStorage(resolve(url));
  const scheme = m[1]!.toLowerCase();
  const factory = factories.get(scheme);
  if (!factory) {
    throw new UsageError(`repository ${stripCredentials(url)}: unknown scheme "${scheme}:" (supported: a path, ${[...factories.keys()].map((s) => `${s}:`).join(', ')})`);
  }
  return factory(m[2]!, url, options);
}
