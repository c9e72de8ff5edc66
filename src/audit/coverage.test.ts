import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Config } from '../config/schema.js';
import { coverageOf, withRealPaths } from './coverage.js';
import type { AuditRow } from './model.js';

test('coverage: a source naming the project through a symlink covers its files', async (t) => {
  const dir = await realpath(await mkdtemp(join(tmpdir(), 'sp-coverage-')));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const project = join(dir, 'data', 'shop');
  await mkdir(join(project, 'config'), { recursive: true });
  await writeFile(join(project, 'config', 'app.yaml'), 'port: 1\n');
  await symlink(join(dir, 'data', 'shop'), join(dir, 'shop-link')); // /srv/shop -> /data/shop
  const cfg = { sources: [{ name: 'code-config', type: 'files', paths: [join(dir, 'shop-link', 'config')], exclude: [] }] } as unknown as Config;
  const row = { path: 'config/app.yaml', category: 'configuration', why: '', frequency: '', secret: false, coveredBy: [], trackedByGit: false } as AuditRow;
  assert.deepEqual(coverageOf(cfg, project, join(project, 'docs/a.md'))(row), [], 'compared as written, the link hides it');
  assert.deepEqual(coverageOf(await withRealPaths(cfg), project, join(project, 'docs/a.md'))(row), ['code-config']);
});
