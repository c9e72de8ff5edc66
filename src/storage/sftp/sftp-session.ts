import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import ssh2, { type AuthMethod, type Client, type ConnectConfig, type SFTPWrapper } from 'ssh2';
import { errorMessage, UserError } from '../../util/errors.js';
import type { BackendOptions } from '../storage.js';
import { checkHostKey, hostKeyError, knownKeyTypes, readKnownHosts, type HostKeyError } from './known-hosts.js';
import type { SftpTarget } from './sftp-url.js';

/**
 * READ/WRITE requests in flight per connection (with 128 KiB requests, 1 MiB). More than the SSH channel window
 * (OpenSSH: 2 MiB) in flight made the first 16 MiB written on each connection 5-10 times slower.
 */
const REQUESTS = 8;
/** Host key algorithms in OpenSSH's order of preference (no SHA-1 `ssh-rsa` signatures). */
const HOST_KEY_ALGORITHMS = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256'];
const DEFAULT_KEYS = ['id_ed25519', 'id_ecdsa', 'id_rsa'];

/** The connection could not be made or was lost: transient, the next call reconnects. */
export class SftpConnectionError extends Error {}

/** One SSH connection with its SFTP channel. Requests made after (or pending when) it drops fail instead of hanging. */
export class Session {
  readonly client: Client;
  readonly sftp: SFTPWrapper;
  readonly fsync: boolean;
  readonly posixRename: boolean;
  /** READ/WRITE requests in flight on this connection, shared by all operations. */
  readonly requests = new Slots(REQUESTS);
  readonly #onLost: () => void;
  #lost: Error | undefined;
  readonly #pending = new Set<(err: Error) => void>();

  constructor(client: Client, sftp: SFTPWrapper, onLost: () => void) {
    this.client = client;
    this.sftp = sftp;
    this.#onLost = onLost;
    const extensions = (sftp as unknown as { _extensions?: Record<string, string> })._extensions ?? {};
    this.fsync = extensions['fsync@openssh.com'] === '1';
    this.posixRename = extensions['posix-rename@openssh.com'] === '1';
  }

  /** One SFTP request as a promise (ssh2 callback style). */
  call<T = unknown>(fn: (cb: (err?: Error | null, value?: T) => void) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.#lost) return reject(this.#lost);
      const onLost = (err: Error): void => reject(err);
      this.#pending.add(onLost);
      try {
        fn((err, value) => {
          this.#pending.delete(onLost);
          if (err) reject(err);
          else resolve(value as T);
        });
      } catch (err) {
        this.#pending.delete(onLost);
        reject(err);
      }
    });
  }

  /** Ends the session at once (dropped or hung connection): pending and later requests fail with `err`. */
  drop(err: Error): void {
    if (this.#lost) return;
    this.#lost = err;
    for (const reject of this.#pending) reject(err);
    this.#pending.clear();
    this.#onLost();
    this.client.destroy();
  }

  async end(): Promise<void> {
    if (this.#lost) return;
    const closed = new Promise<void>((resolve) => this.client.once('close', () => resolve()));
    this.client.end();
    await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 2000).unref())]);
  }
}

/**
 * Connects to `target` the way ssh does: host keys from `options.knownHosts` (default `<home>/.ssh/known_hosts`;
 * unknown or changed keys are refused with a HostKeyError), keys from `options.keyFile`, else ssh-agent and
 * `<home>/.ssh/id_ed25519, id_ecdsa, id_rsa`; then opens the SFTP channel. Refused logins are UserErrors, other
 * failures SftpConnectionErrors. `onLost` runs once when the live session drops.
 */
