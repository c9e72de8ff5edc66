/**
 * The SFTP backend against a real OpenSSH server (test/services/sshd.ts): the storage contract, host key checks,
 * key discovery, error classes, reconnecting after the server dies, temporaries, aborts.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, readFile, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { userInfo } from 'node:os';
import { promisify } from 'node:util';
import { openSftp, SftpStorage } from '../src/storage/sftp/sftp-storage.js';
import { parseSftpUrl } from '../src/storage/sftp/sftp-url.js';
import { fingerprint, HostKeyError } from '../src/storage/sftp/known-hosts.js';
import { runConformance } from '../src/storage/testing/conformance.js';
import type { BackendOptions, Storage } from '../src/storage/storage.js';
import { UserError } from '../src/util/errors.js';
import { failure, needService } from './services/require.js';
import { startSshd, type Sshd } from './services/sshd.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;

const sshd = await startSshd();
after(() => sshd?.stop());
const missing = 'sshd (openssh-server) is not installed, or /run/sshd is missing and only root can make it';

/** A storage on the test server at `<root>/<sub>`, with its key and known_hosts, and HOME pointed at a temp folder. */
function open(server: Sshd, sub: string, options: BackendOptions = {}): Storage {
  const url = server.url(sub);
  return openSftp(url.slice('sftp:'.length), url, { keyFile: server.keyFile, knownHosts: server.knownHostsFile, env: { HOME: server.home }, ...options });
}

test('sftp storage passes the storage conformance suite', async (t) => {
  if (!needService(t, sshd !== null, missing) || !sshd) return;
  const storage = open(sshd, 'conformance');
  try {
    assert.deepEqual(storage.properties(), { location: `sftp://${sshd.user}@127.0.0.1:${sshd.port}${sshd.root}/conformance`, kind: 'sftp', parallelism: 4 });
    const results = await runConformance(storage);
    assert.ok(results.length >= 8);
    assert.deepEqual(results.filter((r) => r.status === 'fail'), [], sshd.log());
    // nothing left behind: no objects, no temporaries
    assert.deepEqual(await readdir(join(sshd.root, 'conformance'), { recursive: true }).then((l) => l.filter((n) => n.includes('.tmp-'))), []);
  } finally {
    await storage.close();
  }
});

test('create, parent folders made on demand and again after removal, parallel puts, 16 MiB put/get', async (t) => {
  if (!needService(t, sshd !== null, missing) || !sshd) return;
  const storage = open(sshd, 'a/b/repo', { connections: 4 });
  try {
    await storage.create?.();
    await storage.create?.();
    await storage.put('config', Buffer.from('x'));
    await rm(join(sshd.root, 'a/b/repo/data'), { recursive: true, force: true });
    await storage.put('data/00/one', Buffer.from('1'));
    await rm(join(sshd.root, 'a/b/repo/data'), { recursive: true }); // behind the backend's back
    await storage.put('data/00/two', Buffer.from('2'));
    assert.equal(await readFile(join(sshd.root, 'a/b/repo/data/00/two'), 'utf8'), '2');

    const objects = Array.from({ length: 12 }, (_, i) => ({ name: `data/${(i % 3).toString(16).padStart(2, '0')}/p${i}`, data: randomBytes(300_000 + i) }));
    await Promise.all(objects.map((o) => storage.put(o.name, o.data)));
    const got = await Promise.all(objects.map((o) => storage.get(o.name)));
    got.forEach((g, i) => assert.ok(g.equals(objects[i]!.data), objects[i]!.name));
    assert.equal((await storage.get(objects[0]!.name, { offset: 299_999, length: 10 })).length, 1);
    assert.equal((await storage.get(objects[0]!.name, { offset: 400_000, length: 10 })).length, 0);
    assert.equal((await storage.get(objects[0]!.name, { offset: 5, length: 0 })).length, 0);

    const big = randomBytes(16 * MiB);
    const t0 = performance.now();
    await storage.put('data/ff/big', [big.subarray(0, 7), big.subarray(7, 9 * MiB), big.subarray(9 * MiB)]);
    const t1 = performance.now();
    const back = await storage.get('data/ff/big');
    const t2 = performance.now();
    assert.ok(back.equals(big));
    const range = await storage.get('data/ff/big', { offset: 3 * MiB + 1, length: 4 * MiB });
    assert.ok(range.equals(big.subarray(3 * MiB + 1, 7 * MiB + 1)));
    t.diagnostic(`16 MiB put ${(t1 - t0).toFixed(0)} ms (${((16 / (t1 - t0)) * 1000).toFixed(0)} MiB/s), get ${(t2 - t1).toFixed(0)} ms (${((16 / (t2 - t1)) * 1000).toFixed(0)} MiB/s)`);
  } finally {
    await storage.close();
  }
});

