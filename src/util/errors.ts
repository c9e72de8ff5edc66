/**
 * The error hierarchy. Every error a user can cause is a SafepointError with an exit code and a
 * message that names the thing and the fix; the CLI prints `error: <message>` and exits with the code.
 * Anything else is a bug and is printed with its stack.
 */

/** Exit codes, restic-compatible where restic defines one. */
export const ExitCode = {
  ok: 0,
  failure: 1,
  /** restic: "the repository does not exist" */
  noRepository: 10,
  /** restic: "failed to lock the repository" */
  locked: 11,
  /** restic: "wrong password" */
  wrongPassword: 12,
  /** restic: backup finished but some source files could not be read */
  incomplete: 3,
  /** bad command line or configuration */
  usage: 2,
  /** `scan` found a suspicious snapshot (ransomware or another anomaly), so cron can alert */
  suspicious: 5,
  /** `status`: a source misses its RPO or RTO, or its last drill or check failed */
  objectiveViolated: 4,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export class SafepointError extends Error {
  readonly exitCode: number;
  constructor(message: string, options: { exitCode?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.exitCode = options.exitCode ?? ExitCode.failure;
  }
}

/** Bad input from the user: flags, paths, configuration. */
export class UserError extends SafepointError {
  constructor(message: string, options: { exitCode?: number; cause?: unknown } = {}) {
    super(message, { exitCode: options.exitCode ?? ExitCode.failure, cause: options.cause });
  }
}

/** Command-line or configuration problems (exit code 2). */
export class UsageError extends UserError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { exitCode: ExitCode.usage, cause: options.cause });
  }
}

/** A named thing (object, snapshot, file, key) does not exist. */
export class NotFoundError extends SafepointError {}

/** Retrying will not help (authentication, missing bucket, disk full...). */
export class PermanentError extends SafepointError {}

/** Data failed verification: a hash, a MAC or a structural invariant did not hold. */
export class IntegrityError extends SafepointError {}

export class WrongPasswordError extends UserError {
  constructor(message = 'wrong password: no key in the repository opens with it (check SAFEPOINT_PASSWORD or --password-file)') {
    super(message, { exitCode: ExitCode.wrongPassword });
  }
}

export class NoRepositoryError extends UserError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { exitCode: ExitCode.noRepository, cause: options.cause });
  }
}

export class LockedError extends UserError {
  constructor(message: string) {
    super(message, { exitCode: ExitCode.locked });
  }
}

/** Node's errno-style error check. */
export function isErrno(err: unknown, ...codes: string[]): err is NodeJS.ErrnoException {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).code === 'string' && codes.includes((err as NodeJS.ErrnoException).code as string);
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
