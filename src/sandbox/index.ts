/**
 * Throwaway database servers for restore drills: a logical PostgreSQL or MariaDB backup is restored into a private
 * server on a free loopback port, in a fresh temporary folder, so that production is never touched. The sandbox's
 * `source` is the configured source pointed at that server: give it to the driver's restore and verify unchanged.
 */
import type { MariadbSource, PostgresSource } from '../config/schema-sources.js';
import { SafepointError, UserError, errorMessage } from '../util/errors.js';

export interface DbSandbox<S> {
  /** The configured source, pointed at the sandbox: host 127.0.0.1, its port and user, no password, no services. */
  readonly source: S;
  /** Where the server listens, for messages: `postgres://127.0.0.1:54012`, `mariadb://127.0.0.1:41003`. */
  readonly where: string;
  /** The private folder holding everything the server writes (data, socket, log); removed by stop(). */
  readonly dir: string;
  /** The server's log file (inside `dir`), for a failed drill's report; read it before stop(). */
  readonly log: string;
  /** Stops the server and removes every folder it used. Idempotent; never throws on a server already stopped. */
  stop(): Promise<void>;
}

export interface SandboxOptions {
  /** Aborts the startup; what was created so far is removed and the abort reason thrown. */
  readonly signal?: AbortSignal;
}

export interface PostgresSandboxOptions extends SandboxOptions {
  /**
   * Roles (NOLOGIN) to create besides the source's user, typically the owners and grantees of the dump to restore
   * (the snapshot's globals.sql lists them). When they all exist the restore keeps ownership and privileges; when
   * some are missing the driver restores without them (--no-owner --no-privileges) and says so in its notes.
   */
  readonly roles?: readonly string[];
}

/** Starts a sandbox server of the source's engine (see startPostgresSandbox and startMariadbSandbox). */
export function startDatabaseSandbox(source: PostgresSource, o?: PostgresSandboxOptions): Promise<DbSandbox<PostgresSource>>;
export function startDatabaseSandbox(source: MariadbSource, o?: SandboxOptions): Promise<DbSandbox<MariadbSource>>;
export function startDatabaseSandbox(source: PostgresSource | MariadbSource, o?: SandboxOptions): Promise<DbSandbox<PostgresSource> | DbSandbox<MariadbSource>>;
export async function startDatabaseSandbox(source: PostgresSource | MariadbSource, o: PostgresSandboxOptions = {}): Promise<DbSandbox<PostgresSource> | DbSandbox<MariadbSource>> {
  // loaded on first use, like the drivers
  if (source.type === 'postgres') return (await import('./postgres.js')).startPostgresSandbox(source, o);
  return (await import('./mariadb.js')).startMariadbSandbox(source, o);
}

/**
 * The one-line error of a sandbox that did not start: `<engine> sandbox: <what went wrong>`, keeping the class of a
 * user's error (a missing tool) so the CLI prints it without a stack. An abort is passed through unchanged.
 */
export function sandboxError(engine: string, err: unknown, signal?: AbortSignal): unknown {
  if (signal?.aborted && (err === signal.reason || (err instanceof Error && err.name === 'AbortError'))) return signal.reason;
  const message = `${engine} sandbox: ${errorMessage(err).replace(/\s*\n\s*/g, ' ')}`;
  return err instanceof UserError ? new UserError(message, { cause: err }) : new SafepointError(message, { cause: err });
}
