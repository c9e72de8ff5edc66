/** Reading safepoint.yaml: YAML → ${ENV} expansion → schema → relative paths resolved. */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { errorMessage, isErrno, UsageError } from '../util/errors.js';
import { ConfigError, formatPath, type ConfigIssue } from './config-error.js';
import { expandEnvInDocument } from './expand-env.js';
import { resolveConfigPaths } from './resolve-paths.js';
import { ConfigSchema, type Config } from './schema.js';
import { errorMap, flattenIssues, toConfigIssues } from './zod-issues.js';

/**
 * A validated configuration plus where it came from: `file` (absolute) and `dir` (its folder, against which
 * relative paths were already resolved).
 */
export type LoadedConfig = Config & { readonly file: string; readonly dir: string };

/**
 * Reads and validates a configuration file.
 * @throws UsageError when the file is missing or unreadable; ConfigError (a UsageError) listing every problem as file:line:col.
 */
export async function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): Promise<LoadedConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) throw new UsageError(`config file ${file} not found (pass --config or set SAFEPOINT_CONFIG)`, { cause: err });
    if (isErrno(err, 'EISDIR')) throw new UsageError(`config file ${file} is a folder (pass the path of the .yaml file)`, { cause: err });
    throw new UsageError(`cannot read config file ${file}: ${errorMessage(err)}`, { cause: err });
  }
  return parseConfig(text, file, env);
}

/**
 * Parses and validates configuration text. `file` names the file in messages (as given) and anchors
 * relative paths (its folder). Nothing is read from disk.
 * @throws ConfigError listing every problem as `file:line:col: path: message`.
 */
export function parseConfig(text: string, file: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const lines = new LineCounter();
  const at = (offset: number, message: string, path: readonly PropertyKey[] = []): ConfigIssue => ({
    file,
    ...lines.linePos(offset),
    path: formatPath(path),
    message,
  });
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true, merge: true });
  if (doc.errors[0] !== undefined) {
    // Only the first: the parser's later errors are mostly consequences of it.
    const first = doc.errors[0];
    const offset = first.pos[0];
    const flowHint = text.slice(offset - 1, offset + 1) === '${' ? ' (quote values containing ${...} inside [ ] or { })' : '';
    const issues = [at(offset, `invalid YAML: ${first.message.split('\n')[0] ?? first.code}${flowHint}`)];
    throw new ConfigError(issues, { cause: first });
  }
  if (doc.contents === null) throw new ConfigError([at(0, 'the file is empty (expected version: 1, project, repositories and sources)')]);

  const envProblems = expandEnvInDocument(doc, env);
  if (envProblems.length > 0) throw new ConfigError(envProblems.map((p) => at(p.offset, p.message, p.path)));

  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 1000 });
  } catch (err) {
    throw new ConfigError([at(0, `invalid YAML: ${errorMessage(err)}`)], { cause: err });
  }
  // Top-level `x-...` keys are free for anchors reused with `<<: *name` (as in docker compose).
  if (data !== null && typeof data === 'object' && !Array.isArray(data)) {
    data = Object.fromEntries(Object.entries(data).filter(([key]) => !key.startsWith('x-')));
  }
  const result = ConfigSchema.safeParse(data, { error: errorMap });
  if (!result.success) {
    throw new ConfigError(toConfigIssues(flattenIssues(result.error.issues, [], data), doc, lines, file), { cause: result.error });
  }
  const absolute = resolve(file);
  const dir = dirname(absolute);
  resolveConfigPaths(result.data, dir);
  return { ...result.data, file: absolute, dir };
}

export { findRepository, findService, findSource } from './lookup.js';
