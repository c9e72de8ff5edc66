/**
 * The operations journal (format §13): one encrypted JSON object per operation under `journal/<id>` in the
 * repository it concerns, each naming the id of the entry before it. Object ids are the SHA-256 of the stored
 * bytes, so an edited entry no longer matches its name, and a deleted one leaves a later entry pointing at nothing:
 * `verifyJournal` finds both. Two writers appending at once both point at the same predecessor (a fork): that is
 * concurrency, reported as such, not as tampering.
 */
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { Repository } from '../repo/repository.js';
import { shortId } from '../repo/ids.js';
import { mapLimit } from '../util/concurrency.js';
import { currentUser } from '../util/user.js';
import { errorMessage } from '../util/errors.js';
import { VERSION } from '../version.js';
import { advanceAnchor, type Anchor } from './anchor.js';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stateDir } from '../util/state-dir.js';

/** What an operation records about itself. */
export interface JournalRecord {
  /** backup, restore, check, drill, rollback-data, rollback-attack, forget, deploy... */
  readonly operation: string;
  /** The source the operation concerns; null for repository-wide ones (check). */
  readonly source: string | null;
  readonly started: string;
  readonly result: 'ok' | 'failed';
  /** Why it failed: one line. */
  readonly error?: string;
  /** What it was asked (flags, snapshot ids, targets). */
  readonly inputs: Readonly<Record<string, unknown>>;
  /** What it measured (seconds, bytes, counts, checks). */
  readonly figures: Readonly<Record<string, unknown>>;
  /** Groups the entries of one run (a drill of several sources); a new one when absent. */
  readonly op_id?: string;
}

export interface JournalEntry extends JournalRecord {
  readonly version: 1;
  /** 1 for the first entry of the repository, then one more than the entry named by `prev`. */
  readonly seq: number;
  /** The id of the entry this one follows; null for the first. */
  readonly prev: string | null;
  /** When the entry was written (the end of the operation). */
  readonly time: string;
  readonly op_id: string;
  readonly host: string;
  readonly user: string;
  readonly program_version: string;
}

export interface JournalEntryWithId extends JournalEntry {
  readonly id: string;
}

/** Every entry, oldest first (by seq, then time, then id). An entry that cannot be read is returned in `unreadable`. */
export async function readJournal(repo: Repository, onProgress?: (done: number, total: number) => void): Promise<{ entries: JournalEntryWithId[]; unreadable: { id: string; error: string }[] }> {
  const ids: string[] = [];
  for await (const id of repo.listIds('journal')) ids.push(id);
  const unreadable: { id: string; error: string }[] = [];
  let done = 0;
  const loaded = await mapLimit(ids, 8, async (id) => {
    try {
      return { ...(await repo.loadJson<JournalEntry>('journal', id)), id };
    } catch (err) {
      unreadable.push({ id, error: errorMessage(err) });
      return null;
    } finally {
      onProgress?.(++done, ids.length);
    }
  });
  const entries = loaded.filter((e): e is JournalEntryWithId => e !== null);
  entries.sort((a, b) => a.seq - b.seq || a.time.localeCompare(b.time) || a.id.localeCompare(b.id));
  return { entries, unreadable };
}

/** The entry new ones follow: the highest seq (the latest written among equals). */
function head(entries: readonly JournalEntryWithId[]): JournalEntryWithId | undefined {
  return entries.at(-1);
}

/**
 * The entry new ones follow, reading only what this host has not seen: the sequence number of every entry it read
 * is kept in its state folder (`journal-seqs-<repository id>.json`: ids and numbers, no content), so an append costs
 * one listing and the entries written since, not the whole journal.
 */
