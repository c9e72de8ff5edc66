import { userInfo } from 'node:os';

/** The user running safepoint, for snapshots; never throws (a uid without a passwd entry is "unknown"). */
export function currentUser(): { name: string; uid: number; gid: number } {
  try {
    const u = userInfo();
    return { name: u.username, uid: u.uid, gid: u.gid };
  } catch {
    return { name: 'unknown', uid: process.getuid?.() ?? -1, gid: process.getgid?.() ?? -1 };
  }
}
