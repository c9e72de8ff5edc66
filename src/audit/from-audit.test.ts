import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../util/errors.js';
import { auditExcluder, pathsFromAudit } from './from-audit.js';

test('the audit excluder keeps the listed paths, their insides and the folders on the way, minus skipped folders', () => {
  const root = '/p';
  const ex = auditExcluder(root, new Set(['src', 'config/app.yaml', 'vendor/patched']), new Set(['src/__pycache__', 'vendor', 'node_modules']));
  const kept = ['/p/src', '/p/src/a/b.ts', '/p/config', '/p/config/app.yaml', '/p/vendor', '/p/vendor/patched', '/p/vendor/patched/x.go'];
  const dropped = ['/p/README.md', '/p/config/other.yaml', '/p/src/__pycache__', '/p/src/__pycache__/m.pyc', '/p/vendor/other', '/p/node_modules', '/p/configx'];
  for (const p of kept) assert.equal(ex(p), false, `${p} is kept`);
  for (const p of dropped) assert.equal(ex(p), true, `${p} is left out`);
  assert.equal(ex('/elsewhere/file'), false, 'paths outside the project are not the audit\'s business');
  assert.equal(ex('/p'), false);
  const all = auditExcluder(root, new Set(['.']), new Set(['node_modules']));
  assert.equal(all('/p/anything'), false);
  assert.equal(all('/p/node_modules/x'), true);
});

async function project(fn: (root: string) => Promise<void>): Promise<void> {
  const root = await realpath(await mkdtemp(join(tmpdir(), 'sp-from-audit-')));
  try {
    await fn(root);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

test('pathsFromAudit: the project root plus an excluder, a warning per missing path, secrets returned', async () => {
  await project(async (root) => {
    await mkdir(join(root, 'docs'));
    await mkdir(join(root, 'src'));
    await writeFile(join(root, '.env'), 'A=1');
    const file = join(root, 'docs/audit.md');
    await writeFile(file, '- Project root: `..`\n\n### Code\n\n| path | why |\n|---|---|\n| `src/` | code |\n| `gone.txt` | removed since |\n\n### Secrets\n\n| path | why |\n|---|---|\n| `.env` **secret** | env |\n');
    const warnings: string[] = [];
    const info: string[] = [];
    const r = await pathsFromAudit(file, ['/srv/other'], { warn: (l) => warnings.push(l), info: (l) => info.push(l) });
    assert.deepEqual(r.paths, ['/srv/other', root]);
    assert.deepEqual(r.secrets, [join(root, '.env')]);
    assert.deepEqual(warnings, [`${file}:8: gone.txt does not exist: not backed up`]);
    assert.match(info[0]!, /2 paths under .* \(1 marked secret, stored encrypted\)/);
    assert.equal(r.exclude?.(join(root, 'docs')), true);
    assert.equal(r.exclude?.(join(root, 'src/x.ts')), false);

    // a source path that holds the whole project: the audit adds nothing
    const whole = await pathsFromAudit(file, [root], { warn: () => undefined, info: () => undefined });
    assert.deepEqual(whole.paths, [root]);
    assert.equal(whole.exclude, undefined);
    // a source path inside the project joins the listed paths
    await mkdir(join(root, 'extra'));
    const inside = await pathsFromAudit(file, [join(root, 'extra')], { warn: () => undefined, info: () => undefined });
    assert.deepEqual(inside.paths, [root]);
    assert.equal(inside.exclude?.(join(root, 'extra/file')), false);

    // the project reached through a symlink is still the project
    await symlink(root, join(root, '..', `${root.split('/').at(-1)}-link`));
    const viaLink = await pathsFromAudit(file, [join(root, '..', `${root.split('/').at(-1)}-link`, 'extra')], { warn: () => undefined, info: () => undefined });
    assert.deepEqual(viaLink.paths, [root]);
    assert.equal(viaLink.exclude?.(join(root, 'extra/file')), false);
    await rm(join(root, '..', `${root.split('/').at(-1)}-link`));

    // a row under a symlinked folder (current -> releases/1): the backup would keep the link only; said, not listed
    await mkdir(join(root, 'releases/1/config'), { recursive: true });
    await writeFile(join(root, 'releases/1/config/app.yaml'), 'x');
    await symlink('releases/1', join(root, 'current'));
    await writeFile(file, '- Project root: `..`\n\n| path | why |\n|---|---|\n| `src/` | code |\n`current/config/app.yaml` | through a link, and a row without a leading pipe\n');
    const linked: string[] = [];
    const r2 = await pathsFromAudit(file, [], { warn: (l) => linked.push(l), info: () => undefined });
    assert.deepEqual(linked, [`${file}:6: current/config/app.yaml is under a symbolic link: not backed up (list the path the link points to)`]);
    assert.equal(r2.exclude?.(join(root, 'current')), true);
  });
});

test('pathsFromAudit: a missing file, a file that is not an audit and a path out of the project are one-line errors', async () => {
  await project(async (root) => {
    const quiet = { warn: () => undefined, info: () => undefined };
    const expectError = async (file: string, pattern: RegExp): Promise<void> => {
      await assert.rejects(pathsFromAudit(file, [], quiet), (err: unknown) => {
        assert.ok(err instanceof UserError);
        assert.match(err.message, pattern);
        assert.equal(err.message.split('\n').length, 1);
        return true;
      });
    };
    await expectError(join(root, 'docs/none.md'), /audit file .*none\.md not found: run `safepoint audit`/);
    await writeFile(join(root, 'notes.md'), '# just notes\n\nnothing here\n');
    await expectError(join(root, 'notes.md'), /notes\.md has no table with a "path" column.*run `safepoint audit`/);
    await writeFile(join(root, 'bad.md'), 'Project root: `.`\n\n| path | why |\n|---|---|\n| `../../etc/shadow` | nope |\n');
    await expectError(join(root, 'bad.md'), /bad\.md:5: path \.\.\/\.\.\/etc\/shadow escapes the project root/);
    await writeFile(join(root, 'abs.md'), 'Project root: `/`\n\n| path | why |\n|---|---|\n| `.` | everything |\n');
    await expectError(join(root, 'abs.md'), /abs\.md: its "Project root:" \/ is absolute/);
  });
});
