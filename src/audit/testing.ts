/** Test support: a sample project on disk with one of everything the audit recognises. Not used by the program. */
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const PRIVATE_KEY = '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----\n';
const CERTIFICATE = '-----BEGIN CERTIFICATE-----\nMIIDazCCAlOgAwIBAgIUJ\n-----END CERTIFICATE-----\n';

/** Files of the sample project (SQLite databases are added separately, with real headers). */
export const SAMPLE_FILES: Readonly<Record<string, string>> = {
  'package.json': '{ "name": "shop", "version": "1.0.0", "scripts": { "start": "node dist/index.js" } }\n',
  'package-lock.json': '{ "name": "shop", "lockfileVersion": 3 }\n',
  'tsconfig.json': '{ "compilerOptions": { "outDir": "dist" } }\n',
  'README.md': '# shop\n',
  'src/index.ts': 'import { users } from "./routes/users.js";\nconsole.log(users);\n',
  'src/routes/users.ts': 'export const users = [];\n',
  'src/lib/db.js': 'export const db = null;\n',
  'src/data/countries.json': '["fr", "de"]\n',
  '.env': 'DATABASE_URL=postgres://shop:hunter2@db/shop\nSTRIPE_KEY=sk_live_123\n',
  '.env.example': 'DATABASE_URL=\nSTRIPE_KEY=\n',
  'certs/server.key': PRIVATE_KEY,
  'certs/server.crt': CERTIFICATE,
  'config/default.yaml': 'port: 8080\n',
  'config/nginx/site.conf': 'server { listen 80; location / { proxy_pass http://127.0.0.1:8080; } }\n',
  'legacy.db': 'this is not a database, only a text file with a .db name\n',
  'uploads/avatars/alice.png': 'PNG...',
  'migrations/001_init.sql': 'CREATE TABLE users (id INTEGER PRIMARY KEY);\n',
  'migrations/002_orders.sql': 'CREATE TABLE orders (id INTEGER PRIMARY KEY);\n',
  Dockerfile: 'FROM node:20\nCOPY . /app\nCMD ["node", "/app/dist/index.js"]\n',
  'docker-compose.yml': 'services:\n  web:\n    build: .\n',
  'k8s/deployment.yaml': 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: shop\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: shop\n',
  'systemd/shop.service': '[Unit]\nDescription=shop\n\n[Service]\nExecStart=/usr/bin/node /srv/shop/dist/index.js\n\n[Install]\nWantedBy=multi-user.target\n',
  'deploy.sh': '#!/bin/sh\nrsync -a dist/ server:/srv/shop/\n',
  Procfile: 'web: node dist/index.js\n',
  '.github/workflows/ci.yml': 'on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n',
  'dist/index.js': 'console.log("built");\n',
  'coverage/lcov.info': 'TN:\n',
  'logs/app.log': 'started\n',
  'src/__pycache__/x.pyc': 'bytecode',
};

/** How many files the sample puts in node_modules (the walk must not enter it). */
export const NODE_MODULES_FILES = 20_000;

/** Writes a real SQLite database (better-sqlite3) at path. */
export function writeSqlite(path: string): void {
  const Database = createRequire(import.meta.url)('better-sqlite3') as new (file: string) => { exec(sql: string): void; close(): void };
  const db = new Database(path);
  db.exec('CREATE TABLE sessions (id TEXT PRIMARY KEY, data TEXT); INSERT INTO sessions VALUES (\'a\', \'b\');');
  db.close();
}

/**
 * Builds the sample project in `root`: SAMPLE_FILES, two real SQLite databases (`db/production.sqlite3` and, inside
 * the data folder, `data/sessions.db`), node_modules with NODE_MODULES_FILES files, and a symbolic link to /etc.
 */
export async function writeSampleProject(root: string, o: { nodeModules?: number } = {}): Promise<void> {
  for (const [rel, text] of Object.entries(SAMPLE_FILES)) {
    await mkdir(dirname(join(root, rel)), { recursive: true });
    await writeFile(join(root, rel), text);
  }
  await mkdir(join(root, 'db'), { recursive: true });
  await mkdir(join(root, 'data'), { recursive: true });
  writeSqlite(join(root, 'db/production.sqlite3'));
  writeSqlite(join(root, 'data/sessions.db'));
  const n = o.nodeModules ?? NODE_MODULES_FILES;
  for (let p = 0; p < n / 100; p++) {
    const dir = join(root, 'node_modules', `pkg-${p}`, 'lib');
    await mkdir(dir, { recursive: true });
    await Promise.all(Array.from({ length: Math.min(100, n - p * 100) }, (_, i) => writeFile(join(dir, `f${i}.js`), 'module.exports = 1;\n')));
  }
  await symlink('/etc', join(root, 'etc-link'));
}
