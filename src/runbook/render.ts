/**
 * The runbook's structure: one renderer for every language. Facts come from the configuration and the measured
 * state; every sentence comes from the language's words (words-en.ts, words-fr.ts). Nothing secret is printed:
 * URLs lose their credentials, password files are named, never read.
 */
import type { LoadedConfig } from '../config/load.js';
import { codeSources } from '../config/lookup.js';
import type { SourceConfig } from '../config/schema-sources.js';
import { DEFAULT_MAJOR } from '../git/major.js';
import { DEFAULT_TAG_PREFIX, pointTagName } from '../git/restore-point.js';
import type { SourceStatus } from '../status/status.js';
import { databaseCommands, repoFlag, databaseSources, filesCommands, precision, repositoryCommand, safe, shellWord, testRestoreTarget, type Placeholders } from './commands.js';
import { backupType, checkLines, findings, howOften, majorRule, objective, passwordSource, retention, serviceLines, sourceKind, targetKind, what } from './describe.js';
import { duration, measuredSeconds, schedule, utc } from './format.js';
import { code, MarkdownDoc, type ShellLine, type Step } from './markdown.js';
import type { Words } from './words-en.js';

/** What the repositories say now: each source's status, and the repositories that could not be opened. */
export interface Measurements {
  /** By source name; a source whose repository could not be opened has none. */
  readonly statuses: ReadonlyMap<string, SourceStatus>;
  /** Repository name → why it could not be opened. */
  readonly unavailable: ReadonlyMap<string, string>;
}

export interface RunbookInput {
  readonly config: LoadedConfig;
  readonly words: Words;
  readonly now: Date;
  readonly measurements: Measurements;
  /** The command that writes this document again (shown in the header). */
  readonly regenerate: string;
}

type FilesSource = Extract<SourceConfig, { type: 'files' }>;

/** The whole runbook as Markdown. */
export function renderRunbook(i: RunbookInput): string {
  const { config: cfg, words: w } = i;
  const p: Placeholders = w.placeholders;
  const doc = new MarkdownDoc();
  const when = utc(i.now);

  doc.raw(`<!-- ${w.header.comment(when, cfg.file)} -->`);
  doc.heading(1, w.header.title(cfg.project));
  doc.quote(w.header.generated(when, code(cfg.file), code(i.regenerate)));
  doc.paragraph(w.header.intro);

  beforeYouStart(doc, i, p);
  objectives(doc, i);
  whatWhereHowOften(doc, i);
  repositories(doc, i);
  codeAndConfiguration(doc, i, p);
  databases(doc, i, p);
  rollbackCases(doc, i, p);
  tagConvention(doc, i, p);
  measured(doc, i);
  return doc.toString();
}

// ---- 1. Before you start --------------------------------------------------------------------------------------

function beforeYouStart(doc: MarkdownDoc, i: RunbookInput, p: Placeholders): void {
  const { config: cfg, words: w } = i;
  doc.heading(2, w.before.title);
  doc.paragraph(w.before.config(code(cfg.file)));
  doc.shell([{ command: `export SAFEPOINT_CONFIG=${shellWord(cfg.file)}` }]);
  doc.paragraph(w.before.passwords);
  doc.bullets(Object.entries(cfg.repositories).map(([name, r]) => `${code(name)}${w.colon}${passwordSource(r, w)}`));
  doc.paragraph(w.before.status);
  doc.shell([{ command: 'safepoint status' }]);
  doc.paragraph(w.before.incidents);
  const db = databaseSources(cfg)[0];
  doc.table(w.before.incidentHead, [
    [w.rollback.deployTitle, code(cfg.deploy ? 'safepoint rollback deploy --dry-run' : `safepoint restore code --point ${p.point} --into ${p.dir} --dry-run`), w.before.see(w.rollback.title)],
    [w.rollback.dataTitle, code(db ? databaseCommands(cfg, db, p).rollbackPlan : `safepoint snapshots${cfg.sources[0] ? repoFlag(cfg, cfg.sources[0].repository) : ''}`), w.before.see(w.rollback.title)],
    [w.rollback.attackTitle, code(`safepoint rollback attack --compromised-at ${p.time} --dry-run`), w.before.see(w.rollback.title)],
  ]);
}

