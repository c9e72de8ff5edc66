/**
 * Reads back every blob of one snapshot (trees and file contents): each is decrypted, authenticated, decompressed
 * and checked against its id, as `check --read-data` does for the whole repository, but for one snapshot.
 */
import type { BlobLoader } from '../repo/repository.js';
import { walkTree } from '../repo/tree.js';
import { shortId } from '../repo/ids.js';
import { errorMessage } from '../util/errors.js';

export interface SnapshotDataReport {
  readonly blobs: number;
  readonly bytes: number;
  /** One line per damaged or missing blob (with the file it belongs to), or an unreadable tree. */
  readonly problems: string[];
}

export async function verifySnapshotData(repo: BlobLoader, tree: string): Promise<SnapshotDataReport> {
  const seen = new Set<string>();
  const problems: string[] = [];
  let bytes = 0;
  try {
    for await (const { path, node } of walkTree(repo, tree)) {
      for (const id of node.content ?? []) {
        if (seen.has(id)) continue;
        seen.add(id);
        try {
          bytes += (await repo.loadBlob('data', id)).length;
        } catch (err) {
          problems.push(`${path}: blob ${shortId(id)}: ${errorMessage(err)}`);
        }
      }
    }
  } catch (err) {
    problems.push(`tree: ${errorMessage(err)}`);
  }
  return { blobs: seen.size, bytes, problems };
}
