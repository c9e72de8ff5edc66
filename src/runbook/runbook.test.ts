import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import type { Command, Option } from 'commander';
import { buildProgram } from '../cli/program.js';
import { loadConfig, type LoadedConfig } from '../config/load.js';
import type { SourceStatus } from '../status/status.js';
import { cronWords, duration, measuredSeconds } from './format.js';
import { LANGUAGES, renderRunbook, type Lang, type Measurements } from './index.js';

const EXAMPLE = process.env.SAFEPOINT_EXAMPLE_CONFIG ?? fileURLToPath(new URL('../../../../shared/safepoint.example.yaml', import.meta.url));
const NOW = new Date('2026-11-29T10:00:00Z');

const S3_KEY = 'AKIAEXAMPLEKEY7';
const S3_SECRET = 'Sup3rS3cretPassw0rd';
const SFTP_SECRET = 'SftpPassw0rd9';
const GIT_TOKEN = 'ghp_T0kenNotToShow';
const PASSWORD = 'correct-horse-battery-staple';

/** The example configuration with credentials in its URLs and its password in a real password file. */
async function exampleWithSecrets(dir: string): Promise<LoadedConfig> {
  const passwordFile = join(dir, 'password');
  await writeFile(passwordFile, `${PASSWORD}\n`);
  let text = await readFile(EXAMPLE, 'utf8');
  const swaps: [RegExp, string][] = [
    [/s3:https:\/\/([^\s/]+)\//, `s3:https://${S3_KEY}:${S3_SECRET}@$1/`],
    [/sftp:\/\/([^\s@/]+)@/, `sftp://$1:${SFTP_SECRET}@`],
    [/git: \S+/, `git: https://deploy:${GIT_TOKEN}@github.com/acme/shop.git`],
    [/password_file: \S+/g, `password_file: ${passwordFile}`],
  ];
  for (const [re, by] of swaps) {
    assert.match(text, re, `the example no longer has ${re}`);
    text = text.replace(re, by);
  }
  const file = join(dir, 'safepoint.yaml');
  await writeFile(file, text);
  // ${NAME} references the example may gain: any value will do
  const env = Object.fromEntries([...text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => [m[1]!, 'example']));
  return loadConfig(file, env);
}

function status(source: string, type: SourceStatus['type'], repository: string, o: Partial<SourceStatus> = {}): SourceStatus {
  return {
    source,
    type,
    repository,
    last_backup: { snapshot_id: 'a'.repeat(64), time: '2026-11-29T09:30:00.000Z', type: 'full' },
    exposure_seconds: 1800,
    exposure_from: 'backup',
    rpo_seconds: 3600,
    last_check: { time: '2026-11-28T03:00:00.000Z', ok: true, read_data_share: 0.1 },
    last_drill: { time: '2026-11-28T04:00:00.000Z', ok: true, snapshot_id: 'a'.repeat(64), rto_seconds: 3.456, error: null },
    rto_seconds: 14_400,
    immutability: { state: 'none', detail: '' },
    verdict: 'ok',
    reasons: [],
    ...o,
  };
}

/** The `files` repository could not be opened; the `db` one was read. */
function measurements(): Measurements {
  return {
    statuses: new Map([
      ['shop-db', status('shop-db', 'postgres', 'db')],
      ['billing-db', status('billing-db', 'mariadb', 'db', { last_drill: null, verdict: 'at risk' })],
      ['sessions', status('sessions', 'sqlite', 'db', { rpo_seconds: 60, exposure_seconds: 7200, exposure_from: 'replication', last_drill: { time: '2026-11-28T04:00:00.000Z', ok: false, snapshot_id: null, rto_seconds: null, error: 'integrity_check failed' }, verdict: 'violated' })],
    ]),
    unavailable: new Map([['files', `s3:https://${S3_KEY}:${S3_SECRET}@s3.example.com/b: get config: access denied`]]),
  };
}

function render(cfg: LoadedConfig, lang: Lang): string {
  return renderRunbook({ config: cfg, words: LANGUAGES[lang], now: NOW, measurements: measurements(), regenerate: `safepoint --config ${cfg.file} runbook --lang ${lang}` });
}

/** Every `safepoint ...` line of the document's shell blocks. */
function commandLines(doc: string): string[] {
  const out: string[] = [];
  let inBlock = false;
  for (const line of doc.split('\n').map((l) => l.trim())) {
    if (line.startsWith('```')) inBlock = !inBlock;
    else if (inBlock && line.startsWith('safepoint ')) out.push(line);
  }
  return out;
}

/** Checks a command line against the real command tree: each subcommand exists, each --option belongs to it. */
function checkCommand(program: Command, line: string): void {
  const tokens = line.split(/\s+/).slice(1);
  let cmd = program;
  const known = (c: Command, flag: string): Option | undefined => c.options.find((o) => o.long === flag || o.short === flag);
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.startsWith('-')) {
      const opt = known(cmd, t) ?? known(program, t);
      assert.ok(opt, `${line}: ${cmd.name()} has no option ${t}`);
      if (opt.required || opt.optional) {
        if (opt.required) assert.ok(tokens[i + 1] !== undefined && !tokens[i + 1]!.startsWith('--'), `${line}: ${t} needs a value`);
        if (tokens[i + 1] !== undefined && !tokens[i + 1]!.startsWith('--')) i++;
      }
      continue;
    }
    const sub = cmd.commands.find((c) => c.name() === t);
    if (sub) cmd = sub;
  }
  assert.notEqual(cmd, program, `${line}: no subcommand`);
}