// ---- 2. Objectives ----------------------------------------------------------------------------------------------

function objectives(doc: MarkdownDoc, i: RunbookInput): void {
  const { config: cfg, words: w } = i;
  doc.heading(2, w.objectives.title);
  doc.paragraph(w.objectives.intro);
  if (cfg.sources.length === 0) {
    doc.paragraph(w.common.noSources);
    return;
  }
  doc.table(w.objectives.head, cfg.sources.map((s) => [
    code(s.name),
    sourceKind(s, w),
    objective(s.rpo, w),
    objective(s.rto, w),
    s.services.length > 0 ? s.services.map(code).join(', ') : '-',
  ]));
  const missing = cfg.sources.filter((s) => s.rpo === undefined || s.rto === undefined);
  if (missing.length > 0) doc.paragraph(w.objectives.missing(missing.map((s) => code(s.name)).join(', ')));
}

// ---- 3. What is backed up, where and how often -----------------------------------------------------------------

function whatWhereHowOften(doc: MarkdownDoc, i: RunbookInput): void {
  const { config: cfg, words: w } = i;
  doc.heading(2, w.backedUp.title);
  if (cfg.sources.length === 0) {
    doc.paragraph(w.common.noSources);
    return;
  }
  doc.table(w.backedUp.head, cfg.sources.map((s) => [code(s.name), what(s, w), code(s.repository), howOften(s, w), retention(s, w)]));
  doc.paragraph(w.backedUp.retentionNote);
  const verification: string[] = [];
  const d = cfg.drills;
  if (d?.schedule !== undefined) {
    verification.push(w.backedUp.drills(schedule(d.schedule, w), d.sources === 'all' ? w.common.allSources : d.sources.map(code).join(', '), d.sample_older));
  } else verification.push(w.backedUp.noDrills(code('safepoint drill --all')));
  const c = cfg.checks;
  if (c?.schedule !== undefined) verification.push(w.backedUp.checks(schedule(c.schedule, w), c.read_data_subset === undefined ? null : w.percent(Math.round(c.read_data_subset * 1000) / 10)));
  else verification.push(w.backedUp.noChecks(Object.keys(cfg.repositories).map((r) => code(repositoryCommand(cfg, r, 'check --read-data-subset 10%'))).join(', ')));
  doc.paragraph(w.backedUp.verificationTitle);
  doc.bullets(verification);
}

// ---- 4. Repositories and storage targets -----------------------------------------------------------------------

function repositories(doc: MarkdownDoc, i: RunbookInput): void {
  const { config: cfg, words: w } = i;
  doc.heading(2, w.repos.title);
  const entries = Object.entries(cfg.repositories);
  if (entries.length === 0) {
    doc.paragraph(w.repos.none);
    return;
  }
  for (const [name, r] of entries) {
    doc.heading(3, code(name));
    const users = cfg.sources.filter((s) => s.repository === name).map((s) => code(s.name));
    doc.bullets([
      `${w.repos.targets}${w.colon}${r.targets.map((t) => `${code(safe(t.url))} (${targetKind(t.url, w)})`).join(', ')}`,
      w.repos.writes(r.targets.length, r.min_targets),
      `${w.repos.usedBy}${w.colon}${users.length > 0 ? users.join(', ') : '-'}`,
    ]);
    const protection: string[] = [];
    if (r.object_lock) protection.push(w.repos.objectLock(r.object_lock.mode, r.object_lock.days));
    if (r.append_only) protection.push(w.repos.appendOnly);
    if (r.targets.length > 1) protection.push(w.repos.copies(r.targets.length));
    if (r.object_lock === undefined && !r.append_only) protection.push(`**${w.repos.noImmutability}**`);
    if (r.targets.length === 1) protection.push(`**${w.repos.singleTarget}**`);
    if (r.targets.every((t) => targetKind(t.url, w) === w.repos.kinds.local)) protection.push(`**${w.repos.allLocal}**`);
    doc.paragraph(`${w.repos.protection}${w.colon.trimEnd()}`);
    doc.bullets(protection);
    if (r.min_targets < r.targets.length) doc.paragraph(w.repos.sync(code(repositoryCommand(cfg, name, 'sync'))));
  }
}

