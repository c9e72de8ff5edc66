import { createHash, createHmac } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isErrno, UserError } from '../../util/errors.js';

/**
 * Host key checking against an OpenSSH known_hosts file, the way `ssh` does it with StrictHostKeyChecking=yes:
 * plain and `[host]:port` names, comma-separated lists with `*`/`?` wildcards and `!` negation, hashed names
 * (`|1|salt|hash`, HMAC-SHA1), `@revoked` keys refused, `@cert-authority` lines ignored (no certificates here).
 */

/**
 * `match`: a line lists this key for the host. `unknown`: no line lists a key of this type for the host.
 * `changed`: lines list only other keys of this type for the host (reinstalled server or man-in-the-middle).
 * `revoked`: a `@revoked` line for the host lists this key.
 */
export type HostKeyStatus = 'match' | 'unknown' | 'changed' | 'revoked';

export interface HostKeyVerdict {
  readonly status: HostKeyStatus;
  /** 1-based line of the revoked entry, or of the first entry with another key (changed). */
  readonly line?: number;
}

interface Entry {
  readonly line: number;
  readonly marker: string | undefined;
  readonly hosts: string;
  readonly key: Buffer;
  readonly type: string;
}

/** The name known_hosts stores for a host: `host` on port 22, `[host]:port` otherwise. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host.toLowerCase() : `[${host.toLowerCase()}]:${port}`;
}

/** Checks `key` (the SSH wire-format public key blob the server sent) for host:port against a file's text. */
export function checkHostKey(knownHosts: string, host: string, port: number, key: Buffer): HostKeyVerdict {
  const type = keyType(key);
  let changedLine: number | undefined;
  let matched = false;
  for (const e of entriesFor(knownHosts, knownHostsName(host, port))) {
    if (e.marker === '@revoked' && e.key.equals(key)) return { status: 'revoked', line: e.line };
    if (e.marker !== undefined) continue;
    if (e.key.equals(key)) matched = true;
    else if (e.type === type) changedLine ??= e.line;
  }
  if (matched) return { status: 'match' };
  return changedLine === undefined ? { status: 'unknown' } : { status: 'changed', line: changedLine };
}

/** Key types (`ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`...) known for host:port, to prefer them in the handshake. */
export function knownKeyTypes(knownHosts: string, host: string, port: number): string[] {
  const types = new Set<string>();
  for (const e of entriesFor(knownHosts, knownHostsName(host, port))) if (e.marker === undefined) types.add(e.type);
  return [...types];
}

/** The file's text, or `''` when it does not exist. */
export async function readKnownHosts(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT', 'ENOTDIR')) return '';
    throw new UserError(`cannot read the known_hosts file ${file}: ${(err as Error).message}`, { cause: err });
  }
}

/** OpenSSH's fingerprint of a public key blob: `SHA256:` and unpadded base64. */
export function fingerprint(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

/** The type name at the start of a public key blob (`ssh-ed25519`...); `''` when the blob is malformed. */
export function keyType(key: Buffer): string {
  if (key.length < 4) return '';
  const n = key.readUInt32BE(0);
  return n <= key.length - 4 ? key.toString('latin1', 4, 4 + n) : '';
}

/** A host key that was refused: unknown, changed or revoked. Permanent: retrying cannot help. */
export class HostKeyError extends UserError {
  readonly status: Exclude<HostKeyStatus, 'match'>;
  constructor(status: Exclude<HostKeyStatus, 'match'>, message: string) {
    super(message);
    this.status = status;
  }
}

/**
 * The error for a refused key, with what to do. `file` is the known_hosts path as the user should see it
 * (e.g. `~/.ssh/known_hosts`).
 */
export function hostKeyError(verdict: HostKeyVerdict, where: { host: string; port: number; key: Buffer; file: string }): HostKeyError {
  const { host, port, key, file } = where;
  const hostPort = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  const what = `${keyType(key) || 'unknown type'} key ${fingerprint(key)}`;
  const q = (s: string): string => (/^[\w@%+=:,./~-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
  switch (verdict.status) {
    case 'unknown':
      return new HostKeyError(
        'unknown',
        `sftp host ${hostPort} is not in ${file}: check its key fingerprint ${fingerprint(key)} (${keyType(key)}) and add it with ` +
          `ssh-keyscan ${port === 22 ? '' : `-p ${port} `}${q(host)} >> ${q(file)}`,
      );
    case 'changed':
      return new HostKeyError(
        'changed',
        `WARNING: the host key of sftp host ${hostPort} has CHANGED: it now presents ${what}, but ${file} line ${verdict.line ?? '?'} holds ` +
          `another key for it. Someone may be intercepting the connection (man-in-the-middle attack), or the server was reinstalled. ` +
          `Refusing to connect. If the change is expected, remove the old entry with ssh-keygen -R ${q(knownHostsName(host, port))} -f ${q(file)} ` +
          `and add the new key after checking its fingerprint`,
      );
    case 'revoked':
      return new HostKeyError('revoked', `the host key of sftp host ${hostPort} (${what}) is marked @revoked in ${file} line ${verdict.line ?? '?'}: refusing to connect`);
    default:
      throw new Error(`not a refusal: ${verdict.status}`);
  }
}

/** Valid lines whose host field matches `name`. */
function* entriesFor(text: string, name: string): Iterable<Entry> {
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const fields = (lines[i] ?? '').trim().split(/\s+/);
    if (!fields[0] || fields[0].startsWith('#')) continue;
    const marker = fields[0].startsWith('@') ? fields.shift() : undefined;
    const [hosts, type, base64] = fields;
    if (!hosts || !type || !base64) continue;
    const key = Buffer.from(base64, 'base64');
    if (keyType(key) !== type || !hostsMatch(hosts, name)) continue; // malformed or not this host
    yield { line: i + 1, marker, hosts, key, type };
  }
}

/** OpenSSH's rule: hashed entry → HMAC match; list → no negated pattern matches and some positive one does. */
function hostsMatch(hosts: string, name: string): boolean {
  if (hosts.startsWith('|1|')) {
    const [, , salt, hash] = hosts.split('|');
    if (!salt || !hash) return false;
    return createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest().equals(Buffer.from(hash, 'base64'));
  }
  let positive = false;
  for (const pattern of hosts.toLowerCase().split(',')) {
    const negated = pattern.startsWith('!');
    if (!wildcard(negated ? pattern.slice(1) : pattern).test(name)) continue;
    if (negated) return false;
    positive = true;
  }
  return positive;
}

function wildcard(pattern: string): RegExp {
  const body = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}
