import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { UsageError } from '../util/errors.js';
import {
  ConfigError,
  expandEnv,
  findRepository,
  findSource,
  formatDuration,
  formatIssue,
  loadConfig,
  parseConfig,
  parseDuration,
  parsePercent,
  scheduleProblem,
  type ConfigIssue,
} from './index.js';

const EXAMPLE = process.env.SAFEPOINT_EXAMPLE_CONFIG ?? fileURLToPath(new URL('../../../../shared/safepoint.example.yaml', import.meta.url));

/** A minimal valid file; tests append to it. Lines 1-5. */
const BASE = `version: 1
project: shop
repositories:
  files:
    targets: [ /var/backups/files ]
`;

/** The problems parseConfig reports for `text` (fails when it parses). */
function problems(text: string, env: NodeJS.ProcessEnv = {}): readonly ConfigIssue[] {
  try {
    parseConfig(text, 'safepoint.yaml', env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    assert.ok(err instanceof UsageError);
    assert.equal(err.exitCode, 2);
    return err.issues;
  }
  assert.fail('expected the configuration to be rejected');
}

/** The single problem reported, as `file:line:col: path: message`. */
function onlyProblem(text: string, env: NodeJS.ProcessEnv = {}): string {
  const found = problems(text, env);
  assert.equal(found.length, 1, `expected one problem, got:\n${found.map((p) => `${p.line}:${p.col} ${p.path}: ${p.message}`).join('\n')}`);
  const [p] = found;
  assert.ok(p);
  return formatIssue(p);
}

describe('the example configuration', () => {
  const reason = existsSync(EXAMPLE) ? false : `example config ${EXAMPLE} not found (set SAFEPOINT_EXAMPLE_CONFIG)`;

  test('parses, with durations in ms, percentages as fractions and defaults filled in', { skip: reason }, async () => {
    const cfg = await loadConfig(EXAMPLE, {});
    const { file, dir } = cfg;
    assert.equal(file, EXAMPLE);
    assert.equal(cfg.version, 1);
    assert.equal(cfg.project, 'shop');
    assert.deepEqual(Object.keys(cfg.repositories), ['files', 'db']);
    const files = findRepository(cfg, 'files');
    assert.equal(files.min_targets, 2);
    assert.equal(files.compression, 'auto');
    assert.deepEqual(files.object_lock, { mode: 'compliance', days: 30 });
    assert.equal(findRepository(cfg, 'db').min_targets, 2, 'min_targets defaults to every target');
    assert.deepEqual(cfg.sources.map((s) => `${s.name}:${s.type}`), ['code-config:files', 'uploads:files', 'shop-db:postgres', 'billing-db:mariadb', 'sessions:sqlite']);

    const code = findSource(cfg, 'code-config');
    assert.equal(code.type, 'files');
    if (code.type !== 'files') return;
    assert.equal(code.from_audit, join(dir, 'docs/rollback_points_audit.md'), 'relative from_audit resolves against the file');
    assert.equal(code.rpo, 24 * 3_600_000);
    assert.equal(code.rto, 3_600_000);
    assert.deepEqual(code.retention, { keep_last: 10, keep_daily: 14, keep_monthly: 12 });
    assert.equal(code.schedule, 'on-major-commit');

    const db = findSource(cfg, 'shop-db');
    assert.equal(db.type, 'postgres');
    if (db.type !== 'postgres') return;
    assert.equal(db.mode, 'physical');
    assert.equal(db.wal_archiving, true);
    assert.deepEqual(db.schedule, { full: '0 1 * * 0', diff: '0 1 * * 1-6', incr: '0 */6 * * *' });
    assert.deepEqual(db.retention, { full: 4, diff: 14 });
    assert.deepEqual(db.checks, [{ sql: 'select count(*) > 0 from orders' }]);
    assert.equal(db.connection.port, 5432);

    const sessions = findSource(cfg, 'sessions');
    assert.equal(sessions.rpo, 60_000);
    assert.deepEqual(cfg.services['shop-api']?.health, { url: 'http://127.0.0.1:8080/health', expect: 200, timeout: 60_000 });
    assert.equal(cfg.deploy?.auto_rollback?.window, 300_000);
    assert.equal(cfg.deploy?.auto_rollback?.interval, 10_000);
    assert.equal(cfg.deploy?.git, 'git@github.com:acme/shop.git', 'a remote git URL is left alone');
    assert.equal(cfg.drills?.sources, 'all');
    assert.equal(cfg.checks?.read_data_subset, 0.1);
    assert.equal(cfg.daemon?.listen, '127.0.0.1:8765');
  });
});

describe('errors name file:line:col, the key and the fix', () => {
  test('unknown key, with a suggestion', () => {
    const text = `${BASE}sources:
  - name: code
    type: files
    repository: files
    paths: [ /srv ]
    retention:
      keep_daly: 3
`;
    assert.equal(onlyProblem(text), 'safepoint.yaml:12:7: sources[0].retention.keep_daly: unknown key (did you mean keep_daily?)');
  });

  test('unknown top-level key without a close match lists the known ones', () => {
    const [p] = problems(`${BASE}colour: blue\n`);
    assert.equal(p?.line, 6);
    assert.match(p?.message ?? '', /^unknown key \(expected one of: version, project, repositories, sources, /);
  });

  test('bad enum value', () => {
    assert.equal(onlyProblem(`${BASE}    compression: fast\n`), 'safepoint.yaml:6:18: repositories.files.compression: expected one of off, auto, max, got "fast"');
  });

  test('bad duration: unknown unit, and a number without a unit', () => {
    const text = `${BASE}sources:
  - { name: a, type: files, repository: files, paths: [ /a ], rpo: 10x }
  - { name: b, type: files, repository: files, paths: [ /b ], rto: 10 }
`;
    const [first, second, ...rest] = problems(text);
    assert.equal(rest.length, 0);
    assert.deepEqual([first?.line, first?.col, first?.path], [7, 68, 'sources[0].rpo']);
    assert.match(first?.message ?? '', /^invalid duration "10x": unknown unit "x"/);
    assert.deepEqual([second?.line, second?.path], [8, 'sources[1].rto']);
    assert.match(second?.message ?? '', /got the number 10 \(add a unit\)/);
  });

  test('missing environment variable names the variable', () => {
    assert.equal(
      onlyProblem(`${BASE}    password_file: \${SECRETS_DIR}/password\n`),
      'safepoint.yaml:6:20: repositories.files.password_file: environment variable SECRETS_DIR is not set (referenced as ${SECRETS_DIR})',
    );
  });

  test('duplicate source name', () => {
    const text = `${BASE}sources:
  - { name: web, type: files, repository: files, paths: [ /a ] }
  - { name: web, type: files, repository: files, paths: [ /b ] }
`;
    assert.equal(onlyProblem(text), 'safepoint.yaml:8:13: sources[1].name: duplicate source name "web" (already used by sources[0])');
  });

  test('unknown repository reference', () => {
    const text = `${BASE}sources:
  - name: web
    type: files
    repository: file
    paths: [ /srv ]
`;
    assert.equal(onlyProblem(text), 'safepoint.yaml:9:17: sources[0].repository: unknown repository "file" (did you mean files?)');
  });

  test('files source without paths or from_audit', () => {
    const text = `${BASE}sources:
  - name: web
    type: files
    repository: files
`;
    assert.equal(onlyProblem(text), 'safepoint.yaml:7:5: sources[0]: files source "web" needs paths or from_audit (or both)');
  });

  test('unknown source type', () => {
    const text = `${BASE}sources:
  - name: web
    type: nfs
    repository: files
`;
    assert.equal(onlyProblem(text), 'safepoint.yaml:8:11: sources[0].type: expected one of files, postgres, mariadb, sqlite');
  });

  test('retention: -1 means unlimited, keep_within is a restic span, full/diff only for databases', () => {
    const ok = `${BASE}sources:
  - { name: a, type: files, repository: files, paths: [ /a ], retention: { keep_last: -1, keep_within: 1y6m, keep_tag: [ "db,nightly", "" ] } }
  - { name: p, type: postgres, repository: files, connection: { database: x }, retention: { full: 2, keep_daily: 7 } }
`;
    const cfg = parseConfig(ok, '/x/safepoint.yaml', {});
    assert.deepEqual(cfg.sources[0]?.retention, { keep_last: -1, keep_within: '1y6m', keep_tag: ['db,nightly', ''] });
    assert.deepEqual(cfg.sources[1]?.retention, { full: 2, keep_daily: 7 });
    const bad = `${BASE}sources:\n  - { name: a, type: files, repository: files, paths: [ /a ], retention: { full: 2, keep_within: 30 days } }\n`;
    assert.deepEqual(
      problems(bad).map((p) => `${p.path}: ${p.message.replace(/ \(.*/, '')}`),
      ['sources[0].retention.full: unknown key', 'sources[0].retention.keep_within: expected a restic-style span such as 7d or 2y5m7d3h'],
    );
  });

  test('missing required key points at its parent', () => {
    assert.equal(onlyProblem('version: 1\nproject: shop\nrepositories:\n  files:\n    compression: auto\n'), 'safepoint.yaml:5:5: repositories.files.targets: required key is missing');
  });

  test('wrong version', () => {
    assert.equal(onlyProblem('version: 2\nproject: shop\n'), 'safepoint.yaml:1:10: version: expected 1 (the only configuration version this safepoint reads)');
  });

  test('health needs url or command', () => {
    assert.equal(onlyProblem(`${BASE}services:\n  api: { stop: x, health: { timeout: 5s } }\n`), 'safepoint.yaml:7:27: services.api.health: needs url or command');
  });

  test('bad cron schedule', () => {
    const text = `${BASE}sources:\n  - { name: a, type: files, repository: files, paths: [ /a ], schedule: "0 25 * * *" }\n`;
    assert.match(onlyProblem(text), /^safepoint\.yaml:7:73: sources\[0\]\.schedule: invalid schedule "0 25 \* \* \*": hour "25"/);
  });

  test('YAML syntax error is one line with file:line:col', () => {
    for (const [text, where] of [
      ['version: 1\nproject: shop\n  oops: indented\n', 'safepoint.yaml:2:10:'],
      [`${BASE}sources:\n  - name: [ a\n`, 'safepoint.yaml:8:1:'],
      ['version: 1\nversion: 1\n', 'safepoint.yaml:2:1:'],
    ] as const) {
      assert.throws(
        () => parseConfig(text, 'safepoint.yaml', {}),
        (e: Error) => e instanceof ConfigError && e.message.startsWith(`${where} invalid YAML: `) && !e.message.includes('\n'),
      );
    }
  });

  test('several problems: one line each, in file order', () => {
    const text = `version: 1
project: shop
repositories:
  files:
    targets: []
    compression: fast
`;
    const found = problems(text);
    assert.deepEqual(found.map((p) => `${p.line}:${p.path}`), ['5:repositories.files.targets', '6:repositories.files.compression']);
    assert.equal(found[0]?.message, 'needs at least 1 item');
  });

  test('empty file', () => {
    assert.match(onlyProblem(''), /^safepoint\.yaml:1:1: the file is empty/);
  });
});

describe('paths and environment', () => {
  test('a target may carry settings of its own; its key and known_hosts files resolve like other paths', () => {
    const text = `version: 1
project: shop
repositories:
  r:
    targets:
      - local
      - { url: "s3:http://127.0.0.1:9000/b", connections: 16, storage_class: STANDARD_IA, path_style: true, region: eu-west-3 }
      - { url: "sftp://backup@nas:22/srv/r", key_file: keys/id_ed25519, known_hosts: keys/known_hosts }
    min_targets: 2
`;
    const cfg = parseConfig(text, '/etc/shop/safepoint.yaml', {});
    const t = cfg.repositories.r!.targets;
    assert.deepEqual(t[0], { url: '/etc/shop/local' });
    assert.deepEqual(t[1], { url: 's3:http://127.0.0.1:9000/b', connections: 16, storage_class: 'STANDARD_IA', path_style: true, region: 'eu-west-3' });
    assert.deepEqual(t[2], { url: 'sftp://backup@nas:22/srv/r', key_file: '/etc/shop/keys/id_ed25519', known_hosts: '/etc/shop/keys/known_hosts' });
    assert.match(onlyProblem(text.replace('connections: 16', 'conections: 16')), /targets\[1\]\.conections: unknown key \(did you mean connections\?\)/);
  });

  test('relative paths resolve against the config file folder; URLs and commands are left alone', () => {
    const text = `version: 1
project: shop
repositories:
  r:
    targets: [ ../backups, s3:https://s3.example.com/bucket, "sftp:u@h:/x" ]
    password_file: secrets/pw
sources:
  - { name: a, type: files, repository: r, paths: [ data, /abs/data ], from_audit: audit.md, exclude: [ "*.log" ] }
  - { name: s, type: sqlite, repository: r, path: db/app.sqlite }
  - { name: p, type: postgres, repository: r, connection: { database: x, password_file: pg.pw }, data_directory: pgdata }
deploy: { git: ../shop.git, releases_dir: releases, current: current }
daemon: { token_file: token }
`;
    const cfg = parseConfig(text, '/etc/shop/safepoint.yaml', {});
    assert.equal(cfg.dir, '/etc/shop');
    assert.equal(cfg.file, '/etc/shop/safepoint.yaml');
    assert.deepEqual(cfg.repositories.r?.targets.map((t) => t.url), ['/etc/backups', 's3:https://s3.example.com/bucket', 'sftp:u@h:/x']);
    assert.equal(cfg.repositories.r?.password_file, '/etc/shop/secrets/pw');
    const [a, s, p] = cfg.sources;
    assert.ok(a?.type === 'files' && s?.type === 'sqlite' && p?.type === 'postgres');
    assert.deepEqual(a.paths, ['/etc/shop/data', '/abs/data']);
    assert.equal(a.from_audit, '/etc/shop/audit.md');
    assert.deepEqual(a.exclude, ['*.log']);
    assert.equal(s.path, '/etc/shop/db/app.sqlite');
    assert.equal(p.data_directory, '/etc/shop/pgdata');
    assert.equal(p.connection.password_file, '/etc/shop/pg.pw');
    assert.equal('bin_dir' in p, false, 'unset optional paths stay unset');
    assert.equal(cfg.deploy?.git, '/etc/shop.git');
    assert.equal(cfg.deploy?.releases_dir, '/etc/shop/releases');
    assert.equal(cfg.daemon?.token_file, '/etc/shop/token');
  });

  test('${NAME} expands in values, $${ escapes, ${NAME:-default} falls back, digit strings become numbers', () => {
    const text = `version: 1
project: \${PROJECT}
repositories:
  r:
    targets: [ "\${BASE}/repo" ]
    password_command: "pass show $\${HOME} $HOME"
    min_targets: \${MIN}
    append_only: \${APPEND}
sources:
  - name: p
    type: postgres
    repository: r
    connection:
      host: \${PGHOST:-/run/postgresql}
      port: \${PGPORT}
      database: shop
`;
    const cfg = parseConfig(text, '/x/safepoint.yaml', { PROJECT: 'shop', BASE: '/srv', MIN: '1', APPEND: 'true', PGPORT: '6432' });
    assert.equal(cfg.project, 'shop');
    assert.deepEqual(cfg.repositories.r?.targets.map((t) => t.url), ['/srv/repo']);
    assert.equal(cfg.repositories.r?.password_command, 'pass show ${HOME} $HOME');
    assert.equal(cfg.repositories.r?.min_targets, 1);
    assert.equal(cfg.repositories.r?.append_only, true);
    const p = cfg.sources[0];
    assert.ok(p?.type === 'postgres');
    assert.equal(p.connection.host, '/run/postgresql');
    assert.equal(p.connection.port, 6432);
  });

  test('top-level x- keys hold anchors that sources reuse with <<', () => {
    const text = `${BASE}x-defaults: &defaults { repository: files, rpo: 1h }
sources:
  - <<: *defaults
    name: web
    type: files
    paths: [ /srv ]
`;
    const cfg = parseConfig(text, '/x/safepoint.yaml', {});
    assert.equal(cfg.sources[0]?.repository, 'files');
    assert.equal(cfg.sources[0]?.rpo, 3_600_000);
    assert.equal('x-defaults' in cfg, false);
  });

  test('expandEnv', () => {
    const env = { A: 'x', EMPTY: '' };
    assert.equal(expandEnv('${A}-${A}', env), 'x-x');
    assert.equal(expandEnv('$${A} $A $$ cost$', env), '${A} $A $$ cost$');
    assert.equal(expandEnv('${EMPTY}|${EMPTY:-d}|${NOPE:-}', env), '|d|');
    assert.throws(() => expandEnv('${NOPE}', env), (e: Error) => e instanceof UsageError && /NOPE is not set/.test(e.message));
    assert.throws(() => expandEnv('${A', env), /unterminated/);
    assert.throws(() => expandEnv('${1A}', env), /invalid variable reference "\$\{1A\}"/);
  });

  test('loadConfig: missing file, real file', async () => {
    await assert.rejects(loadConfig('/nonexistent/safepoint.yaml', {}), (e: Error) => {
      assert.ok(e instanceof UsageError);
      assert.equal(e.message, 'config file /nonexistent/safepoint.yaml not found (pass --config or set SAFEPOINT_CONFIG)');
      return true;
    });
    const dir = await mkdtemp(join(tmpdir(), 'safepoint-config-'));
    try {
      const file = join(dir, 'safepoint.yaml');
      await writeFile(file, `${BASE.replace('/var/backups/files', './repo')}`);
      const loaded = await loadConfig(file, {});
      assert.equal(loaded.file, file);
      assert.equal(loaded.dir, dir);
      assert.deepEqual(loaded.repositories.files?.targets.map((t) => t.url), [join(dir, 'repo')]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('findRepository / findSource list the known names', () => {
    const loaded = parseConfig(`${BASE}sources:\n  - { name: web, type: files, repository: files, paths: [ /a ] }\n`, '/x/safepoint.yaml', {});
    assert.equal(findRepository(loaded, 'files').name, 'files');
    assert.equal(findSource(loaded, 'web').name, 'web');
    assert.throws(() => findRepository(loaded, 'fils'), (e: Error) => e instanceof UsageError && e.message === 'repository "fils" is not defined in the configuration (did you mean files? defined: files)');
    assert.throws(() => findSource(loaded, 'zzz'), (e: Error) => e instanceof UsageError && e.message === 'source "zzz" is not defined in the configuration (defined: web)');
  });
});

describe('durations, percentages, schedules', () => {
  const durations: [string, number][] = [
    ['0', 0],
    ['500ms', 500],
    ['30s', 30_000],
    ['15m', 900_000],
    ['1h', 3_600_000],
    ['7d', 604_800_000],
    ['2w', 1_209_600_000],
    ['1h30m', 5_400_000],
    ['1d12h', 129_600_000],
    ['1.5h', 5_400_000],
    [' 10s ', 10_000],
  ];
  for (const [text, ms] of durations) {
    test(`parseDuration(${JSON.stringify(text)}) = ${ms}`, () => assert.equal(parseDuration(text), ms));
  }

  const bad: [string, RegExp][] = [
    ['', /^empty duration/],
    ['10', /"10" has no unit/],
    ['10x', /unknown unit "x"/],
    ['1H', /unknown unit "H"/],
    ['1y', /unknown unit "y"/],
    ['h', /^invalid duration "h"/],
    ['-5m', /must not be negative/],
    ['1h 30m', /^invalid duration "1h 30m"/],
  ];
  for (const [text, message] of bad) {
    test(`parseDuration(${JSON.stringify(text)}) fails`, () => {
      assert.throws(() => parseDuration(text), (e: Error) => e instanceof UsageError && message.test(e.message));
    });
  }

  test('formatDuration round-trips', () => {
    for (const ms of [0, 500, 30_000, 5_400_000, 129_600_000, 1_209_600_000]) assert.equal(parseDuration(formatDuration(ms)), ms);
    assert.equal(formatDuration(5_400_000), '1h30m');
  });

  test('parsePercent', () => {
    assert.equal(parsePercent('10%'), 0.1);
    assert.equal(parsePercent('2.5%'), 0.025);
    assert.equal(parsePercent('100%'), 1);
    assert.throws(() => parsePercent('10'), /invalid percentage "10"/);
    assert.throws(() => parsePercent('150%'), /at most 100%/);
  });

  test('scheduleProblem', () => {
    for (const ok of ['0 2 * * *', '*/15 * * * *', '0 1 * * 1-6', '30 1 * * sun', '0 0 1 jan-mar *', '@daily', 'on-major-commit']) {
      assert.equal(scheduleProblem(ok), undefined, ok);
    }
    assert.match(scheduleProblem('0 2 * *') ?? '', /5 fields/);
    assert.match(scheduleProblem('60 * * * *') ?? '', /minute "60"/);
    assert.match(scheduleProblem('* * * * */0') ?? '', /zero step/);
    assert.match(scheduleProblem('nightly') ?? '', /5 fields/);
  });
});