// ---- 5. Code and configuration ---------------------------------------------------------------------------------

function codeAndConfiguration(doc: MarkdownDoc, i: RunbookInput, p: Placeholders): void {
  const { config: cfg, words: w } = i;
  doc.heading(2, w.code.title);
  const codeSrc = codeSources(cfg).map((s) => code(s.name));
  doc.heading(3, w.code.pointsTitle);
  doc.paragraph(w.code.pointsIntro(codeSrc.length > 0 ? codeSrc.join(', ') : null, cfg.deploy ? code(safe(cfg.deploy.git)) : null));
  doc.steps([
    { text: w.code.listPoints, commands: [{ command: 'safepoint point list --verify' }, { command: 'safepoint point show latest' }] },
    { text: w.code.planCode, commands: [{ command: `safepoint restore code --point ${p.point} --into ${p.dir} --dry-run` }] },
    { text: w.code.runCode, commands: [{ command: `safepoint restore code --point ${p.point} --into ${p.dir}` }] },
    { text: w.code.fromBundle, commands: [{ command: `safepoint restore code --point ${p.point} --into ${p.dir} --from-bundle` }] },
  ]);

  doc.heading(3, w.code.releasesTitle);
  const d = cfg.deploy;
  if (d) {
    doc.paragraph(w.code.releasesIntro(code(d.releases_dir), code(d.current), d.keep_releases));
    doc.steps([
      { text: w.code.listReleases, commands: [{ command: 'safepoint releases' }] },
      { text: w.code.planRollback, commands: [{ command: 'safepoint rollback deploy --dry-run' }] },
      { text: w.code.runRollback, commands: [{ command: 'safepoint rollback deploy' }, { command: `safepoint rollback deploy --to ${p.release}`, comment: w.code.toRelease }] },
    ]);
  } else doc.paragraph(w.code.noDeploy);

  const files = cfg.sources.filter((s): s is FilesSource => s.type === 'files');
  if (files.length === 0) return;
  doc.heading(3, w.code.filesTitle);
  doc.paragraph(w.code.filesIntro);
  for (const s of files) {
    const c = filesCommands(cfg, s, p);
    doc.heading(4, `${code(s.name)}${w.colon}${(s.paths ?? []).map(code).join(', ') || w.code.auditPaths}`);
    doc.steps([
      { text: w.code.filesDrill, commands: [{ command: c.drill }] },
      { text: w.code.filesList, commands: [{ command: c.list }] },
      { text: w.code.filesTest, commands: [{ command: c.testRestore }] },
      { text: w.code.filesOlder, commands: [{ command: c.diffLive }, { command: c.restoreSnapshot }] },
      { text: w.code.filesPlace },
    ]);
  }
}

// ---- 6. Databases --------------------------------------------------------------------------------------------------

