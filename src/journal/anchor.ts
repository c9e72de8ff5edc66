/**
 * What the hash chain cannot show by itself: its newest entries removed. Each host keeps, per repository, the
 * newest entry it wrote or saw (`journal-anchors.json` in its state folder); `journal --verify` reports a
 * repository whose journal ends before that. An attacker who deletes the tail of the journal in the repository
 * cannot reach this file on every host that wrote to it.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isErrno } from '../util/errors.js';
import { stateDir } from '../util/state-dir.js';

export interface Anchor {
  readonly seq: number;
  readonly id: string;
  readonly time: string;
}

const file = (): string => join(stateDir(), 'journal-anchors.json');

async function readAll(): Promise<Record<string, Anchor>> {
  try {
    return JSON.parse(await readFile(file(), 'utf8')) as Record<string, Anchor>;
  } catch (err) {
    if (isErrno(err, 'ENOENT') || err instanceof SyntaxError) return {};
    throw err;
  }
}

export async function readAnchor(repositoryId: string): Promise<Anchor | null> {
  return (await readAll())[repositoryId] ?? null;
}

/** Moves the anchor of a repository forward (never back). Best effort: a read-only state folder only loses the check. */
export async function advanceAnchor(repositoryId: string, a: Anchor): Promise<void> {
  try {
    const all = await readAll();
    if ((all[repositoryId]?.seq ?? 0) >= a.seq) return;
    all[repositoryId] = a;
    await mkdir(stateDir(), { recursive: true, mode: 0o700 });
    const tmp = `${file()}.tmp-${process.pid}`;
    await writeFile(tmp, JSON.stringify(all, null, 2), { mode: 0o600 });
    await rename(tmp, file());
  } catch {
    // the state folder is not writable: the journal itself is unaffected
  }
}