export async function openSession(target: SftpTarget, options: BackendOptions, home: string, onLost: () => void): Promise<Session> {
  const { user, host, port, location } = target;
  const tilde = (p: string): string => (p.startsWith(`${home}/`) ? `~${p.slice(home.length)}` : p);
  const knownHostsFile = options.knownHosts ?? join(home, '.ssh', 'known_hosts');
  const [knownHosts, auth] = await Promise.all([readKnownHosts(knownHostsFile), authMethods(target, options, home, tilde)]);
  const preferred = knownKeyTypes(knownHosts, host, port).flatMap((t) => (t === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256'] : [t]));
  const algorithms = [...HOST_KEY_ALGORITHMS.filter((a) => preferred.includes(a)), ...HOST_KEY_ALGORITHMS.filter((a) => !preferred.includes(a))];
  let refusal: HostKeyError | undefined;
  const config: ConnectConfig = {
    host,
    port,
    username: user,
    authHandler: auth.methods,
    algorithms: { serverHostKey: algorithms as NonNullable<ConnectConfig['algorithms']>['serverHostKey'] },
    hostVerifier: (key: Buffer): boolean => {
      const verdict = checkHostKey(knownHosts, host, port, key);
      if (verdict.status !== 'match') refusal = hostKeyError(verdict, { host, port, key, file: tilde(knownHostsFile) });
      return verdict.status === 'match';
    },
    readyTimeout: 20_000,
    keepaliveInterval: 15_000,
    keepaliveCountMax: 3,
  };
  return new Promise<Session>((resolve, reject) => {
    const client = new ssh2.Client();
    let session: Session | undefined;
    let lastError: Error | undefined;
    const fail = (err: Error): void => {
      if (session) return;
      reject(err);
      client.end();
    };
    client.on('error', (err: Error & { level?: string }) => {
      if (session) return; // the close event follows
      if (err.level === 'agent') return void auth.notes.push(`ssh-agent: ${err.message}`);
      lastError = err;
      if (refusal) return fail(refusal);
      if (err.level === 'client-authentication') {
        if (!/All configured authentication methods failed/.test(err.message)) return void auth.notes.push(err.message);
        const notes = auth.notes.length > 0 ? ` (${auth.notes.join('; ')})` : '';
        return fail(
          new UserError(
            `${location}: the server refused the login of ${user} with ${auth.tried.join(', ')}${notes}: add the public key to ~${user}/.ssh/authorized_keys ` +
              `on ${host}, or name the right key with key_file`,
            { cause: err },
          ),
        );
      }
      fail(Object.assign(new SftpConnectionError(`${location}: cannot connect: ${err.message}`, { cause: err }), { code: (err as NodeJS.ErrnoException).code }));
    });
    client.on('close', () => {
      if (!session) return fail(refusal ?? new SftpConnectionError(`${location}: the connection closed during the handshake${lastError ? `: ${lastError.message}` : ''}`));
      session.drop(new SftpConnectionError(`${location}: the connection was lost`));
    });
    client.on('ready', () => {
      client.sftp((err, sftp) => {
        if (err) return fail(new SftpConnectionError(`${location}: the server refused the sftp subsystem: ${err.message}`, { cause: err }));
        session = new Session(client, sftp, onLost);
        sftp.on('close', () => client.end());
        sftp.on('error', () => client.end()); // a protocol error on the channel: the close event follows
        resolve(session);
      });
    });
    client.connect(config);
  });
}

/** ssh's order: key_file alone if given; else ssh-agent, then the default keys that exist and can be decrypted. */
async function authMethods(
  target: SftpTarget,
  options: BackendOptions,
  home: string,
  tilde: (p: string) => string,
): Promise<{ methods: AuthMethod[]; tried: string[]; notes: string[] }> {
  const env = options.env ?? process.env;
  const username = target.user;
  const passphrase = env.SAFEPOINT_SFTP_KEY_PASSPHRASE;
  const methods: AuthMethod[] = [];
  const tried: string[] = [];
  const notes: string[] = [];
  const addKey = async (file: string, required: boolean): Promise<void> => {
    let data: Buffer;
    try {
      data = await readFile(file);
    } catch (err) {
      if (required) throw new UserError(`${target.location}: cannot read key_file ${file}: ${errorMessage(err)}`, { cause: err });
      return; // an absent default key
    }
    const key = ssh2.utils.parseKey(data, passphrase);
    if (key instanceof Error) {
      const why = /passphrase/i.test(key.message)
        ? passphrase === undefined
          ? 'it is encrypted: set SAFEPOINT_SFTP_KEY_PASSPHRASE or load it into ssh-agent'
          : 'SAFEPOINT_SFTP_KEY_PASSPHRASE does not decrypt it'
        : key.message;
      if (required) throw new UserError(`${target.location}: cannot use key_file ${file}: ${why}`);
      notes.push(`skipped ${tilde(file)}: ${why}`);
      return;
    }
    methods.push({ type: 'publickey', username, key } as AuthMethod);
    tried.push(tilde(file));
  };
  if (options.keyFile !== undefined) {
    await addKey(options.keyFile, true);
  } else {
    if (env.SSH_AUTH_SOCK) {
      methods.push({ type: 'agent', username, agent: env.SSH_AUTH_SOCK } as AuthMethod);
      tried.push('ssh-agent');
    }
    for (const k of DEFAULT_KEYS) await addKey(join(home, '.ssh', k), false);
  }
  if (methods.length === 0) {
    const skipped = notes.length > 0 ? ` (${notes.join('; ')})` : '';
    throw new UserError(
      `${target.location}: no key to log in with: no ssh-agent (SSH_AUTH_SOCK is unset) and no usable ~/.ssh/${DEFAULT_KEYS.join(', ~/.ssh/')}${skipped}; name one with key_file`,
    );
  }
  return { methods, tried, notes };
}

/** A counting semaphore: at most `n` operations at once, served in order. */
export class Slots {
  #free: number;
  readonly #waiting: (() => void)[] = [];
  constructor(n: number) {
    this.#free = n;
  }
  async acquire(): Promise<() => void> {
    if (this.#free > 0) this.#free--;
    else await new Promise<void>((resolve) => this.#waiting.push(resolve));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#waiting.shift();
      if (next) next();
      else this.#free++;
    };
  }
}