function databases(doc: MarkdownDoc, i: RunbookInput, p: Placeholders): void {
  const { config: cfg, words: w } = i;
  doc.heading(2, w.databases.title);
  const dbs = databaseSources(cfg);
  if (dbs.length === 0) {
    doc.paragraph(w.databases.none);
    return;
  }
  doc.paragraph(w.databases.intro);
  for (const s of dbs) {
    const c = databaseCommands(cfg, s, p);
    doc.heading(3, `${code(s.name)}${w.colon}${sourceKind(s, w)}`);
    doc.bullets([
      `${w.databases.what}${w.colon}${what(s, w)}`,
      `${w.databases.repository}${w.colon}${code(s.repository)}`,
      `${w.databases.precision}${w.colon}${w.databases.precisions[precision(s)]}`,
    ]);
    doc.paragraph(s.services.length > 0 ? w.databases.servicesStopped : w.databases.noServices);
    doc.bullets(serviceLines(cfg, s, w));
    doc.paragraph(w.databases.verifiedBy);
    doc.bullets(checkLines(s, w));
    const steps: Step[] = [
      { text: w.databases.stepDrill, commands: [{ command: c.drill }] },
      { text: w.databases.stepList, commands: [{ command: c.list }] },
      {
        text: w.databases.stepTest(code(testRestoreTarget(s))),
        commands: [{ command: c.testRestore }, ...(c.testRestoreAt ? [{ command: c.testRestoreAt, comment: w.databases.orAtTime }] : [])],
      },
      { text: w.databases.stepInPlace(s.services.length > 0 ? s.services.map(code).join(', ') : null), commands: [{ command: c.planInPlace }, { command: c.restoreInPlace }] },
    ];
    if (c.planAt && c.restoreAt) {
      const at: ShellLine[] = [{ command: c.planAt }, { command: c.restoreAt }];
      if (c.restoreToPoint) at.push({ command: c.restoreToPoint, comment: w.databases.toRestorePoint(code(`safepoint point show ${p.point}`)) });
      steps.push({ text: w.databases.stepAt[precision(s)], commands: at });
    }
    steps.push({ text: w.databases.stepSnapshot, commands: [{ command: c.planSnapshot }, { command: c.restoreSnapshot }] });
    steps.push({ text: w.databases.stepUndo[s.type === 'sqlite' ? 'safety' : s.mode === 'physical' ? 'movedAside' : 'before'], commands: s.type === 'sqlite' || s.mode === 'logical' ? [{ command: c.safetyList }] : [] });
    doc.steps(steps);
    if (s.type === 'postgres' && s.mode === 'physical') doc.paragraph(w.databases.pgStart(code('--start --port 5433')));
    if (s.type === 'mariadb' && s.mode === 'physical') doc.paragraph(w.databases.binlogNote(code(`safepoint mariadb binlog-sync --source ${s.name}`)));
    if (s.type === 'postgres' && s.mode === 'physical' && !s.wal_archiving) doc.paragraph(w.databases.noWal(code('wal_archiving: true')));
  }
}

// ---- 7. The three rollback cases ---------------------------------------------------------------------------------