test('a relative path is relative to the login folder', async (t) => {
  if (!needService(t, sshd !== null, missing) || !sshd) return;
  const rel = relative(userInfo().homedir, join(sshd.root, 'relative')); // ../tmp/...: leaves the real home alone
  const url = `sftp://${sshd.user}@127.0.0.1:${sshd.port}/~/${rel}`;
  const storage = openSftp(url.slice('sftp:'.length), url, { keyFile: sshd.keyFile, knownHosts: sshd.knownHostsFile, env: { HOME: sshd.home } });
  try {
    assert.equal(storage.properties().location, url);
    await storage.create?.();
    await storage.put('config', Buffer.from('c'));
    assert.equal(await readFile(join(sshd.root, 'relative', 'config'), 'utf8'), 'c');
  } finally {
    await storage.close();
  }
});

test('an unknown host key is refused with its fingerprint and the command to add it', async (t) => {
  if (!needService(t, sshd !== null, missing) || !sshd) return;
  const empty = join(sshd.home, 'empty_known_hosts');
  await writeFile(empty, '');
  const storage = open(sshd, 'unknown', { knownHosts: empty });
  try {
    const err = await failure(storage.stat('x'));
    assert.ok(err instanceof HostKeyError && err instanceof UserError, err.message);
    const fp = fingerprint(Buffer.from(sshd.hostKey.split(' ')[1]!, 'base64'));
    const { stdout } = await run('ssh-keygen', ['-lf', sshd.knownHostsFile]);
    assert.ok(stdout.includes(fp), `our fingerprint ${fp} is not ssh-keygen's: ${stdout}`);
    assert.equal(
      err.message,
      `sftp host 127.0.0.1:${sshd.port} is not in ~/empty_known_hosts: check its key fingerprint ${fp} (ssh-ed25519) and add it with ssh-keyscan -p ${sshd.port} 127.0.0.1 >> ~/empty_known_hosts`,
    );
    assert.ok(storage.isPermanent(err));
    assert.ok(!storage.isNotFound(err));
  } finally {
    await storage.close();
  }
  // the default file, shown with ~, when HOME has none
  const viaHome = open(sshd, 'unknown', { knownHosts: undefined });
  try {
    assert.match((await failure(viaHome.stat('x'))).message, / is not in ~\/\.ssh\/known_hosts: .* >> ~\/\.ssh\/known_hosts$/);
  } finally {
    await viaHome.close();
  }
});

test('a changed host key is refused loudly', async (t) => {
  if (!needService(t, sshd !== null, missing) || !sshd) return;
  const other = join(sshd.home, 'other_key');
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other]);
  const file = join(sshd.home, 'changed_known_hosts');
  await writeFile(file, `# a comment\n[127.0.0.1]:${sshd.port} ${(await readFile(`${other}.pub`, 'utf8')).split(' ').slice(0, 2).join(' ')}\n`);
  const storage = open(sshd, 'changed', { knownHosts: file });
  try {
    const err = await failure(storage.get('x'));
    assert.ok(err instanceof HostKeyError, err.message);
    assert.equal(err.status, 'changed');
    assert.match(err.message, /^WARNING: the host key of sftp host 127\.0\.0\.1:\d+ has CHANGED/);
    assert.match(err.message, /man-in-the-middle/);
    assert.match(err.message, /changed_known_hosts line 2/);
    assert.ok(storage.isPermanent(err));
  } finally {
    await storage.close();
  }
});

test('a hashed known_hosts entry is accepted', async (t) => {
  if (!needService(t, sshd !== null, missing) || !sshd) return;
  const file = join(sshd.home, 'hashed_known_hosts');
  await copyFile(sshd.knownHostsFile, file);
  await run('ssh-keygen', ['-H', '-f', file]);
  assert.match(await readFile(file, 'utf8'), /^\|1\|/);
  const storage = open(sshd, 'hashed', { knownHosts: file });
  try {
    await storage.put('k', Buffer.from('v'));
    assert.equal((await storage.get('k')).toString(), 'v');
  } finally {
    await storage.close();
  }
});

