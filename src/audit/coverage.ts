/** Which sources of safepoint.yaml back up a path of the audit. */
import { realpath } from 'node:fs/promises';
import { isAbsolute, join, relative, sep } from 'node:path';
import type { Config } from '../config/schema.js';
import { makeExcluder, type Excluder } from '../snapshot/exclude.js';
import { barePath, type AuditRow } from './model.js';

/** True when `path` is `dir` or inside it (both absolute, normalized). */
export function isWithin(path: string, dir: string): boolean {
  const r = relative(dir, path);
  return r === '' || (!r.startsWith(`..${sep}`) && r !== '..' && !isAbsolute(r));
}

/** True when the archiver, walking down from `top`, would exclude `path` or a folder on the way to it. */
function excludedBelow(excluder: Excluder, top: string, path: string): boolean {
  const r = relative(top, path);
  if (r === '') return false;
  let p = top;
  for (const part of r.split(sep)) {
    p = join(p, part);
    if (excluder(p)) return true;
  }
  return false;
}

/**
 * The config with the paths coverage compares resolved to real paths (the project root is one): a source that
 * names the project through a symlink still covers it. A path that does not exist is kept as written.
 */
export async function withRealPaths(cfg: Config): Promise<Config> {
  const real = (p: string): Promise<string> => realpath(p).catch(() => p);
  const sources = await Promise.all(cfg.sources.map(async (s) => {
    if (s.type === 'files') {
      return { ...s, ...(s.paths ? { paths: await Promise.all(s.paths.map(real)) } : {}), ...(s.from_audit !== undefined ? { from_audit: await real(s.from_audit) } : {}) };
    }
    if (s.type === 'sqlite') return { ...s, path: await real(s.path) };
    return s.data_directory !== undefined ? { ...s, data_directory: await real(s.data_directory) } : s;
  }));
  return { ...cfg, sources } as Config;
}

/**
 * A function naming the sources that cover a row: files sources whose `paths` hold it (and whose `exclude` does
 * not drop it), files sources reading this very audit with `from_audit`, sqlite sources of that file, and database
 * sources whose data directory holds it.
 */
export function coverageOf(cfg: Config, root: string, auditFile: string): (row: AuditRow) => string[] {
  const checks = cfg.sources.map((s) => {
    switch (s.type) {
      case 'files': {
        const excluder = makeExcluder(s.exclude);
        const paths = s.paths ?? [];
        return (abs: string): string | null => {
          const top = paths.find((p) => isWithin(abs, p) && !excludedBelow(excluder, p, abs));
          if (top !== undefined) return s.name;
          if (s.from_audit === auditFile && !excludedBelow(excluder, root, abs)) return `${s.name} (from_audit)`;
          return null;
        };
      }
      case 'sqlite':
        return (abs: string): string | null => (abs === s.path ? s.name : null);
      default:
        return (abs: string): string | null => (s.data_directory !== undefined && isWithin(abs, s.data_directory) ? s.name : null);
    }
  });
  return (row) => {
    const abs = join(root, barePath(row.path));
    return checks.map((c) => c(abs)).filter((n): n is string => n !== null);
  };
}