function rollbackCases(doc: MarkdownDoc, i: RunbookInput, p: Placeholders): void {
  const { config: cfg, words: w } = i;
  const dbs = databaseSources(cfg);
  const repoNames = Object.keys(cfg.repositories);
  doc.heading(2, w.rollback.title);

  // 7.1 failed deployment
  doc.heading(3, w.rollback.deployTitle);
  const d = cfg.deploy;
  if (d) {
    if (d.auto_rollback) doc.paragraph(w.rollback.autoRollback(code('safepoint deploy --auto-rollback'), duration(d.auto_rollback.window, w), d.auto_rollback.failure_limit, duration(d.auto_rollback.interval, w)));
    const health = d.health === undefined ? null : code('url' in d.health ? `${safe(d.health.url)} → ${d.health.expect}` : safe(d.health.command));
    const migrations = dbs.map((s) => (precision(s) === 'wal' ? databaseCommands(cfg, s, p).restoreToPoint! : databaseCommands(cfg, s, p).rollbackPlan));
    doc.steps([
      { text: w.rollback.deploySee, commands: [{ command: 'safepoint releases' }] },
      { text: w.rollback.deployPlan, commands: [{ command: 'safepoint rollback deploy --dry-run' }] },
      { text: w.rollback.deployRun(health), commands: [{ command: 'safepoint rollback deploy' }, { command: `safepoint rollback deploy --to ${p.release}`, comment: w.code.toRelease }] },
      { text: dbs.length > 0 ? w.rollback.deployMigrations : w.rollback.deployNoDatabases, commands: migrations.map((command) => ({ command })) },
      { text: w.rollback.checkStatus, commands: [{ command: 'safepoint status' }] },
    ]);
  } else {
    doc.paragraph(w.rollback.deployNotConfigured);
    doc.steps([
      { text: w.code.listPoints, commands: [{ command: 'safepoint point list --verify' }] },
      { text: w.code.runCode, commands: [{ command: `safepoint restore code --point ${p.point} --into ${p.dir}` }] },
      { text: w.rollback.deploySwitchByHand },
    ]);
  }

  // 7.2 data corruption
  doc.heading(3, w.rollback.dataTitle);
  if (dbs.length > 0) {
    doc.steps([
      { text: w.rollback.dataStop },
      { text: w.rollback.dataWhen, commands: [...dbs.map((s) => ({ command: databaseCommands(cfg, s, p).list })), ...[...new Set(dbs.map((s) => s.repository))].map((r) => ({ command: repositoryCommand(cfg, r, 'scan') }))] },
      { text: w.rollback.dataTest, commands: dbs.map((s) => ({ command: databaseCommands(cfg, s, p).testRestoreAt ?? databaseCommands(cfg, s, p).testRestore })) },
      { text: w.rollback.dataPlan, commands: dbs.map((s) => ({ command: databaseCommands(cfg, s, p).rollbackPlan })) },
      { text: w.rollback.dataRun, commands: dbs.map((s) => ({ command: databaseCommands(cfg, s, p).rollback })) },
      { text: w.rollback.dataCheck, commands: [{ command: 'safepoint status' }] },
    ]);
    doc.table(w.rollback.dataHead, dbs.map((s) => [code(s.name), w.databases.precisions[precision(s)], code(databaseCommands(cfg, s, p).rollbackScripted)]));
  } else doc.paragraph(w.rollback.dataNoDatabases);
  const files = cfg.sources.filter((s): s is FilesSource => s.type === 'files');
  if (files.length > 0) doc.paragraph(w.rollback.dataFiles(files.map((s) => code(s.name)).join(', ')));

  // 7.3 security attack
  doc.heading(3, w.rollback.attackTitle);
  const locked = Object.entries(cfg.repositories).filter(([, r]) => r.object_lock !== undefined).map(([n]) => n);
  const attackSteps: Step[] = [
    { text: w.rollback.attackContain },
    { text: w.rollback.attackScan, commands: repoNames.map((r) => ({ command: repositoryCommand(cfg, r, 'scan') })) },
    { text: w.rollback.attackWhen, commands: repoNames.map((r) => ({ command: repositoryCommand(cfg, r, `journal --since ${p.time}`) })) },
    { text: w.rollback.attackPlan(code(`--accept ${p.snapshot}`)), commands: [{ command: `safepoint rollback attack --compromised-at ${p.time} --dry-run` }] },
    { text: w.rollback.attackRun(d !== undefined), commands: [{ command: `safepoint rollback attack --compromised-at ${p.time} --force` }] },
    { text: w.rollback.attackVerify, commands: [{ command: 'safepoint status' }, ...repoNames.flatMap((r) => [{ command: repositoryCommand(cfg, r, 'journal --verify') }, { command: repositoryCommand(cfg, r, 'check --read-data') }])] },
  ];
  if (locked.length > 0) attackSteps.push({ text: w.rollback.attackRevert, commands: locked.map((r) => ({ command: `safepoint repair revert --repo ${shellWord(r)} --to ${p.time}` })) });
  attackSteps.push({ text: w.rollback.attackRotate, commands: repoNames.map((r) => ({ command: repositoryCommand(cfg, r, 'key list') })) });
  doc.steps(attackSteps);
}

