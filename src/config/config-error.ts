/** ConfigError: every problem in a configuration file, each pointing at file:line:col. */
import { UsageError } from '../util/errors.js';

/** One problem, located in the file. `path` is like `sources[0].retention.keep_daily` ('' for the whole file). */
export interface ConfigIssue {
  readonly file: string;
  readonly line: number;
  readonly col: number;
  readonly path: string;
  readonly message: string;
}

/** At most this many problems are listed in the message (all are kept in `issues`). */
const MAX_LISTED = 20;

/** `file:line:col: path: message` */
export function formatIssue(issue: ConfigIssue): string {
  return `${issue.file}:${issue.line}:${issue.col}: ${issue.path === '' ? '' : `${issue.path}: `}${issue.message}`;
}

/** A configuration file that does not parse or validate; the message has one line per problem. */
export class ConfigError extends UsageError {
  readonly issues: readonly ConfigIssue[];
  constructor(issues: readonly ConfigIssue[], options: { cause?: unknown } = {}) {
    const lines = issues.slice(0, MAX_LISTED).map(formatIssue);
    if (issues.length > MAX_LISTED) lines.push(`... and ${issues.length - MAX_LISTED} more problem(s)`);
    super(lines.join('\n'), options);
    this.issues = issues;
  }
}

/** Renders a path as written in messages: `sources[0].retention`, `repositories["my repo"]`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (typeof seg === 'string' && /^[A-Za-z_][\w-]*$/.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(String(seg))}]`;
  }
  return out;
}