async function currentHead(repo: Repository): Promise<{ id: string; seq: number; time: string } | undefined> {
  const file = join(stateDir(), `journal-seqs-${repo.config.id}.json`);
  let known: Record<string, [number, string]> = {};
  try {
    known = JSON.parse(await readFile(file, 'utf8')) as Record<string, [number, string]>;
  } catch {
    // first time on this host, or unreadable: read everything once
  }
  const ids: string[] = [];
  for await (const id of repo.listIds('journal')) ids.push(id);
  const fresh = ids.filter((id) => !Array.isArray(known[id]));
  const loaded = await mapLimit(fresh, 8, async (id) => {
    try {
      const e = await repo.loadJson<JournalEntry>('journal', id);
      return [id, [e.seq, e.time]] as const;
    } catch {
      return null; // unreadable: verify reports it; the chain goes on from the readable head
    }
  });
  const now: Record<string, [number, string]> = {};
  for (const id of ids) if (Array.isArray(known[id])) now[id] = known[id]!;
  for (const l of loaded) if (l) now[l[0]] = [l[1][0], l[1][1]];
  if (fresh.length > 0 || Object.keys(now).length !== Object.keys(known).length) {
    await mkdir(stateDir(), { recursive: true, mode: 0o700 }).then(() => writeFile(`${file}.tmp-${process.pid}`, JSON.stringify(now), { mode: 0o600 })).then(() => rename(`${file}.tmp-${process.pid}`, file)).catch(() => undefined);
  }
  let best: { id: string; seq: number; time: string } | undefined;
  for (const [id, [seq, time]] of Object.entries(now)) {
    if (!best || seq > best.seq || (seq === best.seq && (time > best.time || (time === best.time && id > best.id)))) best = { id, seq, time };
  }
  return best;
}

/**
 * Appends one entry after the current head. Journaling never fails the operation it records: a failure to write is
 * returned as a message for the caller to show as a warning.
 */
export async function appendJournal(repo: Repository, record: JournalRecord, known?: readonly JournalEntryWithId[]): Promise<{ id: string } | { error: string }> {
  try {
    const last = known ? head(known) : await currentHead(repo);
    const entry: JournalEntry = {
      ...record,
      version: 1,
      seq: (last?.seq ?? 0) + 1,
      prev: last?.id ?? null,
      time: new Date().toISOString(),
      op_id: record.op_id ?? randomUUID(),
      host: hostname(),
      user: currentUser().name,
      program_version: VERSION,
    };
    const id = await repo.saveJson('journal', entry);
    await advanceAnchor(repo.config.id, { seq: entry.seq, id, time: entry.time });
    return { id };
  } catch (err) {
    return { error: `the journal entry of ${record.operation}${record.source ? ` (source ${record.source})` : ''} was not written: ${errorMessage(err)}` };
  }
}

export interface JournalVerdict {
  /** No entry missing, edited or unreadable. */
  readonly ok: boolean;
  /** Tampering or damage: a missing predecessor, an unreadable entry, a sequence that does not follow. */
  readonly problems: string[];
  /** Not tampering: entries written concurrently that share a predecessor. */
  readonly notes: string[];
}

/**
 * Checks the chain: every entry's predecessor exists and has the seq just before it; the first entry is the only one
 * without a predecessor. Edits are found when reading (an object's bytes no longer match its name).
 */
export function verifyJournal(entries: readonly JournalEntryWithId[], unreadable: readonly { id: string; error: string }[] = [], anchor: Anchor | null = null): JournalVerdict {
  const byId = new Map(entries.map((e) => [e.id, e]));
  const problems = unreadable.map((u) => `entry ${shortId(u.id)} cannot be read: ${u.error}`);
  const newest = entries.reduce((n, e) => Math.max(n, e.seq), 0);
  if (anchor && !byId.has(anchor.id)) {
    problems.push(`entry #${anchor.seq} (${shortId(anchor.id)}, ${anchor.time}), written or seen from this host, is missing: entries were removed (the repository's journal now ends at #${newest})`);
  }
  const notes: string[] = [];
  const children = new Map<string, JournalEntryWithId[]>();
  for (const e of entries) {
    if (e.prev === null) {
      if (e.seq !== 1) problems.push(`entry ${shortId(e.id)} (#${e.seq}, ${e.time}) has no predecessor: the entries before it were removed`);
      continue;
    }
    const p = byId.get(e.prev);
    if (!p) {
      problems.push(`entry ${shortId(e.id)} (#${e.seq}, ${e.time}) follows ${shortId(e.prev)}, which is missing: an entry was removed or edited`);
      continue;
    }
    if (e.seq !== p.seq + 1) problems.push(`entry ${shortId(e.id)} is #${e.seq} but follows #${p.seq}: the sequence was altered`);
    children.set(e.prev, [...(children.get(e.prev) ?? []), e]);
  }
  for (const [prev, list] of children) {
    if (list.length > 1) notes.push(`${list.length} entries follow ${shortId(prev)} (written at the same time by different runs: ${list.map((e) => `${e.operation} on ${e.host}`).join(', ')})`);
  }
  return { ok: problems.length === 0, problems, notes };
}
