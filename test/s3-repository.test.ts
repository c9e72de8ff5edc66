/** Repositories on a real S3 server (Ceph RGW on loopback): init, backup, restore, mirrors, Object Lock against an attacker. */
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DeleteObjectCommand, ListObjectVersionsCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { hashTree, lastJson, pseudoRandom, runCli, tempDir, writeTree } from './helpers.js';
import { needService } from './services/require.js';
import { startRgw, type Rgw } from './services/rgw.js';

describe('repositories on S3 (real Ceph RGW)', () => {
  let rgw: Rgw | null = null;
  before(async () => {
    rgw = await startRgw();
  });
  after(async () => {
    await rgw?.stop();
  });
  const gateway = (t: TestContext): Rgw | null => (needService(t, rgw !== null, 'Ceph RGW not installed (apt-get install ceph-mon ceph-osd radosgw ceph-common)') ? rgw : null);
  const envFor = (g: Rgw): NodeJS.ProcessEnv => ({ AWS_ACCESS_KEY_ID: g.accessKeyId, AWS_SECRET_ACCESS_KEY: g.secretAccessKey, AWS_REGION: 'us-east-1' });
  const client = (g: Rgw): S3Client =>
    new S3Client({ endpoint: g.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: g.accessKeyId, secretAccessKey: g.secretAccessKey }, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' });

  async function sourceTree(root: string): Promise<string> {
    const src = join(root, 'src');
    await writeTree(src, { 'app/index.js': 'export {}\n', 'data/blob.bin': pseudoRandom(5 << 20, 11), 'conf/app.yaml': 'port: 8080\n' });
    return src;
  }

  it('init creates the bucket; backup, restore and check --read-data work over S3; storage validate passes', async (t) => {
    const g = gateway(t);
    if (!g) return;
    const dir = await tempDir();
    try {
      const src = await sourceTree(dir.path);
      const url = `s3:${g.endpoint}/fresh-bucket/team/repo`;
      const env = envFor(g);
      const init = await runCli(['init', '--repo', url], { env });
      assert.equal(init.code, 0, init.stderr);
      assert.equal((await runCli(['init', '--repo', url], { env })).code, 1, 'a second init refuses: the config exists');
      const b = await runCli(['backup', '--repo', url, src, '--json'], { env });
      assert.equal(b.code, 0, b.stderr);
      const out = join(dir.path, 'out');
      const r = await runCli(['restore', 'latest', '--repo', url, '--target', out, '--verify'], { env });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(await hashTree(join(out, 'src')), await hashTree(src));
      const check = await runCli(['check', '--repo', url, '--read-data'], { env });
      assert.equal(check.code, 0, check.stderr);
      const v = await runCli(['storage', 'validate', `s3:${g.endpoint}/fresh-bucket/validate`], { env });
      assert.equal(v.code, 0, v.stdout + v.stderr);
      const bad = await runCli(['snapshots', '--repo', url], { env: { ...env, AWS_SECRET_ACCESS_KEY: 'wrong-secret-key' } });
      assert.notEqual(bad.code, 0);
      assert.ok(!bad.stderr.includes('wrong-secret-key') && !bad.stderr.includes('    at '), bad.stderr);
      assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
    } finally {
      await dir.cleanup();
    }
  });

  it('Object Lock: an attacker holding the credentials cannot destroy history; revert brings the repository back', async (t) => {
    const g = gateway(t);
    if (!g) return;
    const dir = await tempDir();
    try {
      const src = await sourceTree(dir.path);
      const local = join(dir.path, 'local');
      const s3url = `s3:${g.endpoint}/locked-bucket/repo`;
      const config = join(dir.path, 'safepoint.yaml');
      await writeFile(config, `version: 1\nproject: t\nrepositories:\n  files:\n    targets: [ ${local}, "${s3url}" ]\n    object_lock: { mode: compliance, days: 1 }\nsources:\n  - { name: app, type: files, repository: files, paths: [ ${src} ] }\n`);
      const env = envFor(g);
      assert.equal((await runCli(['init', '--config', config], { env })).code, 0);
      assert.equal((await runCli(['backup', '--config', config, '--source', 'app'], { env })).code, 0);
      await writeTree(src, { 'conf/app.yaml': 'port: 9090\n' });
      assert.equal((await runCli(['backup', '--config', config, '--source', 'app'], { env })).code, 0);
      await new Promise((r) => setTimeout(r, 1100)); // RGW's LastModified has one-second resolution
      const clean = new Date();
      await new Promise((r) => setTimeout(r, 1100));

      // the attacker: deletes every version it can see, then hides the rest and overwrites a pack with garbage
      const s3 = client(g);
      const versions = await s3.send(new ListObjectVersionsCommand({ Bucket: 'locked-bucket' }));
      let refused = 0;
      for (const v of versions.Versions ?? []) {
        try {
          await s3.send(new DeleteObjectCommand({ Bucket: 'locked-bucket', Key: v.Key, VersionId: v.VersionId, BypassGovernanceRetention: true }));
        } catch (err) {
          if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 403) refused++;
        }
      }
      assert.equal(refused, versions.Versions?.length, 'every locked version refused deletion');
      const pack = versions.Versions!.find((v) => v.Key?.startsWith('repo/data/'))!.Key!;
      await s3.send(new PutObjectCommand({ Bucket: 'locked-bucket', Key: pack, Body: Buffer.from('ransom note') }));
      for (const v of versions.Versions ?? []) if (v.Key !== pack) await s3.send(new DeleteObjectCommand({ Bucket: 'locked-bucket', Key: v.Key }));
      s3.destroy();
      const broken = await runCli(['snapshots', '--repo', s3url], { env });
      assert.notEqual(broken.code, 0, 'the repository looks gone');

      const revert = await runCli(['repair', 'revert', '--config', config, '--to', clean.toISOString(), '--json'], { env });
      assert.equal(revert.code, 0, revert.stderr);
      const reverted = revert.stdout.trim().split('\n').map((l) => JSON.parse(l) as { message_type: string; objects?: number }).find((e) => e.message_type === 'reverted');
      assert.equal(reverted?.objects, versions.Versions?.filter((v) => !v.Key?.startsWith('repo/locks/')).length, 'every object the attacker touched reads as before');
      const out = join(dir.path, 'out');
      const r = await runCli(['restore', 'latest', '--repo', s3url, '--target', out, '--verify'], { env });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(await hashTree(join(out, 'src')), await hashTree(src));
      assert.equal((await runCli(['check', '--repo', s3url, '--read-data'], { env })).code, 0);

      // the admin forgets the first snapshot: prune leaves locked packs in place instead of trying to delete them
      await writeTree(src, { 'data/blob.bin': pseudoRandom(5 << 20, 12) });
      assert.equal((await runCli(['backup', '--config', config, '--source', 'app'], { env })).code, 0);
      const forget = await runCli(['forget', '--config', config, '--keep-last', '1', '--json'], { env });
      assert.equal(forget.code, 0, forget.stderr);
      const prune = await runCli(['prune', '--config', config, '--json'], { env });
      assert.equal(prune.code, 0, prune.stderr);
      const summary = lastJson(prune.stdout);
      assert.ok((summary.kept_locked as number) > 0, JSON.stringify(summary));
      assert.equal((await runCli(['check', '--config', config, '--read-data'], { env })).code, 0);
    } finally {
      await dir.cleanup();
    }
  });
});
