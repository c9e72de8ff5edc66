// The two tools under test and how to invoke them.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { firstLine, which } from './measure.js';

export interface Tool {
  name: string;
  version: string;
  env: NodeJS.ProcessEnv;
  init(repo: string): string[];
  backup(repo: string, source: string): string[];
  restore(repo: string, target: string): string[];
}

export type Detected = { tool: Tool } | { skipped: string };

/** The environment without variables of either tool that could redirect it. */
function cleanEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('RESTIC_') && !k.startsWith('SAFEPOINT_')) env[k] = v;
  }
  return { ...env, ...extra };
}

export function safepoint(projectRoot: string, work: string): Detected {
  if (!existsSync(join(projectRoot, 'dist/src/cli/main.js'))) return { skipped: 'safepoint skipped: dist/src/cli/main.js does not exist (build the CLI first)' };
  const cache = join(work, 'safepoint-cache');
  mkdirSync(cache, { recursive: true });
  // the installed command (bin/safepoint: Node with glibc's allocator tuned), on this benchmark's Node
  const cli = join(projectRoot, 'bin/safepoint');
  // no log file: restic writes none either
  const env = cleanEnv({ SAFEPOINT_PASSWORD: 'bench', SAFEPOINT_CACHE_DIR: cache, XDG_CACHE_HOME: cache, SAFEPOINT_LOG_FILE: 'none', NODE: process.execPath });
  return {
    tool: {
      name: 'safepoint',
      version: firstLine([cli, '--version'], env) ?? 'unknown version',
      env,
      init: (repo) => [cli, 'init', '--repo', repo],
      backup: (repo, source) => [cli, 'backup', '--repo', repo, '--json', source],
      restore: (repo, target) => [cli, 'restore', 'latest', '--repo', repo, '--target', target],
    },
  };
}

export function restic(work: string): Detected {
  const bin = which('restic');
  if (!bin) return { skipped: 'restic skipped: `restic` is not on PATH (apt-get install -y restic)' };
  const cache = join(work, 'restic-cache');
  mkdirSync(cache, { recursive: true });
  const env = cleanEnv({ RESTIC_PASSWORD: 'bench', RESTIC_CACHE_DIR: cache });
  return {
    tool: {
      name: 'restic',
      version: firstLine([bin, 'version'], env) ?? 'unknown version',
      env,
      init: (repo) => [bin, '-r', repo, 'init'],
      backup: (repo, source) => [bin, '-r', repo, 'backup', '--json', source],
      restore: (repo, target) => [bin, '-r', repo, 'restore', 'latest', '--target', target],
    },
  };
}
