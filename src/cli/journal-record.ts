/** Writing one operation's entry into the journal of the repository it concerns, from a command. */
import type { JournalRecord } from '../journal/journal.js';
import { appendJournal } from '../journal/journal.js';
import { errorMessage } from '../util/errors.js';
import type { Context } from './context.js';

/**
 * Appends `record` to the journal of the source's repository (else the named one, else the only one). Journaling
 * never fails the operation it records: a repository that cannot take the entry gives a warning.
 */
export async function recordOperation(c: Context, record: JournalRecord, where: { source?: string; repository?: string } = {}): Promise<void> {
  try {
    await c.withRepository(record.operation, 'none', async (repo) => {
      const w = await appendJournal(repo, record);
      if ('error' in w) c.out.warn(w.error);
    }, where.source, where.repository !== undefined ? { repository: where.repository } : {});
  } catch (err) {
    c.out.warn(`${record.operation} was not recorded in the journal: ${errorMessage(err)}`);
  }
}
