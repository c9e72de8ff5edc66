/** `safepoint journal`: the operations recorded in a repository, and whether the chain is whole. */
import type { Command } from 'commander';
import { readJournal, verifyJournal } from '../journal/journal.js';
import { advanceAnchor, readAnchor } from '../journal/anchor.js';
import { shortId } from '../repo/ids.js';
import { IntegrityError } from '../util/errors.js';
import { parseTime } from '../util/time.js';
import { formatBytes, table } from '../util/format.js';
import type { Context } from './context.js';
import { progress } from './progress.js';

export function registerJournal(program: Command, ctx: () => Context): void {
  program
    .command('journal')
    .description('the operations recorded in the repository (drills, checks, rollbacks...), oldest first; --verify checks that no entry was removed or edited')
    .option('--since <time>', 'only entries written at or after this time (ISO 8601)')
    .option('--source <name>', "only this source's entries (the repository is the source's)")
    .option('--verify', 'check the hash chain: exit non-zero when an entry is missing, edited or unreadable')
    .action(async (f: { since?: string; source?: string; verify?: boolean }) => {
      const c = ctx();
      const since = f.since === undefined ? 0 : parseTime(f.since, '--since').getTime();
      await c.withRepository('journal', 'none', async (repo) => {
        const p = progress(c.out, 'journal');
        const { entries, unreadable } = await readJournal(repo, (done, total) => p({ phase: 'reading the journal', done, total }));
        p.end();
        const shown = entries.filter((e) => Date.parse(e.time) >= since && (f.source === undefined || e.source === f.source));
        for (const e of shown) c.out.event({ message_type: 'journal_entry', ...e });
        c.out.info(table([
          ['ID', '#', 'TIME', 'OPERATION', 'SOURCE', 'RESULT', 'HOST', 'DETAIL'],
          ...shown.map((e) => [shortId(e.id), String(e.seq), e.time, e.operation, e.source ?? '-', e.result, e.host, e.error ?? summary(e.figures)]),
        ]));
        if (!f.verify) return;
        const anchor = await readAnchor(repo.config.id);
        const v = verifyJournal(entries, unreadable, anchor);
        // what this host has now seen whole becomes its anchor
        const last = entries.at(-1);
        if (v.ok && last) await advanceAnchor(repo.config.id, { seq: last.seq, id: last.id, time: last.time });
        c.out.event({ message_type: 'journal_verify', ok: v.ok, entries: entries.length, problems: v.problems, notes: v.notes });
        for (const n of v.notes) c.out.info(`note: ${n}`);
        for (const p of v.problems) process.stderr.write(`error: ${p}\n`);
        if (!v.ok) throw new IntegrityError(`the journal is not whole: ${v.problems.length} problems (see above)`);
        c.out.info(`journal verified: ${entries.length} entries, chain unbroken`);
      }, f.source);
    });
}

/** The figures that say most about an operation, in this order. */
const TELLING = ['snapshot_id', 'rto_seconds', 'data_added', 'bytes_restored', 'files_restored', 'total_duration', 'seconds', 'problems', 'checks_failed', 'passed_over'];

/** The figures of an entry in a few words: `snapshot_id=1a2b3c4d data_added=1.2 MiB total_duration=3.1`. */
function summary(figures: Readonly<Record<string, unknown>>): string {
  const show = (k: string, v: unknown): string => (k === 'snapshot_id' && typeof v === 'string' ? shortId(v) : k === 'data_added' || k === 'bytes_restored' ? formatBytes(Number(v)) : typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(2) : String(v));
  const keys = [...TELLING.filter((k) => k in figures), ...Object.keys(figures).filter((k) => !TELLING.includes(k))];
  return keys.filter((k) => typeof figures[k] === 'number' || typeof figures[k] === 'string').slice(0, 4).map((k) => `${k}=${show(k, figures[k])}`).join(' ');
}
