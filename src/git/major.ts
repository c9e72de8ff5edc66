/**
 * What makes a commit "major" (worth a restore point), from `deploy.restore_points.major`: `tag:<glob>` (a tag
 * matching the glob is created), `merge:<branch>` (a merge lands on the branch), `breaking` (a commit message marks
 * a breaking change, Conventional Commits style: `type!:` / `type(scope)!:` or a `BREAKING CHANGE:` footer).
 */
import picomatch from 'picomatch';
import { UsageError } from '../util/errors.js';

export type MajorRule = { readonly kind: 'tag'; readonly glob: string } | { readonly kind: 'merge'; readonly branch: string } | { readonly kind: 'breaking' };

/** Used when the config names none. */
export const DEFAULT_MAJOR = ['tag:v*', 'merge:main', 'breaking'] as const;

export function parseMajorRules(list: readonly string[]): MajorRule[] {
  return (list.length > 0 ? list : DEFAULT_MAJOR).map((r) => {
    if (r === 'breaking') return { kind: 'breaking' };
    const m = /^(tag|merge):(.+)$/.exec(r);
    if (m?.[1] === 'tag') return { kind: 'tag', glob: m[2]! };
    if (m?.[1] === 'merge') return { kind: 'merge', branch: m[2]! };
    throw new UsageError(`deploy.restore_points.major: ${JSON.stringify(r)} is not a rule (use tag:<glob>, merge:<branch> or breaking)`);
  });
}

/** A commit message that announces a breaking change. */
export function isBreaking(message: string): boolean {
  const [subject = '', ...rest] = message.split('\n');
  if (/^[A-Za-z]+(\([^)]*\))?!:/.test(subject.trim())) return true;
  return rest.some((l) => /^BREAKING[ -]CHANGE:/.test(l.trim()));
}

/** What git just did, as the hooks see it. */
export type GitEvent =
  | { readonly kind: 'commit'; readonly branch: string | null; readonly parents: number; readonly message: string }
  | { readonly kind: 'merge'; readonly branch: string | null }
  | { readonly kind: 'tag'; readonly name: string };

/** Why `event` is major under `rules` (e.g. `tag v1.2.0`), or null when it is not. */
export function majorReason(rules: readonly MajorRule[], event: GitEvent): string | null {
  for (const r of rules) {
    if (r.kind === 'tag' && event.kind === 'tag' && picomatch.isMatch(event.name, r.glob, { dot: true })) return `tag ${event.name}`;
    if (r.kind === 'merge' && (event.kind === 'merge' || (event.kind === 'commit' && event.parents > 1)) && event.branch === r.branch) return `merge into ${r.branch}`;
    if (r.kind === 'breaking' && event.kind === 'commit' && isBreaking(event.message)) return 'breaking change';
  }
  return null;
}
