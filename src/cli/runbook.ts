/**
 * `safepoint runbook [--lang en|fr] [--out FILE]`: writes the team's backup and restore procedures for this
 * configuration (docs/rollback-procedures.md beside the config by default), with the latest measured RPO/RTO and
 * drill results read from the repositories. A repository that cannot be opened is reported in the document.
 */
import type { Command } from 'commander';
import { writeAtomically } from '../util/write-atomic.js';
import { join, resolve } from 'node:path';
import { findRepository } from '../config/lookup.js';
import { shellWord } from '../runbook/commands.js';
import { isLang, LANGUAGES, renderRunbook, type Measurements } from '../runbook/index.js';
import { sourceStatus, type SourceStatus } from '../status/status.js';
import { errorMessage, UsageError, UserError } from '../util/errors.js';
import { stripCredentials } from '../util/secret.js';
import type { Context } from './context.js';
import { readRepositories } from './status.js';

export const DEFAULT_RUNBOOK_FILE = 'docs/rollback-procedures.md';

interface RunbookFlags {
  lang: string;
  out?: string;
}

export function registerRunbook(program: Command, ctx: () => Context): void {
  program
    .command('runbook')
    .description(`write the backup and restore procedures of this configuration (objectives, what is backed up where, storage protection, exact restore and rollback commands per source, restore-point tags, latest measured RPO/RTO and drills) into ${DEFAULT_RUNBOOK_FILE} beside the config`)
    .option('--lang <lang>', `language: ${Object.keys(LANGUAGES).join(' or ')}`, 'en')
    .option('--out <file>', `where to write it (default: ${DEFAULT_RUNBOOK_FILE} in the config file's folder; "-" prints it)`)
    .action(async (f: RunbookFlags) => {
      process.exitCode = await runRunbook(ctx(), f);
    });
}

async function runRunbook(c: Context, f: RunbookFlags): Promise<number> {
  const lang = f.lang;
  if (!isLang(lang)) throw new UsageError(`--lang ${lang}: expected ${Object.keys(LANGUAGES).join(' or ')}`);
  const cfg = await c.requireConfig();
  const toStdout = f.out === '-';
  const outFile = toStdout ? null : f.out !== undefined ? resolve(f.out) : join(cfg.dir, DEFAULT_RUNBOOK_FILE);

  const states = await readRepositories(c, cfg.sources, { operation: 'runbook', events: false });
  const now = new Date();
  const statuses = new Map<string, SourceStatus>();
  const unavailable = new Map<string, string>();
  for (const source of cfg.sources) {
    const st = states.get(source.repository);
    if (!st) continue;
    if (st.error !== undefined) {
      unavailable.set(source.repository, stripCredentials(st.error));
      continue;
    }
    statuses.set(source.name, sourceStatus({ source, repository: findRepository(cfg, source.repository), snapshots: st.snapshots, journal: st.journal, appendOnlyKey: st.appendOnlyKey, now }));
  }
  const measurements: Measurements = { statuses, unavailable };
  for (const [name, error] of unavailable) c.out.warn(`repository ${name} cannot be opened (${error}): the runbook says so`);

  const outArg = f.out === undefined || toStdout ? '' : ` --out ${shellWord(outFile!)}`;
  const regenerate = `safepoint --config ${shellWord(cfg.file)} runbook --lang ${lang}${outArg}`;
  const markdown = renderRunbook({ config: cfg, words: LANGUAGES[lang], now, measurements, regenerate });
  if (toStdout) {
    process.stdout.write(markdown);
    return 0;
  }
  await writeDocument(outFile!, markdown);
  c.out.event({ message_type: 'summary', out: outFile, lang, config: cfg.file, sources: cfg.sources.length, unavailable_repositories: [...unavailable.keys()], time: now.toISOString() });
  c.out.info(`wrote ${outFile} (${lang}, ${cfg.sources.length} sources${unavailable.size > 0 ? `; repositories not opened: ${[...unavailable.keys()].join(', ')}` : ''})`);
  return 0;
}

/** The document written whole or not at all; a failure says where and what to do. */
async function writeDocument(file: string, text: string): Promise<void> {
  try {
    await writeAtomically(file, text);
  } catch (err) {
    throw new UserError(`cannot write the runbook to ${file}: ${errorMessage(err)} (pass --out FILE, or --out - to print it)`, { cause: err });
  }
}
