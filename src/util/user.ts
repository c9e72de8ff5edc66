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

/** The /etc/passwd entries, as [name, uid, gid]; empty when the file cannot be read. */
async function passwd(): Promise<[string, number, number][]> {
  try {
    const { readFile } = await import('node:fs/promises');
    return (await readFile('/etc/passwd', 'utf8')).split('\n').filter((l) => l.includes(':')).map((l) => {
      const f = l.split(':');
      return [f[0] ?? '', Number(f[2]), Number(f[3])];
    });
  } catch {
    return [];
  }
}

/** The login name of a uid; null when unknown. */
export async function userName(uid: number): Promise<string | null> {
  return (await passwd()).find((e) => e[1] === uid)?.[0] ?? null;
}

/** The uid and gid of a login name; null when there is no such user. */
export async function userIds(name: string): Promise<{ uid: number; gid: number } | null> {
  const e = (await passwd()).find((x) => x[0] === name);
  return e ? { uid: e[1], gid: e[2] } : null;
}
