/** `safepoint journal`: the operations recorded in a repository, and whether the chain is whole. */
import type { Command } from 'commander';
import { readJournal, verifyJournal } from '../journal/journal.js';
import { shortId } from '../repo/ids.js';
import { IntegrityError, UsageError } from '../util/errors.js';
import { table } from '../util/format.js';
import type { Context } from './context.js';

export function registerJournal(program: Command, ctx: () => Context): void {
  program
    .command('journal')
    .description('the operations recorded in the repository (drills, checks, rollbacks...), oldest first; --verify checks that no entry was removed or edited')
    .option('--since <time>', 'only entries written at or after this time (ISO 8601)')
    .option('--source <name>', "only this source's entries (the repository is the source's)")
    .option('--verify', 'check the hash chain: exit non-zero when an entry is missing, edited or unreadable')
    .action(async (f: { since?: string; source?: string; verify?: boolean }) => {
      const c = ctx();
      const since = f.since === undefined ? 0 : Date.parse(f.since);
      if (Number.isNaN(since)) throw new UsageError(`--since ${f.since}: expected a time such as 2026-11-29T04:00:00Z`);
      await c.withRepository('journal', 'none', async (repo) => {
        const { entries, unreadable } = await readJournal(repo);
        const shown = entries.filter((e) => Date.parse(e.time) >= since && (f.source === undefined || e.source === f.source));
        for (const e of shown) c.out.event({ message_type: 'journal_entry', ...e });
        c.out.info(table([
          ['ID', '#', 'TIME', 'OPERATION', 'SOURCE', 'RESULT', 'HOST', 'DETAIL'],
          ...shown.map((e) => [shortId(e.id), String(e.seq), e.time, e.operation, e.source ?? '-', e.result, e.host, e.error ?? summary(e.figures)]),
        ]));
        if (!f.verify) return;
        const v = verifyJournal(entries, unreadable);
        c.out.event({ message_type: 'journal_verify', ok: v.ok, entries: entries.length, problems: v.problems, notes: v.notes });
        for (const n of v.notes) c.out.info(`note: ${n}`);
        for (const p of v.problems) process.stderr.write(`error: ${p}\n`);
        if (!v.ok) throw new IntegrityError(`the journal is not whole: ${v.problems.length} problems (see above)`);
        c.out.info(`journal verified: ${entries.length} entries, chain unbroken`);
      }, f.source);
    });
}

/** The figures of an entry in a few words: `rto_seconds=1.2 checks=4`. */
function summary(figures: Readonly<Record<string, unknown>>): string {
  return Object.entries(figures).filter(([, v]) => typeof v === 'number' || typeof v === 'string').slice(0, 4).map(([k, v]) => `${k}=${String(v)}`).join(' ');
}