test('keys and known_hosts from ~/.ssh (HOME), encrypted keys with SAFEPOINT_SFTP_KEY_PASSPHRASE', async (t) => {
  if (!needService(t, sshd !== null, missing) || !sshd) return;
  const home = join(sshd.home, 'user');
  await mkdir(join(home, '.ssh'), { recursive: true, mode: 0o700 });
  await copyFile(sshd.knownHostsFile, join(home, '.ssh', 'known_hosts'));
  const key = join(home, '.ssh', 'id_ed25519');
  await copyFile(sshd.keyFile, key);
  const defaults = (env: NodeJS.ProcessEnv): Storage => open(sshd, 'home', { keyFile: undefined, knownHosts: undefined, env: { HOME: home, ...env } });

  let storage = defaults({});
  try {
    await storage.put('k', Buffer.from('v'));
  } finally {
    await storage.close();
  }

  await run('ssh-keygen', ['-q', '-p', '-P', '', '-N', 'sesame', '-f', key]); // now encrypted
  storage = defaults({});
  try {
    const err = await failure(storage.get('k'));
    assert.ok(err instanceof UserError, err.message);
    assert.match(err.message, /no key to log in with: no ssh-agent .*skipped ~\/\.ssh\/id_ed25519: it is encrypted: set SAFEPOINT_SFTP_KEY_PASSPHRASE/);
    assert.ok(storage.isPermanent(err));
  } finally {
    await storage.close();
  }
  storage = defaults({ SAFEPOINT_SFTP_KEY_PASSPHRASE: 'sesame' });
  try {
    assert.equal((await storage.get('k')).toString(), 'v');
  } finally {
    await storage.close();
  }
});

test('ssh-agent (SSH_AUTH_SOCK) when no key file is given', async (t) => {
  if (!needService(t, sshd !== null, missing) || !sshd) return;
  const sock = join(sshd.home, 'agent.sock');
  const agent = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
  const spawned = await new Promise<boolean>((resolve) => {
    agent.once('spawn', () => resolve(true));
    agent.once('error', () => resolve(false));
  });
  if (!needService(t, spawned, 'ssh-agent is not installed')) return;
  const home = join(sshd.home, 'agent-home'); // no ~/.ssh keys: only the agent can log in
  await mkdir(join(home, '.ssh'), { recursive: true });
  await copyFile(sshd.knownHostsFile, join(home, '.ssh', 'known_hosts'));
  const storage = open(sshd, 'agent', { keyFile: undefined, knownHosts: undefined, env: { HOME: home, SSH_AUTH_SOCK: sock } });
  try {
    for (let i = 0; i < 100 && !(await stat(sock).then(() => true, () => false)); i++) await new Promise((r) => setTimeout(r, 20));
    await run('ssh-add', [sshd.keyFile], { env: { ...process.env, SSH_AUTH_SOCK: sock } });
    await storage.put('k', Buffer.from('v'));
    assert.equal((await storage.get('k')).toString(), 'v');
  } finally {
    await storage.close();
    agent.kill();
  }
});

test('a key the server does not accept: a permanent error saying what to do', async (t) => {
  if (!needService(t, sshd !== null, missing) || !sshd) return;
  const wrong = join(sshd.home, 'wrong_key');
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', wrong]);
  const storage = open(sshd, 'wrong', { keyFile: wrong });
  try {
    const err = await failure(storage.stat('x'));
    assert.ok(err instanceof UserError, err.message);
    assert.match(err.message, new RegExp(`^sftp://${sshd.user}@127\\.0\\.0\\.1:${sshd.port}/.*: the server refused the login of ${sshd.user} with .*wrong_key: add the public key to ~${sshd.user}/\\.ssh/authorized_keys on 127\\.0\\.0\\.1, or name the right key with key_file$`));
    assert.ok(storage.isPermanent(err));
  } finally {
    await storage.close();
  }
  const absent = open(sshd, 'wrong', { keyFile: join(sshd.home, 'no_such_key') });
  try {
    assert.match((await failure(absent.stat('x'))).message, /cannot read key_file .*no_such_key/);
  } finally {
    await absent.close();
  }
});

test('removeTemporaries removes old .tmp files only; list never shows them', async (t) => {
  if (!needService(t, sshd !== null, missing) || !sshd) return;
  const storage = open(sshd, 'temporaries');
  try {
    await storage.put('data/aa/obj', Buffer.from('o'));
    const dir = join(sshd.root, 'temporaries', 'data', 'aa');
    await writeFile(join(dir, '.tmp-old'), 'x');
    await writeFile(join(dir, '.tmp-new'), 'x');
    await writeFile(join(sshd.root, 'temporaries', '.tmp-top'), 'x');
    const hourAgo = new Date(Date.now() - 3600_000);
    await utimes(join(dir, '.tmp-old'), hourAgo, new Date(Date.now() - 7200_000));
    await utimes(join(sshd.root, 'temporaries', '.tmp-top'), hourAgo, new Date(Date.now() - 7200_000));
    const names: string[] = [];
    for await (const o of storage.list('')) names.push(o.name);
    assert.deepEqual(names, ['data/aa/obj']);
    assert.equal(await storage.removeTemporaries?.(hourAgo), 2);
    assert.deepEqual((await readdir(dir)).sort(), ['.tmp-new', 'obj']);
  } finally {
    await storage.close();
  }
});

