/** Checks that span several parts of the file: unique names and references that must resolve. */
import type { z } from 'zod';
import type { configShape } from './schema.js';
import { hint } from './words.js';

type Shape = z.output<typeof configShape>;
type Path = (string | number)[];

/** superRefine callback of ConfigSchema; runs only once the shape is valid. */
export function checkReferences(cfg: Shape, ctx: z.RefinementCtx): void {
  const fail = (path: Path, message: string): void => ctx.addIssue({ code: 'custom', path, message });
  const repositories = Object.keys(cfg.repositories);
  const services = Object.keys(cfg.services);

  for (const [repoName, repo] of Object.entries(cfg.repositories)) {
    if (repo.min_targets > repo.targets.length) {
      fail(['repositories', repoName, 'min_targets'], `is ${repo.min_targets} but only ${repo.targets.length} target(s) are listed`);
    }
    if (repo.password_file !== undefined && repo.password_command !== undefined) {
      fail(['repositories', repoName, 'password_command'], 'set password_file or password_command, not both');
    }
  }

  const firstIndex = new Map<string, number>();
  for (const [i, src] of cfg.sources.entries()) {
    const first = firstIndex.get(src.name);
    if (first !== undefined) fail(['sources', i, 'name'], `duplicate source name "${src.name}" (already used by sources[${first}])`);
    else firstIndex.set(src.name, i);

    if (!repositories.includes(src.repository)) {
      fail(['sources', i, 'repository'], `unknown repository "${src.repository}"${hint(src.repository, repositories, 'defined under repositories')}`);
    }
    for (const [k, svc] of src.services.entries()) {
      if (!services.includes(svc)) fail(['sources', i, 'services', k], `unknown service "${svc}"${hint(svc, services, 'defined under services')}`);
    }
    if (src.type === 'files' && src.paths === undefined && src.from_audit === undefined) {
      fail(['sources', i], `files source "${src.name}" needs paths or from_audit (or both)`);
    }
    if (src.type === 'postgres' || src.type === 'mariadb') {
      if (src.type === 'postgres' && src.wal_archiving && src.mode !== 'physical') {
        fail(['sources', i, 'wal_archiving'], 'needs mode: physical (WAL archiving continues physical base backups)');
      }
      if (typeof src.schedule === 'object' && src.mode !== 'physical') {
        for (const kind of ['diff', 'incr'] as const) {
          if (src.schedule[kind] !== undefined) {
            fail(['sources', i, 'schedule', kind], `${kind} backups need mode: physical (logical backups are always full)`);
          }
        }
      }
    }
  }

  const sourceNames = [...new Set(cfg.sources.map((s) => s.name))];
  for (const [app, a] of Object.entries(cfg.applications)) {
    for (const [k, n] of a.sources.entries()) {
      if (!sourceNames.includes(n)) fail(['applications', app, 'sources', k], `unknown source "${n}"${hint(n, sourceNames, 'defined under sources')}`);
    }
  }

  const drillSources = cfg.drills?.sources;
  if (Array.isArray(drillSources)) {
    const names = [...new Set(cfg.sources.map((s) => s.name))];
    for (const [k, n] of drillSources.entries()) {
      if (!names.includes(n)) fail(['drills', 'sources', k], `unknown source "${n}"${hint(n, names, 'defined under sources')}`);
    }
  }
}
