import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import picomatch from 'picomatch';
import { UserError, isErrno } from '../util/errors.js';

/**
 * restic-style exclude patterns: a pattern containing a slash is matched against the absolute path
 * (a leading `**` matches any prefix); a pattern without a slash is matched against every path element's name.
 * A pattern starting with `!` re-includes what an earlier pattern excluded.
 */
export type Excluder = (absPath: string) => boolean;

export function makeExcluder(patterns: readonly string[]): Excluder {
  const rules = patterns
    .map((p) => p.trim())
    .filter((p) => p !== '' && !p.startsWith('#'))
    .map((p) => {
      const negate = p.startsWith('!');
      const pat = negate ? p.slice(1).trim() : p;
      if (pat === '') throw new UserError(`exclude pattern "${p}" is empty after the "!": write the pattern to re-include, e.g. "!keep.log"`);
      const test = pat.includes('/') ? picomatch(pat.startsWith('/') || pat.startsWith('**') ? pat : `**/${pat}`, { dot: true }) : picomatch(pat, { dot: true });
      return { negate, byName: !pat.includes('/'), test };
    });
  if (rules.length === 0) return () => false;
  return (absPath) => {
    let excluded = false;
    const name = basename(absPath);
    for (const r of rules) {
      if (r.test(r.byName ? name : absPath)) excluded = !r.negate;
    }
    return excluded;
  };
}

/** Reads patterns from a file, one per line (`#` comments and blank lines ignored). */
export async function readExcludeFile(file: string): Promise<string[]> {
  try {
    return (await readFile(file, 'utf8')).split(/\r?\n/);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) throw new UserError(`exclude file ${file} does not exist`, { cause: err });
    throw err;
  }
}
