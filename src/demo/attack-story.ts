/**
 * The attack part of the demo: a shop's data folder is backed up nightly; a simulated ransomware run encrypts the
 * head of half its files, renames them `.locked` and drops a ransom note, and the next night's backup takes that in;
 * a second run does the rest. `scan` flags both snapshots; `rollback attack` — told the attack was noticed after the
 * first run — passes over both, quarantines the current state and puts the folder back exactly as it was.
 */
import { mkdir, readFile, readdir, rename, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { Context } from '../cli/context.js';
import { runBackup } from '../cli/backup.js';
import { runRollbackAttack } from '../cli/rollback-attack.js';
import { Repository } from '../repo/repository.js';
import { loadSnapshots } from '../repo/snapshot.js';
import { shortId } from '../repo/ids.js';
import { scanSource } from '../scan/index.js';
import { restorePoints } from '../status/status.js';
import { openStorage } from '../storage/registry.js';
import { Secret } from '../util/secret.js';
import { realisticFile } from '../scan/testing.js';

type Step = <T>(title: string, fn: () => Promise<[T, string]>) => Promise<T>;

/** Every file under `root` with its SHA-256: the state the rollback must give back exactly. */
async function fingerprint(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else out.set(relative(root, p), createHash('sha256').update(await readFile(p)).digest('hex'));
    }
  };
  await walk(root);
  return out;
}

/** A ransomware run: the first 4 KiB of each file replaced by random bytes, the file renamed `.locked`, a note left. */
async function ransomware(root: string, files: readonly string[]): Promise<void> {
  for (const rel of files) {
    const p = join(root, rel);
    const data = await readFile(p);
    randomBytes(Math.min(4096, data.length)).copy(data, 0);
    await writeFile(p, data);
    await rename(p, `${p}.locked`);
  }
  await writeFile(join(root, 'HOW_TO_DECRYPT.txt'), 'All your files are encrypted. Send 1 BTC to ...\n');
}

export async function demoAttack(dir: string, step: Step): Promise<boolean> {
  const data = join(dir, 'shop-uploads');
  const config = join(dir, 'attack.yaml');
  const password = randomBytes(12).toString('hex');
  const ctx = (): Context => new Context({ config, quiet: true }, { ...process.env, SAFEPOINT_PASSWORD: password, SAFEPOINT_CONFIG: undefined });
  const names: string[] = [];
  const nightly = async (): Promise<void> => void (await runBackup(ctx(), [], { tag: [], exclude: [], excludeFile: [], source: 'shop-uploads' }));
  const pause = (): Promise<void> => new Promise((r) => setTimeout(r, 1100)); // snapshot times have one-second steps in the story

  const clean = await step('attack story: back up the shop\'s uploads folder two nights in a row', async () => {
    for (let i = 0; i < 24; i++) {
      const kind = (['text', 'json', 'csv'] as const)[i % 3]!;
      const rel = join(['invoices', 'exports', 'uploads'][i % 3]!, `doc-${i}.${kind === 'text' ? 'txt' : kind}`);
      await mkdir(join(data, rel, '..'), { recursive: true });
      await writeFile(join(data, rel), realisticFile(kind, 4000 + ((i * 7919) % 30_000), 40 + i));
      names.push(rel);
    }
    await writeFile(config, `version: 1\nproject: shop\nrepositories:\n  files: { targets: [ ${join(dir, 'attack-repo')} ] }\nsources:\n  - { name: shop-uploads, type: files, repository: files, paths: [ ${data} ] }\n`);
    await (await Repository.init(await openStorage(join(dir, 'attack-repo')), new Secret(password))).close();
    await nightly();
    await writeFile(join(data, 'invoices', 'doc-0.txt'), realisticFile('text', 9000, 7));
    await pause();
    await nightly();
    return [await fingerprint(data), `${names.length} documents in ${data}; two snapshots (one edit between them)`];
  });
  let noticed = '';
  await step('ransomware: two runs, each taken in by the next night\'s backup', async () => {
    await pause();
    await ransomware(data, names.slice(0, 12));
    await nightly();
    await pause();
    noticed = new Date().toISOString();
    await pause();
    await ransomware(data, names.slice(12));
    await nightly();
    return [null, `run 1 encrypted the head of 12 files, renamed them .locked, dropped HOW_TO_DECRYPT.txt; run 2 the other 12; the attack is reported as starting at ${noticed.slice(11, 19)} (after run 1: it went unnoticed)`];
  });
  const flagged = await step('safepoint scan: the anomaly analysis of the snapshot history', async () => {
    const repo = await Repository.open(await openStorage(join(dir, 'attack-repo')), new Secret(password));
    try {
      const results = await scanSource(repo, restorePoints(await loadSnapshots(repo), 'shop-uploads'));
      const bad = results.filter((r) => r.suspicious);
      return [bad.length, `${results.length} snapshots, ${bad.length} suspicious: ${bad.map((r) => `${shortId(r.snapshot_id)} (score ${r.score.toFixed(2)}: ${r.reasons.slice(0, 3).join('; ')})`).join('; ')}`];
    } finally {
      await repo.close();
    }
  });
  return step('safepoint rollback attack --compromised-at <reported time> --force', async () => {
    await runRollbackAttack(ctx(), { compromisedAt: noticed, force: true, accept: [], source: [] });
    const now = await fingerprint(data);
    const same = now.size === clean.size && [...clean].every(([k, v]) => now.get(k) === v);
    const repo = await Repository.open(await openStorage(join(dir, 'attack-repo')), new Secret(password));
    const quarantine = (await loadSnapshots(repo)).filter((s) => s.tags.includes('quarantine'));
    await repo.close();
    const ok = same && flagged === 2 && quarantine.length === 1;
    return [ok, `${same ? `the folder is exactly the clean state again (${clean.size} files, hashes equal; the .locked copies and the note are gone)` : 'the folder DIFFERS from the clean state'}; both flagged snapshots passed over; the compromised state is kept in quarantine snapshot ${quarantine.map((s) => shortId(s.id)).join(', ')} for forensics`];
  });
}