describe('the runbook of the example configuration', { skip: existsSync(EXAMPLE) ? false : `example config ${EXAMPLE} not found (set SAFEPOINT_EXAMPLE_CONFIG)` }, () => {
  let dir: string;
  let cfg: LoadedConfig;
  const docs = {} as Record<Lang, string>;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sp-runbook-'));
    cfg = await exampleWithSecrets(dir);
    docs.en = render(cfg, 'en');
    docs.fr = render(cfg, 'fr');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('starts with the generated-by header: time, config file, do not edit', () => {
    const [comment, , title, , notice] = docs.en.split('\n');
    assert.equal(comment, `<!-- Generated by safepoint runbook at 2026-11-29 10:00:00 UTC from ${cfg.file}. Do not edit by hand: re-run safepoint runbook instead. -->`);
    assert.equal(title, '# Backup and restore procedures: shop');
    assert.match(notice!, /^> Generated by `safepoint runbook` at 2026-11-29 10:00:00 UTC from `.*safepoint\.yaml`\. Do not edit this file by hand: .* re-run `safepoint --config .* runbook --lang en`/);
    assert.match(docs.fr.split('\n')[4]!, /^> Généré par `safepoint runbook` le 2026-11-29 10:00:00 UTC à partir de `.*safepoint\.yaml`\. Ne modifiez pas ce fichier à la main/);
  });

  for (const lang of ['en', 'fr'] as const) {
    test(`${lang}: every source appears with its exact commands`, () => {
      const doc = docs[lang];
      const { time, snapshot } = LANGUAGES[lang].placeholders;
      for (const s of cfg.sources) {
        assert.ok(doc.includes(`safepoint drill --source ${s.name}\n`), `${s.name}: drill`);
        assert.ok(doc.includes(`| \`${s.name}\` |`), `${s.name}: in the tables`);
      }
      const expected = [
        // files sources: test restore into a new folder, by the repository's name (there are two repositories)
        'safepoint restore latest --source code-config --target /var/tmp/safepoint-restore-test/code-config --verify --repo files',
        'safepoint restore latest --source uploads --target /var/tmp/safepoint-restore-test/uploads --verify --repo files',
        `safepoint diff ${snapshot} --live --repo files`,
        // PostgreSQL physical with WAL archiving: test restore, PITR, restore point, in place
        'safepoint restore --source shop-db --into /var/tmp/safepoint-restore-test/shop-db',
        `safepoint restore --source shop-db --target-time ${time} --into /var/tmp/safepoint-restore-test/shop-db`,
        `safepoint restore --source shop-db --target-time ${time} --dry-run`,
        `safepoint restore --source shop-db --target-time ${time} --force`,
        `safepoint restore --source shop-db --target-name ${LANGUAGES[lang].placeholders.restorePoint} --force`,
        'safepoint restore --source shop-db --dry-run',
        'safepoint restore --source shop-db --force',
        'safepoint snapshots --source shop-db --wal --repo db',
        // MariaDB physical: binlog replay
        `safepoint restore --source billing-db --target-time ${time} --into /var/tmp/safepoint-restore-test/billing-db`,
        'safepoint mariadb binlog-sync --source billing-db',
        // SQLite with replication: a file as the copy
        'safepoint restore --source sessions --into /var/tmp/safepoint-restore-test/sessions/sessions.db',
        `safepoint restore --source sessions --target-time ${time} --force`,
        'safepoint snapshots --source sessions --tag safety --repo db',
        // the three rollback cases
        'safepoint rollback deploy --dry-run',
        `safepoint rollback deploy --to ${LANGUAGES[lang].placeholders.release}`,
        ...['shop-db', 'billing-db', 'sessions'].flatMap((s) => [`safepoint rollback data --source ${s} --to ${time} --dry-run`, `safepoint rollback data --source ${s} --to ${time}\n`, `safepoint rollback data --source ${s} --to ${time} --force`]),
        'safepoint scan --repo files',
        'safepoint scan --repo db',
        `safepoint rollback attack --compromised-at ${time} --dry-run`,
        `safepoint rollback attack --compromised-at ${time} --force`,
        `safepoint repair revert --repo files --to ${time}`,
        'safepoint check --read-data --repo db',
        // code
        `safepoint restore code --point ${LANGUAGES[lang].placeholders.point} --into ${LANGUAGES[lang].placeholders.dir} --from-bundle`,
        `export SAFEPOINT_CONFIG=${cfg.file}`,
      ];
      for (const e of expected) assert.ok(doc.includes(e), `${lang}: missing ${JSON.stringify(e)}`);
      // the services stopped around a restore of the two server databases, with their commands
      assert.equal(doc.match(/`shop-api`[^\n]*`systemctl stop shop-api`[^\n]*`systemctl start shop-api`/g)?.length, 2);
      // the restore-point tags: prefix, a name made now, the major-commit rules
      assert.ok(doc.includes('restore-point/20261129T100000Z-v1.4.0'));
      for (const rule of ['tag:v*', 'merge:main', 'breaking']) assert.ok(doc.includes(`\`${rule}\``), rule);
    });

    test(`${lang}: every command is one the CLI accepts (subcommands and options exist)`, async () => {
      const program = await buildProgram();
      const lines = commandLines(docs[lang]);
      assert.ok(lines.length > 60, `only ${lines.length} commands`);
      for (const line of lines) checkCommand(program, line);
    });

    test(`${lang}: no secret appears`, () => {
      const doc = docs[lang];
      for (const secret of [S3_KEY, S3_SECRET, SFTP_SECRET, GIT_TOKEN, PASSWORD, 'deploy:']) assert.ok(!doc.includes(secret), `${lang}: ${secret} leaked`);
      // the targets are still named, without their credentials; the password file by its path only
      assert.ok(doc.includes('`s3:https://s3.eu-west-3.amazonaws.com/acme-backups/shop/files`'));
      assert.ok(doc.includes('`sftp://nas.internal:22/srv/safepoint/db`'));
      assert.ok(doc.includes(`\`${join(dir, 'password')}\``));
    });

    test(`${lang}: objectives, protection and the measured figures`, () => {
      const doc = docs[lang];
      const w = LANGUAGES[lang];
      assert.ok(doc.includes(`| \`shop-db\` | PostgreSQL (${w.kinds.modes.physical}, ${w.kinds.walArchiving}) | ${duration(3_600_000, w)} | ${duration(14_400_000, w)} | \`shop-api\` |`));
      assert.ok(doc.includes('S3 Object Lock'));
      assert.ok(doc.includes(w.repos.noImmutability), 'the db repository has no immutability');
      // the drill's measured RTO, the unopened repository, the failed drill
      assert.ok(doc.includes(`${measuredSeconds(3.456, w)} / ${duration(14_400_000, w)}`));
      assert.ok(doc.includes(w.measured.unavailable('`files`', '`code-config`, `uploads`')));
      assert.ok(doc.includes('integrity_check failed'));
      assert.ok(doc.includes(`**${w.measured.verdicts.violated}**`));
    });
  }

  test('fr: French throughout — no English section title left, the expected vocabulary', () => {
    const words = (heading: string): string => heading.replace(/`[^`]*`/g, '').replace(/[^\p{L}]+/gu, ' ').trim();
    const enHeadings = docs.en.split('\n').filter((l) => /^#+ /.test(l) && words(l) !== '');
    assert.ok(enHeadings.length >= 15);
    const frHeadings = new Set(docs.fr.split('\n').filter((l) => /^#+ /.test(l)).map(words));
    for (const h of enHeadings) assert.ok(!frHeadings.has(words(h)), `English heading left in French: ${h}`);
    for (const term of ['sauvegarde', 'restauration', 'point de restauration', 'objectif de point de reprise (RPO)', "durée maximale d'interruption (RTO)", 'Retour arrière', 'exercice de restauration']) {
      assert.ok(docs.fr.toLowerCase().includes(term.toLowerCase()), term);
    }
    // French punctuation and numbers
    assert.ok(docs.fr.includes('3,46 s'));
    assert.ok(docs.fr.includes('`shop-db` : PostgreSQL'));
    assert.ok(!/\b(the|and|every|restore the|backup of)\b/.test(docs.fr.replace(/`[^`]*`/g, '').replace(/```sh[\s\S]*?```/g, '').replace(/> \*\*Le dépôt[^\n]*/g, '')));
  });
});

