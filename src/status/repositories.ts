/**
 * Reading what the status, the report, the runbook and the daemon judge sources by: each repository's snapshots
 * and journal, opened once however many sources it holds, without a lock (nothing is written). A repository that
 * cannot be opened gives its error instead, so one bad repository does not hide the others.
 */
import type { SourceConfig } from '../config/schema-sources.js';
import { readJournal, type JournalEntryWithId } from '../journal/journal.js';
import type { Repository } from '../repo/repository.js';
import { loadSnapshots, type SnapshotWithId } from '../repo/snapshot.js';
import { errorMessage } from '../util/errors.js';

/** Opens a repository of the config by name (the CLI's Context does, with the password it was given). */
export interface RepositoryOpener {
  withRepository<T>(operation: string, lock: 'shared' | 'exclusive' | 'none', fn: (repo: Repository) => Promise<T>, sourceName?: string, o?: { allTargets?: boolean; repository?: string }): Promise<T>;
}

/** What a repository holds that the status needs; `error` when it cannot be opened. */
export interface RepositoryState {
  readonly snapshots: SnapshotWithId[];
  readonly journal: JournalEntryWithId[];
  readonly appendOnlyKey: boolean;
  readonly error?: string;
}

export interface ReadHooks {
  /** A snapshot that cannot be decrypted or parsed: left out, and said. */
  onDamaged?(id: string, err: unknown): void;
  onProgress?(phase: string, done: number, total: number): void;
}

export async function readRepositories(opener: RepositoryOpener, sources: readonly SourceConfig[], hooks: ReadHooks = {}): Promise<Map<string, RepositoryState>> {
  const states = new Map<string, RepositoryState>();
  for (const name of new Set(sources.map((s) => s.repository))) {
    try {
      states.set(name, await opener.withRepository('status', 'none', async (repo) => ({
        snapshots: await loadSnapshots(repo, {}, hooks.onDamaged, (done, total) => hooks.onProgress?.(`repository ${name}: reading snapshots`, done, total)),
        journal: (await readJournal(repo, (done, total) => hooks.onProgress?.(`repository ${name}: reading the journal`, done, total))).entries,
        appendOnlyKey: repo.appendOnly,
      }), undefined, { repository: name }));
    } catch (err) {
      states.set(name, { snapshots: [], journal: [], appendOnlyKey: false, error: errorMessage(err) });
    }
  }
  return states;
}
