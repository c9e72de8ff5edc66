/** Repositories on SFTP (a real OpenSSH server on loopback), alone and mirrored with a local disk. */
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hashTree, pseudoRandom, runCli, tempDir, writeTree } from './helpers.js';
import { needService } from './services/require.js';
import { startSshd, type Sshd } from './services/sshd.js';

describe('repositories on SFTP (real OpenSSH server)', () => {
  let sshd: Sshd | null = null;
  before(async () => {
    sshd = await startSshd();
  });
  after(async () => {
    await sshd?.stop();
  });
  const server = (t: TestContext): Sshd | null => (needService(t, sshd !== null, 'OpenSSH server not installed (apt-get install openssh-server)') ? sshd : null);
  /** No agent, no real ~/.ssh: only what the config names. */
  const env = (s: Sshd): NodeJS.ProcessEnv => ({ HOME: s.home, SSH_AUTH_SOCK: '', SAFEPOINT_RETRIES: '1' });

  async function project(root: string, s: Sshd, sub: string, extra = ''): Promise<{ config: string; local: string; src: string; sftp: string }> {
    const src = join(root, 'src');
    await writeTree(src, { 'app/main.js': 'console.log(1)\n', 'data/big.bin': pseudoRandom(3 << 20, 5), 'conf/app.env': 'A=1\n' });
    const local = join(root, 'local');
    const sftp = s.url(sub);
    const config = join(root, `${sub}.yaml`);
    await writeFile(
      config,
      `version: 1\nproject: t\nrepositories:\n  files:\n    targets:\n      - ${local}\n      - { url: "${sftp}", key_file: ${s.keyFile}, known_hosts: ${s.knownHostsFile} }\n${extra}sources:\n  - { name: app, type: files, repository: files, paths: [ ${src} ] }\n`,
    );
    return { config, local, src, sftp };
  }

  it('a local + SFTP mirror: one pass writes both, the SFTP copy restores alone, check reports both', async (t) => {
    const s = server(t);
    if (!s) return;
    const dir = await tempDir();
    try {
      const p = await project(dir.path, s, 'mirror');
      const init = await runCli(['init', '--config', p.config], { env: env(s) });
      assert.equal(init.code, 0, init.stderr);
      const b = await runCli(['backup', '--config', p.config, '--source', 'app'], { env: env(s) });
      assert.equal(b.code, 0, b.stderr);
      assert.deepEqual((await readdir(join(s.root, 'mirror', 'snapshots'))).length, 1);
      // the SFTP target alone, with the keys from a HOME of its own (~/.ssh/id_ed25519 and known_hosts)
      const only = join(dir.path, 'only-sftp.yaml');
      await writeFile(only, `version: 1\nproject: t\nrepositories:\n  r:\n    targets:\n      - { url: "${p.sftp}", key_file: ${s.keyFile}, known_hosts: ${s.knownHostsFile} }\n`);
      const out = join(dir.path, 'out');
      const r = await runCli(['restore', 'latest', '--config', only, '--target', out, '--verify'], { env: env(s) });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(await hashTree(join(out, 'src')), await hashTree(p.src));
      const check = await runCli(['check', '--config', p.config, '--read-data'], { env: env(s) });
      assert.equal(check.code, 0, check.stderr);
      assert.match(check.stdout, new RegExp(`${p.local}: checked 1 snapshots`));
      assert.match(check.stdout, /sftp:\/\/.*: checked 1 snapshots/);
    } finally {
      await dir.cleanup();
    }
  });

  it('the SFTP server down: the default fails in one line and records nothing; min_targets 1 completes and sync catches up', async (t) => {
    const s = server(t);
    if (!s) return;
    const dir = await tempDir();
    try {
      const p = await project(dir.path, s, 'down');
      assert.equal((await runCli(['init', '--config', p.config], { env: env(s) })).code, 0);
      await s.kill();
      try {
        const failed = await runCli(['backup', '--config', p.config, '--source', 'app'], { env: env(s) });
        assert.notEqual(failed.code, 0);
        const errors = failed.stderr.split('\n').filter((l) => l.startsWith('error:'));
        assert.equal(errors.length, 1, failed.stderr);
        assert.match(errors[0]!, /min_targets is 2: sftp:\/\/.*(refused|connect)/i);
        assert.deepEqual(await readdir(join(p.local, 'snapshots')).catch(() => []), [], 'no snapshot recorded on the local target');

        const relaxed = await project(dir.path, s, 'down', '    min_targets: 1\n');
        const ok = await runCli(['backup', '--config', relaxed.config, '--source', 'app'], { env: env(s) });
        assert.equal(ok.code, 0, ok.stderr);
        assert.match(ok.stderr, /is down .*run `safepoint sync`/);
      } finally {
        await s.restart();
      }
      const relaxed = join(dir.path, 'down.yaml');
      const sync = await runCli(['sync', '--config', relaxed], { env: env(s) });
      assert.equal(sync.code, 0, sync.stderr);
      assert.equal((await readdir(join(s.root, 'down', 'snapshots'))).length, 1);
      assert.equal((await runCli(['check', '--config', relaxed, '--read-data'], { env: env(s) })).code, 0);
    } finally {
      await dir.cleanup();
    }
  });

  it('storage validate checks an SFTP target with a key and known_hosts given on the command line', async (t) => {
    const s = server(t);
    if (!s) return;
    const r = await runCli(['storage', 'validate', s.url('validate'), '--key-file', s.keyFile, '--known-hosts', s.knownHostsFile], { env: env(s) });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /all \d+ checks passed/);
  });

  it('an unknown host key is refused in one line that says how to check and add it', async (t) => {
    const s = server(t);
    if (!s) return;
    const dir = await tempDir();
    try {
      const empty = join(dir.path, 'known_hosts');
      await writeFile(empty, '');
      const config = join(dir.path, 'c.yaml');
      await writeFile(config, `version: 1\nproject: t\nrepositories:\n  r:\n    targets:\n      - { url: "${s.url('unknown')}", key_file: ${s.keyFile}, known_hosts: ${empty} }\n`);
      const r = await runCli(['init', '--config', config], { env: env(s) });
      assert.notEqual(r.code, 0);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, /^error: .*not in .*known_hosts.*SHA256:.*ssh-keyscan/);
    } finally {
      await dir.cleanup();
    }
  });
});