test('an aborted signal rejects promptly and leaves the storage usable', async (t) => {
  if (!needService(t, sshd !== null, missing) || !sshd) return;
  const storage = open(sshd, 'abort', { connections: 1 });
  try {
    const before = AbortSignal.abort();
    assert.equal((await failure(storage.stat('x', { signal: before }))).name, 'AbortError');
    await storage.put('big', randomBytes(16 * MiB));
    const ac = new AbortController();
    const pending = storage.get('big', { signal: ac.signal });
    setTimeout(() => ac.abort(), 5);
    const t0 = performance.now();
    const err = await failure(pending);
    assert.equal(err.name, 'AbortError');
    assert.ok(performance.now() - t0 < 1000);
    const ac2 = new AbortController();
    const put = storage.put('big2', randomBytes(16 * MiB), { signal: ac2.signal });
    setTimeout(() => ac2.abort(), 5);
    assert.equal((await failure(put)).name, 'AbortError');
    // the single slot comes back: later calls still run
    assert.equal((await storage.stat('big')).size, 16 * MiB);
    await new Promise((r) => setTimeout(r, 200)); // the aborted put cleans up in the background
    assert.deepEqual((await readdir(join(sshd.root, 'abort'))).filter((n) => n.startsWith('.tmp-')), []);
  } finally {
    await storage.close();
  }
});

test('a hung connection: a timeout drops it and the next call reconnects', async (t) => {
  if (!needService(t, sshd !== null, missing) || !sshd) return;
  const storage = open(sshd, 'hung');
  let resume = (): void => undefined;
  try {
    await storage.put('k', Buffer.from('v'));
    resume = await sshd.freezeSessions();
    const err = await failure(storage.get('k', { signal: AbortSignal.timeout(300) }));
    assert.equal(err.name, 'TimeoutError');
    assert.equal((await storage.get('k', { signal: AbortSignal.timeout(5000) })).toString(), 'v');
  } finally {
    resume();
    await storage.close();
  }
});

test('bad URLs and bad names are refused before connecting', () => {
  assert.throws(() => openSftp('nohost', 'sftp:nohost', {}), /expected sftp:\[user@\]host:path/);
  const storage = new SftpStorage(parseSftpUrl('//u@127.0.0.1:1/x'), {});
  return assert.rejects(storage.get('../etc/passwd'), /invalid object name/);
});

test('a full disk on the server is a permanent error, and the temporary is removed', async (t) => {
  if (!needService(t, sshd !== null, missing) || !sshd) return;
  const dir = join(sshd.root, 'full');
  await mkdir(dir);
  const mounted = await run('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir]).then(
    () => true,
    () => false,
  );
  if (!needService(t, mounted, 'cannot mount a tmpfs (needs root and mount(8))')) return;
  const storage = open(sshd, 'full');
  try {
    const err = await failure(storage.put('data/00/pack', randomBytes(2 * MiB)));
    assert.match(err.message, /put data\/00\/pack: no space left on the server's disk/);
    assert.ok(storage.isPermanent(err));
    assert.deepEqual(await readdir(join(dir, 'data', '00')), []);
    await storage.put('small', randomBytes(1000)); // space is back
  } finally {
    await storage.close();
    await run('umount', ['-l', dir]);
  }
});

test('the server dies: calls fail with transient errors, and the next call after a restart reconnects', async (t) => {
  if (!needService(t, sshd !== null, missing) || !sshd) return;
  const storage = open(sshd, 'restart');
  try {
    await storage.put('k', Buffer.from('v'));
    const big = randomBytes(32 * MiB);
    const inflight = storage.put('big', big).then(
      () => undefined,
      (err: unknown) => err,
    );
    await new Promise((r) => setTimeout(r, 30));
    await sshd.kill();
    const midway = await inflight; // finished before the kill, or failed: never hangs
    if (midway !== undefined) assert.ok(!storage.isPermanent(midway), `in-flight put: ${String(midway)}`);
    t.diagnostic(`in-flight put: ${midway === undefined ? 'finished before the kill' : String(midway)}`);
    const err = await failure(storage.get('k'));
    t.diagnostic(`next call: ${err.message}`);
    assert.match(err.message, /cannot connect|connection was lost/);
    assert.ok(!storage.isPermanent(err), `permanent: ${err.message}`);
    assert.ok(!storage.isNotFound(err));
    await sshd.restart();
    assert.equal((await storage.get('k')).toString(), 'v');
  } finally {
    await storage.close();
  }
});
