/** Finding named repositories, sources and services in a loaded config (no schema code: cheap to import). */
import { UsageError } from '../util/errors.js';
import type { Config, RepositoryConfig, ServiceConfig, SourceConfig } from './schema.js';
import { listKnown } from './words.js';

function lookup<T>(map: Readonly<Record<string, T>>, name: string): T | undefined {
  return Object.hasOwn(map, name) ? map[name] : undefined;
}

/** The repository called `name`, with its name. @throws UsageError listing the defined repositories. */
export function findRepository(cfg: Config, name: string): RepositoryConfig & { readonly name: string } {
  const { repositories } = cfg;
  const repo = lookup(repositories, name);
  if (repo === undefined) {
    throw new UsageError(`repository "${name}" is not defined in the configuration${listKnown(name, Object.keys(repositories))}`);
  }
  return { ...repo, name };
}

/** The source called `name`. @throws UsageError listing the defined sources. */
export function findSource(cfg: Config, name: string): SourceConfig {
  const { sources } = cfg;
  const src = sources.find((s) => s.name === name);
  if (src === undefined) {
    throw new UsageError(`source "${name}" is not defined in the configuration${listKnown(name, sources.map((s) => s.name))}`);
  }
  return src;
}

/** The service called `name`, with its name. @throws UsageError listing the defined services. */
export function findService(cfg: Config, name: string): ServiceConfig & { readonly name: string } {
  const { services } = cfg;
  const svc = lookup(services, name);
  if (svc === undefined) {
    throw new UsageError(`service "${name}" is not defined in the configuration${listKnown(name, Object.keys(services))}`);
  }
  return { ...svc, name };
}
