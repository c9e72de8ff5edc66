/** Writing one operation's entry into the journal of the repository it concerns, from a command. */
import type { JournalRecord } from '../journal/journal.js';
import { appendJournal } from '../journal/journal.js';
import { errorMessage } from '../util/errors.js';
import type { Context } from './context.js';

/**
 * Appends `record` to the journal of the source's repository (else the named one, else the only one). Journaling
 * never fails the operation it records: a repository that cannot take the entry gives a warning.
 */
export async function recordOperation(c: Context, record: JournalRecord, where: { source?: string; repository?: string | undefined; quiet?: boolean } = {}): Promise<void> {
  // an operation that failed for want of its repository has nowhere to be recorded: no second warning for that
  const warn = (m: string): void => (where.quiet ? c.log?.warn(m) : c.out.warn(m));
  try {
    await c.withRepository(record.operation, 'none', async (repo) => {
      const w = await appendJournal(repo, { ...record, op_id: record.op_id ?? c.opId });
      if ('error' in w) warn(w.error);
    }, where.source, where.repository !== undefined ? { repository: where.repository } : {});
  } catch (err) {
    warn(`${record.operation} was not recorded in the journal: ${errorMessage(err)}`);
  }
}
