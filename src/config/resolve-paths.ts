/** Resolves the relative paths of a validated configuration against the config file's folder. */
import { isAbsolute, resolve } from 'node:path';
import type { Config } from './schema.js';

/** True for a repository target that is a plain path rather than `scheme:...` (s3:, sftp:, ...). */
export function isPlainPath(target: string): boolean {
  return !/^[A-Za-z][A-Za-z0-9+.-]+:/.test(target);
}

/** A git remote that is a local path: no `scheme://` and no scp-like `host:path`. */
function isLocalGitPath(remote: string): boolean {
  return !remote.includes(':');
}

/**
 * Resolves, in place, every path-like field that is relative: plain-path repository targets,
 * password_file, files `paths` and `from_audit`, database `data_directory`, `bin_dir` and
 * connection `password_file`, sqlite `path`, deploy `git` (when a local path), `releases_dir`,
 * `current`, `shared_dir`, and daemon `token_file`. Commands, URLs and exclude patterns are left alone.
 */
export function resolveConfigPaths(cfg: Config, dir: string): void {
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(dir, p));
  /** Resolves obj[key] when it is set; leaves the key absent otherwise. */
  const opt = <T extends object>(obj: T, key: keyof T): void => {
    const value = obj[key];
    if (typeof value === 'string') obj[key] = abs(value) as T[keyof T];
  };

  for (const repo of Object.values(cfg.repositories)) {
    for (const t of repo.targets) {
      if (isPlainPath(t.url)) t.url = abs(t.url);
      opt(t, 'key_file');
      opt(t, 'known_hosts');
    }
    opt(repo, 'password_file');
  }
  for (const src of cfg.sources) {
    switch (src.type) {
      case 'files':
        if (src.paths !== undefined) src.paths = src.paths.map(abs);
        opt(src, 'from_audit');
        break;
      case 'postgres':
      case 'mariadb':
        opt(src, 'data_directory');
        opt(src, 'bin_dir');
        opt(src.connection, 'password_file');
        break;
      case 'sqlite':
        src.path = abs(src.path);
        break;
    }
  }
  if (cfg.deploy !== undefined) {
    const d = cfg.deploy;
    if (isLocalGitPath(d.git)) d.git = abs(d.git);
    d.releases_dir = abs(d.releases_dir);
    d.current = abs(d.current);
    opt(d, 'shared_dir');
  }
  if (cfg.daemon !== undefined) opt(cfg.daemon, 'token_file');
}