test('the French words have every key of the English ones, and no other', () => {
  const shape = (o: unknown): unknown =>
    o !== null && typeof o === 'object' && !Array.isArray(o) ? Object.fromEntries(Object.entries(o).map(([k, v]) => [k, shape(v)])) : typeof o;
  assert.deepEqual(shape(LANGUAGES.fr), shape(LANGUAGES.en));
});

test('durations, measured seconds and schedules in both languages', () => {
  const { en, fr } = LANGUAGES;
  assert.equal(duration(86_400_000, en), '24 hours');
  assert.equal(duration(3 * 86_400_000 + 4 * 3_600_000, fr), '3 jours 4 heures');
  assert.equal(duration(5_400_000, fr), '1 heure 30 minutes');
  assert.equal(duration(10_000, en), '10 seconds');
  assert.equal(measuredSeconds(0.4213, en), '0.42 s');
  assert.equal(measuredSeconds(0.4213, fr), '0,42 s');
  assert.equal(measuredSeconds(185, en), '3 minutes 5 seconds');
  assert.equal(cronWords('0 2 * * *', en), 'every day at 02:00');
  assert.equal(cronWords('0 2 * * *', fr), 'tous les jours à 2 h 00');
  assert.equal(cronWords('0 1 * * 1-6', fr), 'du lundi au samedi à 1 h 00');
  assert.equal(cronWords('30 1 * * sun', en), 'every Sunday at 01:30');
  assert.equal(cronWords('0 */6 * * *', en), 'every 6 hours, at minute 0');
  assert.equal(cronWords('*/15 * * * *', fr), 'toutes les 15 minutes');
  assert.equal(cronWords('@weekly', fr), 'tous les dimanches à minuit');
  assert.equal(cronWords('0 2 1-7 * 1', en), null);
});
