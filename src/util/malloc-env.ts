/**
 * The allocator settings bin/safepoint gave this process (glibc read them when the process started). They are
 * taken out of the environment the databases, tools and services safepoint starts inherit — a MariaDB server
 * limited to two malloc arenas would be slower — and given back to the safepoint jobs the daemon runs.
 */
const taken: Record<string, string> = {};

/** Takes the variables SAFEPOINT_MALLOC_SET names (the ones bin/safepoint set, not the caller's) out of `env`. */
export function takeMallocTuning(env: NodeJS.ProcessEnv = process.env): void {
  for (const name of (env.SAFEPOINT_MALLOC_SET ?? '').split(/\s+/).filter((n) => /^MALLOC_[A-Z_]+$/.test(n))) {
    const value = env[name];
    if (value !== undefined) taken[name] = value;
    delete env[name];
  }
  delete env.SAFEPOINT_MALLOC_SET;
}

/** What to add to the environment of a safepoint process this one starts. */
export function mallocTuning(): Readonly<Record<string, string>> {
  return taken;
}

/** The V8 flags bin/safepoint started this process with (young generation size), for the safepoint runs it starts. */
export function runtimeFlags(argv: readonly string[] = process.execArgv): string[] {
  return argv.filter((a) => a.startsWith('--max-semi-space-size='));
}