// ---- 8. Restore-point tags --------------------------------------------------------------------------------------

function tagConvention(doc: MarkdownDoc, i: RunbookInput, p: Placeholders): void {
  const { config: cfg, words: w, now } = i;
  const prefix = cfg.deploy?.restore_points?.tag_prefix ?? DEFAULT_TAG_PREFIX;
  const configured = cfg.deploy?.restore_points?.major ?? [];
  const rules = configured.length > 0 ? configured : [...DEFAULT_MAJOR];
  doc.heading(2, w.tags.title);
  doc.paragraph(w.tags.intro);
  doc.text([`${prefix}<YYYYMMDDTHHMMSSZ>[-${p.label}]`, pointTagName(prefix, now, null), pointTagName(prefix, now, 'v1.4.0')]);
  doc.bullets([w.tags.prefix(code(prefix)), w.tags.time, w.tags.label, w.tags.message]);
  doc.paragraph(w.tags.majorIntro(configured.length === 0));
  doc.bullets(rules.map((r) => `${code(r)}${w.colon}${majorRule(r, w)}`));
  doc.steps([
    { text: w.tags.install, commands: [{ command: 'safepoint hooks install' }] },
    { text: w.tags.manual, commands: [{ command: `safepoint point create --label ${p.label}` }] },
    { text: w.tags.push, commands: [{ command: `git push origin --tags` }] },
  ]);
}

// ---- 9. Measured ------------------------------------------------------------------------------------------------------

function measured(doc: MarkdownDoc, i: RunbookInput): void {
  const { config: cfg, words: w, now, measurements: ms } = i;
  const m = w.measured;
  doc.heading(2, m.title);
  doc.paragraph(m.intro(utc(now), code('safepoint status')));
  for (const [name, error] of ms.unavailable) {
    const affected = cfg.sources.filter((s) => s.repository === name).map((s) => code(s.name));
    doc.quote(`**${m.unavailable(code(name), affected.join(', '))}** ${code(safe(error))}`);
  }
  const rows = cfg.sources.map((s) => {
    const st = ms.statuses.get(s.name);
    if (!st) return [code(s.name), m.unknown, '-', `- / ${objective(s.rpo, w)}`, '-', `- / ${objective(s.rto, w)}`, '-'];
    const exposure = st.exposure_seconds === null ? m.never : `${duration(st.exposure_seconds * 1000, w)}${st.exposure_from !== null && st.exposure_from !== 'backup' ? ` (${m.exposureFrom[st.exposure_from]})` : ''}`;
    const dr = st.last_drill;
    return [
      code(s.name),
      `**${m.verdicts[st.verdict]}**`,
      st.last_backup ? `${utc(st.last_backup.time)} (${backupType(st.last_backup.type, w)})` : m.never,
      `${exposure} / ${objective(s.rpo, w)}`,
      dr ? `${utc(dr.time)}${w.colon}${dr.ok ? m.passed : m.failed}` : m.never,
      `${dr?.rto_seconds === null || dr === null ? '-' : measuredSeconds(dr.rto_seconds, w)} / ${objective(s.rto, w)}`,
      st.last_check ? `${utc(st.last_check.time)}${w.colon}${st.last_check.ok ? m.passed : m.failed}` : m.never,
    ];
  });
  if (rows.length > 0) doc.table(m.head, rows);
  const notes = cfg.sources.flatMap((s) => {
    const st = ms.statuses.get(s.name);
    return st ? findings(st, now, w, repositoryCommand(cfg, s.repository, 'check')).map((f) => `${code(s.name)}${w.colon}${f}`) : [];
  });
  if (notes.length > 0) {
    doc.paragraph(m.findingsTitle);
    doc.bullets(notes);
  }
}
