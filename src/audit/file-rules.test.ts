import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifyFile, SQLITE_MAGIC, type HeadReader } from './file-rules.js';

const content = (text: string | Buffer): HeadReader => async (n) => (typeof text === 'string' ? Buffer.from(text) : text).subarray(0, n);
const none: HeadReader = async () => Buffer.alloc(0);

test('detection rules: name, place and content decide', async () => {
  const cases: [rel: string, head: HeadReader, category: string | null, secret?: boolean, why?: RegExp][] = [
    ['.env.production', none, 'secrets', true],
    ['.env-production', none, 'secrets', true],
    ['.env_local', none, 'secrets', true],
    ['etc/ssh/ssh_host_ed25519_key', none, 'secrets', true],
    ['deploy_key', none, 'secrets', true],
    ['.npmrc', content('_auth=dXNlcjpwYXNz\n'), 'secrets', true],
    ['.yarnrc.yml', content('npmAuthIdent: "user:pass"\n'), 'secrets', true],
    ['services/api/.env', none, 'secrets', true],
    ['.env.sample', none, 'configuration', false],
    ['tls/site.pem', content('-----BEGIN RSA PRIVATE KEY-----\n'), 'secrets', true],
    ['tls/chain.pem', content('-----BEGIN CERTIFICATE-----\n'), 'secrets', false],
    ['keys/id_ed25519', none, 'secrets', true],
    ['infra/terraform.tfstate', none, 'secrets', true],
    ['.npmrc', content('//registry.npmjs.org/:_authToken=abc\n'), 'secrets', true],
    ['.npmrc', content('save-exact=true\n'), 'configuration', false],
    ['db/app.sqlite3', content(Buffer.concat([SQLITE_MAGIC, Buffer.alloc(84)])), 'database', false, /SQLite database/],
    ['db/app.sqlite3-wal', none, null],
    ['cache.db', content('BDB\0'), 'data', false, /not a SQLite database/],
    ['empty.sqlite', none, 'data', false, /empty file/],
    ['Thumbs.db', none, null],
    ['db/migrate/20240101_create_users.rb', none, 'database', false, /migrations/],
    ['src/main/resources/db/migration/V1__init.sql', none, 'database', false, /migrations/],
    ['schema.sql', none, 'database'],
    ['Dockerfile.prod', none, 'deployment'],
    ['compose.override.yaml', none, 'deployment', false, /Compose/],
    ['ops/site.yml', content('- hosts: web\n  become: true\n  tasks:\n    - name: x\n'), 'deployment', false, /Ansible/],
    ['chart/values.yaml', content('replicas: 2\n'), 'configuration'],
    ['manifests/cron.yml', content('apiVersion: batch/v1\nkind: CronJob\n'), 'deployment', false, /CronJob/],
    ['scripts/release.sh', none, 'deployment', false, /deploy script/],
    ['src/release.ts', none, 'code', false, /TypeScript/],
    ['config/deploy.rb', none, 'deployment'],
    ['infra/main.tf', none, 'deployment', false, /Terraform/],
    ['user.service.ts', none, 'code'],
    ['units/web.service', content('just text'), null],
    ['etc/nginx/nginx.conf', none, 'configuration', false, /nginx/],
    ['sites-enabled/shop', none, 'configuration', false, /nginx/],
    ['go.mod', none, 'code', false, /Go module/],
    ['requirements-dev.txt', none, 'code', false, /Python/],
    ['pom.xml', none, 'code'],
    ['settings.ini', none, 'configuration'],
    ['docs/guide.md', none, null],
    ['vite.config.ts', none, 'configuration'],
    ['ecosystem.config.js', none, 'deployment', false, /PM2/],
  ];
  for (const [rel, head, category, secret, why] of cases) {
    const c = await classifyFile(rel, head);
    assert.equal(c?.category ?? null, category, rel);
    if (secret !== undefined) assert.equal(c?.secret ?? false, secret, `${rel}: secret`);
    if (why) assert.match(c?.why ?? '', why, rel);
  }
});
