/** The schema of safepoint.yaml (version 1). Durations come out in milliseconds, percentages as fractions. */
import { z } from 'zod';
import { checkReferences } from './check-references.js';
import { bool, duration, health, int, name, pathText, percent, schedule, strict, text, textList } from './fields.js';
import { source } from './schema-sources.js';

/** A target with settings of its own; a plain string is `{ url: string }`. */
const targetObject = strict({
  url: text,
  /** Parallel connections (S3 requests in flight, SFTP operations). */
  connections: int(1).optional(),
  /** S3: storage class of new objects (STANDARD, STANDARD_IA, GLACIER_IR...). */
  storage_class: text.optional(),
  /** S3: path-style addressing (automatic for IP addresses and localhost). */
  path_style: bool.optional(),
  region: text.optional(),
  /** S3: a named profile of the shared AWS config. */
  profile: text.optional(),
  /** SFTP: the private key (default: ssh-agent, then ~/.ssh/id_ed25519, id_ecdsa, id_rsa). */
  key_file: pathText.optional(),
  /** SFTP: the known_hosts file (default ~/.ssh/known_hosts). */
  known_hosts: pathText.optional(),
});
const target = z.union([text.transform((url): z.output<typeof targetObject> => ({ url })), targetObject]);

const repositoryFields = strict({
  /** Every pack goes to every target: a path, `s3:https://host/bucket/prefix`, `sftp:...`, or `{ url: ..., settings }`. */
  targets: z.array(target).min(1),
  /** How many targets must hold a pack before a snapshot is recorded; default: all of them. */
  min_targets: int(1).optional(),
  password_file: pathText.optional(),
  password_command: text.optional(),
  compression: z.enum(['off', 'auto', 'max']).default('auto'),
  append_only: bool.default(false),
  object_lock: strict({ mode: z.enum(['compliance', 'governance']), days: int(1) }).optional(),
});

/** A repository; `min_targets` comes out filled in (default: every target). */
export const repository = repositoryFields.transform((r) => ({ ...r, min_targets: r.min_targets ?? r.targets.length }));

export const service = strict({
  stop: text.optional(),
  start: text.optional(),
  health: health.optional(),
});

export const deploy = strict({
  git: text,
  releases_dir: pathText,
  current: pathText,
  shared_dir: pathText.optional(),
  keep_releases: int(1).default(5),
  scripts: textList.default([]),
  /** How long each script may run. */
  script_timeout: duration.default(15 * 60_000),
  /** Commands run after `current` switches (deploy and rollback), e.g. a service reload. */
  post_switch: textList.default([]),
  health: health.optional(),
  auto_rollback: strict({
    window: duration,
    interval: duration.default(10_000),
    failure_limit: int(1).default(3),
  }).optional(),
  restore_points: strict({
    tag_prefix: text.default('restore-point/'),
    major: textList.default([]),
  }).optional(),
});

/** A group of sources that form one application: objectives for all of them together. */
export const application = strict({
  sources: z.array(name).min(1),
  rpo: duration.optional(),
  rto: duration.optional(),
});

export const drills = strict({
  schedule: schedule.optional(),
  sources: z.union([z.literal('all'), z.array(name).min(1)]).default('all'),
  sample_older: bool.default(false),
});

export const checks = strict({
  schedule: schedule.optional(),
  read_data_subset: percent.optional(),
});

export const alerts = strict({
  webhook: z.string().regex(/^https?:\/\//i, 'expected an http:// or https:// URL').optional(),
  command: text.optional(),
});

export const daemon = strict({
  listen: z
    .string()
    .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]*):\d{1,5}$/, 'expected host:port, e.g. 127.0.0.1:8765')
    .refine((s) => Number(s.slice(s.lastIndexOf(':') + 1)) <= 65535, 'port must be at most 65535')
    .default('127.0.0.1:8765'),
  token_file: pathText.optional(),
});

/** The whole file, before the cross-reference checks. */
export const configShape = strict({
  version: z.literal(1, { error: (iss) => (iss.input === undefined ? undefined : 'expected 1 (the only configuration version this safepoint reads)') }),
  project: name,
  repositories: z.record(name, repository).default({}),
  sources: z.array(source).default([]),
  applications: z.record(name, application).default({}),
  services: z.record(name, service).default({}),
  deploy: deploy.optional(),
  drills: drills.optional(),
  checks: checks.optional(),
  alerts: alerts.optional(),
  daemon: daemon.optional(),
});

/** The whole file: shape, then cross-references (unique names, repositories and services that exist). */
export const ConfigSchema = configShape.superRefine(checkReferences);

export type Config = z.output<typeof ConfigSchema>;
export type RepositoryConfig = z.output<typeof repository>;
export type TargetConfig = z.output<typeof targetObject>;
export type ServiceConfig = z.output<typeof service>;
export type DeployConfig = z.output<typeof deploy>;
export type DrillsConfig = z.output<typeof drills>;
export type ApplicationConfig = z.output<typeof application>;
export type ChecksConfig = z.output<typeof checks>;
export type AlertsConfig = z.output<typeof alerts>;
export type DaemonConfig = z.output<typeof daemon>;
export type {
  DatabaseSchedule,
  FilesSource,
  MariadbSource,
  PostgresSource,
  SourceConfig,
  SqliteSource,
} from './schema-sources.js';
export type { HealthCheck, Retention } from './fields.js';
