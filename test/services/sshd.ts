/**
 * A throwaway OpenSSH server for the SFTP tests: Debian's /usr/sbin/sshd on a free loopback port, with its own
 * host key, one authorized user key (for the user running the tests), internal-sftp, everything in a temp folder.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { access, constants, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../../src/util/net.js';

const run = promisify(execFile);
const SSHD = '/usr/sbin/sshd';
const PRIVSEP_DIR = '/run/sshd';

export interface Sshd {
  readonly port: number;
  /** The user the server lets in (the one running the tests). */
  readonly user: string;
  /** Private key authorized on the server (unencrypted ed25519). */
  readonly keyFile: string;
  /** known_hosts with the line `[127.0.0.1]:PORT ssh-ed25519 ...` for this server. */
  readonly knownHostsFile: string;
  /** The server's public host key, `ssh-ed25519 AAAA...`. */
  readonly hostKey: string;
  /** An empty folder to use as HOME (for tests of ~/.ssh defaults), never the real one. */
  readonly home: string;
  /** An empty folder on the server for repositories (absolute path, same machine). */
  readonly root: string;
  /** `sftp://user@127.0.0.1:PORT/<root>/<sub>`. */
  url(sub: string): string;
  /** What sshd printed (for failure messages). */
  log(): string;
  /** Kills the server and every session it forked (clients see their connection drop); files stay. */
  kill(): Promise<void>;
  /** Stops (SIGSTOP) the sessions open now, so their clients hang while new connections work; returns `resume`. */
  freezeSessions(): Promise<() => void>;
  /** Starts the server again on the same port with the same keys. */
  restart(): Promise<void>;
  /** Kills the server and removes its folder. */
  stop(): Promise<void>;
}

/**
 * Starts a server, or returns null when sshd or ssh-keygen is not installed, or when sshd's privilege separation
 * folder is missing and only root could make it (tests then use `needService`).
 */
export async function startSshd(): Promise<Sshd | null> {
  if (!(await executable(SSHD)) || !(await which('ssh-keygen'))) return null;
  if (!(await privsepDir())) return null;
  const dir = await mkdtemp(join(tmpdir(), 'sp-sshd-'));
  const home = join(dir, 'home');
  const root = join(dir, 'repos');
  await mkdir(home);
  await mkdir(root);
  const hostKeyFile = join(dir, 'host_ed25519');
  const keyFile = join(dir, 'id_ed25519');
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'safepoint-test-host', '-f', hostKeyFile]);
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'safepoint-test-user', '-f', keyFile]);
  await writeFile(join(dir, 'authorized_keys'), await readFile(`${keyFile}.pub`));
  const hostKey = (await readFile(`${hostKeyFile}.pub`, 'utf8')).split(' ').slice(0, 2).join(' ');
  const user = userInfo().username;
  const config = join(dir, 'sshd_config');
  const knownHostsFile = join(dir, 'known_hosts');

  let port = 0;
  let child: ChildProcess | undefined;
  let output = '';
  const launch = async (): Promise<void> => {
    const lines = [
      `ListenAddress 127.0.0.1`,
      `Port ${port}`,
      `HostKey ${hostKeyFile}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'UsePAM no',
      'StrictModes no',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin prohibit-password',
      'AllowTcpForwarding no',
      'X11Forwarding no',
      'MaxStartups 100',
      'Subsystem sftp internal-sftp',
    ];
    // OpenSSH >= 9.8 penalises addresses with failed logins (the wrong-key test); older versions lack the option
    const penalties = 'PerSourcePenalties no';
    await writeFile(config, [...lines, penalties, ''].join('\n'));
    if (!(await run(SSHD, ['-t', '-f', config]).then(() => true, () => false))) await writeFile(config, [...lines, ''].join('\n'));
    const proc = spawn(SSHD, ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    proc.stderr.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
    child = proc;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    const deadline = Date.now() + 10_000;
    while (!(await accepts(port))) {
      if (proc.exitCode !== null || proc.signalCode !== null || Date.now() > deadline) {
        proc.kill('SIGKILL');
        await exited;
        throw new Error(`sshd did not start on port ${port}: ${output.trim().split('\n').slice(-5).join(' | ')}`);
      }
      await Promise.race([exited, new Promise((r) => setTimeout(r, 50))]);
    }
  };
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    try {
      await launch();
      break;
    } catch (err) {
      if (attempt === 3) {
        await rm(dir, { recursive: true, force: true });
        throw err;
      }
    }
  }
  await writeFile(knownHostsFile, `[127.0.0.1]:${port} ${hostKey}\n`);

  const kill = async (): Promise<void> => {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null || proc.pid === undefined) return;
    // sessions first, from the leaves up, so that each is reaped by its still living parent
    for (const level of (await descendants(proc.pid)).reverse()) {
      for (const pid of level) signal(pid, 'SIGKILL');
      for (let i = 0; i < 100 && (await Promise.all(level.map(alive))).some(Boolean); i++) await new Promise((r) => setTimeout(r, 10));
    }
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill('SIGKILL');
    await exited;
  };
  return {
    port,
    user,
    keyFile,
    knownHostsFile,
    hostKey,
    home,
    root,
    url: (sub) => `sftp://${user}@127.0.0.1:${port}${root}/${sub}`,
    log: () => output,
    kill,
    freezeSessions: async () => {
      const pids = child?.pid === undefined ? [] : (await descendants(child.pid)).flat();
      for (const pid of pids) signal(pid, 'SIGSTOP');
      return () => pids.forEach((pid) => signal(pid, 'SIGCONT'));
    },
    restart: async () => {
      await kill();
      await launch();
    },
    stop: async () => {
      await kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
}


function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ host: '127.0.0.1', port });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

/** The processes below `pid` by generation (sshd's per-connection monitors, then their session children), from /proc. */
async function descendants(pid: number): Promise<number[][]> {
  const parents = new Map<number, number>();
  for (const name of await readdir('/proc').catch(() => [])) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so read after the last ')'
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid) parents.set(Number(name), ppid);
  }
  const levels: number[][] = [];
  for (let level = [pid]; level.length > 0; ) {
    level = [...parents].filter(([, parent]) => level.includes(parent)).map(([p]) => p);
    if (level.length > 0) levels.push(level);
  }
  return levels;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/** True while the process exists and is not a zombie. */
async function alive(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return stat !== '' && stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
}

/**
 * sshd refuses to start without its privilege separation folder (normally made by the service unit): makes it when
 * missing (succeeds when it exists). False when it cannot be made and we are not root (a local run as a user); as
 * root that is an error.
 */
async function privsepDir(): Promise<boolean> {
  try {
    await mkdir(PRIVSEP_DIR, { recursive: true, mode: 0o755 });
    return true;
  } catch (err) {
    if (process.getuid?.() === 0) throw err;
    return false;
  }
}

async function executable(path: string): Promise<boolean> {
  return access(path, constants.X_OK).then(
    () => true,
    () => false,
  );
}

async function which(cmd: string): Promise<boolean> {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(':')) if (dir && (await executable(join(dir, cmd)))) return true;
  return false;
}
