/** The configuration layer: safepoint.yaml's schema, loading with file:line:col errors, ${ENV} expansion, durations. */
export { ConfigError, formatIssue, formatPath, type ConfigIssue } from './config-error.js';
export { formatDuration, parseDuration, parsePercent } from './duration.js';
export { expandEnv } from './expand-env.js';
export { findRepository, findService, findSource, loadConfig, parseConfig, type LoadedConfig } from './load.js';
export { isPlainPath } from './resolve-paths.js';
export { CRON_MACROS, EVENT_SCHEDULES, scheduleProblem } from './schedule.js';
export { SOURCE_TYPES } from './schema-sources.js';
export {
  ConfigSchema,
  type AlertsConfig,
  type ChecksConfig,
  type Config,
  type DaemonConfig,
  type DatabaseSchedule,
  type DeployConfig,
  type DrillsConfig,
  type FilesSource,
  type HealthCheck,
  type MariadbSource,
  type PostgresSource,
  type RepositoryConfig,
  type Retention,
  type ServiceConfig,
  type SourceConfig,
  type SqliteSource,
} from './schema.js';
