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

/**
 * The source a command works on: `name` when given (it must be of `type`), else the only source of that type that
 * `fits`; `what` says, for messages, what fitting means (e.g. "wal_archiving: true").
 */
export function pickSource<T extends SourceConfig['type']>(cfg: Config, name: string | undefined, type: T, fits: (s: Extract<SourceConfig, { type: T }>) => boolean, what: string): Extract<SourceConfig, { type: T }> {
  type S = Extract<SourceConfig, { type: T }>;
  if (name !== undefined) {
    const s = findSource(cfg, name);
    if (s.type !== type) throw new UsageError(`source ${name} is a ${s.type} source: this command works on ${type} sources`);
    return s as S;
  }
  const candidates = cfg.sources.filter((s): s is S => s.type === type && fits(s as S));
  if (candidates.length === 1) return candidates[0]!;
  throw new UsageError(candidates.length === 0 ? `no ${type} source has ${what}: set it, or pass --source NAME` : `several ${type} sources have ${what} (${candidates.map((s) => s.name).join(', ')}): pass --source NAME`);
}

/** The sources that hold code and configuration: files sources run on major commits, else every files source. */
export function codeSources(cfg: Config): SourceConfig[] {
  const files = cfg.sources.filter((s) => s.type === 'files');
  const onCommit = files.filter((s) => s.schedule === 'on-major-commit');
  return onCommit.length > 0 ? onCommit : files;
}
