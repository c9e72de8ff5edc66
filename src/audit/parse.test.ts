import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixedClock } from '../util/clock.js';
import { UserError } from '../util/errors.js';
import { auditProject } from './audit.js';
import { codeSpan, renderAudit } from './markdown.js';
import { barePath, type AuditReport } from './model.js';
import { firstCodeSpan, hasPathTable, parseAudit } from './parse.js';
import { writeSampleProject } from './testing.js';

test('the written audit parses back to the same paths, categories and secret marks', async () => {
  const root = await realpath(await mkdtemp(join(tmpdir(), 'sp-audit-')));
  try {
    await writeSampleProject(root, { nodeModules: 200 });
    const outFile = join(root, 'docs/rollback_points_audit.md');
    const { report, markdown } = await auditProject({ root, outFile, config: null, version: 'test', clock: fixedClock('2025-01-02T03:04:05Z') });
    assert.match(markdown, /^- Project root: `\.\.` /m);
    assert.match(markdown, /^\| `\.env` \*\*secret\*\* \| environment file/m);
    assert.match(markdown, /\*\*Not covered: \d+ paths\*\*/);
    const parsed = parseAudit(markdown, outFile);
    assert.equal(parsed.root, '..');
    assert.deepEqual(
      parsed.entries.map((e) => [e.path, e.category, e.secret]),
      report.rows.map((r) => [barePath(r.path), r.category, r.secret]),
    );
    assert.deepEqual(parsed.skipped.map((s) => s.path).sort(), ['coverage', 'dist', 'logs', 'node_modules', 'src/__pycache__']);
    assert.deepEqual(parsed.ignored, []);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('odd names survive the round trip: pipes, backticks, spaces', () => {
  const names = ['a|b.env', 'x`y.key', '`quoted`.pem', ' lead.key', 'dir with space/'];
  for (const n of names) assert.equal(firstCodeSpan(codeSpan(n))?.code, n, n);
  const report: AuditReport = {
    root: '/p',
    rootFromFile: '.',
    generatedAt: new Date(0),
    version: 't',
    config: null,
    stacks: [],
    rows: names.map((path) => ({ path, category: 'secrets', why: 'a | b', frequency: 'at each change', secret: true, coveredBy: [], trackedByGit: false })),
    skipped: [],
    notes: [],
  };
  const parsed = parseAudit(renderAudit(report), 'audit.md');
  assert.deepEqual(parsed.entries.map((e) => e.written), names);
  // names that look absolute are written so that they read back as relative paths
  const tricky = parseAudit(renderAudit({ ...report, rows: ['~/.ssh/id_rsa', 'c:/x.key'].map((path) => ({ ...report.rows[0]!, path })) }), 'audit.md');
  assert.deepEqual(tricky.entries.map((e) => e.path), ['~/.ssh/id_rsa', 'c:/x.key']);
  // an empty audit is still an audit (rows can be added by hand)
  const empty = renderAudit({ ...report, rows: [] });
  assert.ok(hasPathTable(empty));
  assert.deepEqual(parseAudit(empty, 'audit.md').entries, []);
  assert.deepEqual(parsed.entries.map((e) => e.why), names.map(() => 'a | b'));
  assert.equal(parsed.root, '.');
});

const HAND_EDITED = `# My audit

<!-- a comment
| path | why |
|---|---|
| \`commented/out\` | inside a comment: not a row |
-->

Project root: \`.\`

| stack | evidence |
|---|---|
| Node.js | \`package.json\` |

### Code

| path | why | backup frequency | covered by |
|---|---|---|---|
| \`src/\` | source | at each major commit | **not covered** |
| \`./lib/../tools/\` | added by hand | at each major commit | |
| no backticks here | a row the parser cannot read | | |

### Secrets and certificates

| path | why | backup frequency | covered by |
|:---|:---|---|---|
| \`.env.production\` **secret** | hand-added secret | at each change | |

### Whatever the user calls it

| Path | why |
|---|---|
| \`extra.txt\` | under a heading of the user's |

| folder | why |
|---|---|
| \`src/generated/\` | rebuilt |
`;

test('a hand-edited audit: rows added anywhere, comments and other tables ignored', () => {
  assert.equal(hasPathTable(HAND_EDITED), true);
  const p = parseAudit(HAND_EDITED, 'audit.md');
  assert.equal(p.root, '.');
  assert.deepEqual(p.entries.map((e) => [e.path, e.category, e.secret, e.line]), [
    ['src', 'code', false, 19],
    ['tools', 'code', false, 20],
    ['.env.production', 'secrets', true, 27],
    ['extra.txt', null, false, 33],
  ]);
  assert.deepEqual(p.ignored, [{ line: 21, reason: 'the path must be written in backticks, like `config/app.yaml`' }]);
  assert.deepEqual(p.skipped, [{ path: 'src/generated', line: 37, why: 'rebuilt' }]);
  assert.equal(hasPathTable('# notes\n\n| stack | evidence |\n|---|---|\n'), false);
});

test('a path that leaves the project root is refused with a one-line error naming the line', () => {
  const refuse = (path: string, pattern: RegExp): void => {
    const text = `Project root: \`..\`\n\n| path | why |\n|---|---|\n| \`src/\` | ok |\n| \`${path}\` | bad |\n`;
    assert.throws(() => parseAudit(text, 'docs/audit.md'), (err: unknown) => {
      assert.ok(err instanceof UserError);
      assert.match(err.message, pattern);
      assert.equal(err.message.split('\n').length, 1);
      return true;
    });
  };
  refuse('../secrets/.env', /^docs\/audit\.md:6: path \.\.\/secrets\/\.env escapes the project root/);
  refuse('src/../../x', /^docs\/audit\.md:6: path src\/\.\.\/\.\.\/x escapes the project root/);
  refuse('..', /:6: path \.\. escapes/);
  refuse('/etc/passwd', /^docs\/audit\.md:6: path \/etc\/passwd is absolute/);
  // climbing back inside is fine
  assert.deepEqual(parseAudit('| path |\n|---|\n| `a/../b` |\n', 'x.md').entries.map((e) => e.path), ['b']);
});

test('re-running the audit: a folder row it grouped itself goes when the folder shrinks; a row added by hand stays', async () => {
  const root = await realpath(await mkdtemp(join(tmpdir(), 'sp-audit-regroup-')));
  try {
    const { mkdir, writeFile, unlink, readFile } = await import('node:fs/promises');
    await mkdir(join(root, 'deploy/conf'), { recursive: true });
    for (let i = 0; i < 20; i++) await writeFile(join(root, `deploy/conf/site-${i}.conf`), `server_name s${i};\n`);
    await writeFile(join(root, 'notes.txt'), 'keep me\n');
    const outFile = join(root, 'docs/rollback_points_audit.md');
    const run = async (): Promise<string[]> => {
      const { markdown, report } = await auditProject({ root, outFile, config: null, version: 'test', clock: fixedClock('2025-01-02T03:04:05Z') });
      await mkdir(join(root, 'docs'), { recursive: true });
      await writeFile(outFile, markdown);
      return report.rows.map((r) => r.path);
    };
    const first = await run();
    assert.ok(first.includes('deploy/conf/'), `grouped at first: ${first.join(', ')}`);
    // a row added by hand
    await writeFile(outFile, (await readFile(outFile, 'utf8')).replace('| path | why | backup frequency | covered by |\n|---|---|---|---|\n', '| path | why | backup frequency | covered by |\n|---|---|---|---|\n| `notes.txt` | the runbook notes | daily | |\n'));
    for (let i = 3; i < 20; i++) await unlink(join(root, `deploy/conf/site-${i}.conf`));
    const second = await run();
    assert.ok(!second.includes('deploy/conf/'), `the grouped row is regenerated as file rows: ${second.join(', ')}`);
    assert.ok(second.includes('deploy/conf/site-0.conf'));
    assert.ok(second.includes('notes.txt'), 'the row added by hand stays');
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
