import { createHash, randomBytes, scrypt as scryptCb } from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import { promisify } from 'node:util';
import { IntegrityError, UserError, WrongPasswordError } from '../util/errors.js';
import type { Secret } from '../util/secret.js';
import { masterKeyBytes, masterKeyFromBytes, open, seal, type MasterKey } from './crypto.js';
import { objectId } from './ids.js';

const scrypt = promisify(scryptCb) as (pw: string, salt: Buffer, len: number, opts: object) => Promise<Buffer>;

/** A key file (format §3): the master key wrapped under a password-derived key. */
export interface KeyFile {
  version: 1;
  created: string;
  host: string;
  username: string;
  kdf: 'scrypt';
  N: number;
  r: number;
  p: number;
  salt: string;
  data: string;
  /** An append-only credential: a client that opens the repository with it may add, never delete (format §3). */
  appendOnly?: true;
}

export interface KdfParams {
  readonly N: number;
  readonly r: number;
  readonly p: number;
}

/**
 * New keys: scrypt N=2^14, r=8, p=5, one of OWASP's equivalent scrypt settings (Password Storage Cheat Sheet) and as
 * costly to attack as N=2^15, p=3. The derivation holds 128·N·r = 16 MiB, the peak of a command that does little
 * else (an unchanged re-backup); N=2^15, p=1 (before 2026-11-29) held 32 MiB for a third of the attacker's cost.
 * Existing keys keep the parameters they were written with.
 */
export const DEFAULT_KDF: KdfParams = { N: 16384, r: 8, p: 5 };

async function derive(password: Secret, salt: Buffer, k: KdfParams): Promise<Buffer> {
  return scrypt(password.reveal(), salt, 32, { N: k.N, r: k.r, p: k.p, maxmem: 256 * k.N * k.r + 1024 * 1024 });
}

/** Wraps the master key under a password; returns the key file and its object id. */
export async function makeKeyFile(master: MasterKey, password: Secret, kdf: KdfParams = DEFAULT_KDF, now = new Date(), options: { appendOnly?: boolean } = {}): Promise<{ id: string; bytes: Buffer; file: KeyFile }> {
  if (password.reveal().length === 0) throw new UserError('empty password: a repository password must not be empty');
  const salt = randomBytes(32);
  const wrapKey = await derive(password, salt, kdf);
  const file: KeyFile = {
    version: 1,
    created: now.toISOString(),
    host: hostname(),
    username: safeUser(),
    kdf: 'scrypt',
    ...kdf,
    salt: salt.toString('base64'),
    data: seal(wrapKey, masterKeyBytes(master)).toString('base64'),
    ...(options.appendOnly ? { appendOnly: true as const } : {}),
  };
  const bytes = Buffer.from(JSON.stringify(file, null, 2) + '\n');
  return { id: objectId(bytes), bytes, file };
}

export function parseKeyFile(bytes: Buffer, id: string): KeyFile {
  try {
    const f = JSON.parse(bytes.toString('utf8')) as KeyFile;
    if (f.kdf !== 'scrypt' || typeof f.salt !== 'string' || typeof f.data !== 'string') throw new Error('missing fields');
    return f;
  } catch (err) {
    throw new IntegrityError(`key ${id.slice(0, 8)}: not a safepoint key file`, { cause: err });
  }
}

/** Unwraps the master key; null when the password does not open this key file. */
/**
 * Wrapping keys already derived in this process (scrypt costs ~0.3 s by design): a run that opens one repository
 * several times — its command, then its journal entry; a daemon's jobs — derives once. Keyed by a hash of the
 * password with the key file's salt and parameters; never written anywhere.
 */
const derived = new Map<string, Promise<Buffer>>();

function deriveOnce(password: Secret, file: KeyFile): Promise<Buffer> {
  const id = createHash('sha256').update(JSON.stringify([file.salt, file.N, file.r, file.p])).update(password.reveal()).digest('hex');
  let key = derived.get(id);
  if (!key) {
    key = derive(password, Buffer.from(file.salt, 'base64'), file);
    key.catch(() => derived.delete(id));
    if (derived.size >= 32) derived.delete(derived.keys().next().value!);
    derived.set(id, key);
  }
  return key;
}

export async function tryUnwrap(file: KeyFile, password: Secret): Promise<MasterKey | null> {
  const wrapKey = await deriveOnce(password, file);
  try {
    return masterKeyFromBytes(open(wrapKey, Buffer.from(file.data, 'base64'), 'key'));
  } catch (err) {
    if (err instanceof IntegrityError) return null;
    throw err;
  }
}

/** Tries each key file in turn; WrongPasswordError when none opens. */
export async function unlockWithPassword(files: readonly { id: string; file: KeyFile }[], password: Secret): Promise<{ keyId: string; master: MasterKey }> {
  for (const { id, file } of files) {
    const master = await tryUnwrap(file, password);
    if (master) return { keyId: id, master };
  }
  throw new WrongPasswordError();
}

function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return String(process.getuid?.() ?? 'unknown');
  }
}
