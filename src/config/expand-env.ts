/** `${NAME}` expansion of environment variables in the string values of a configuration file. */
import { isPair, isScalar, isSeq, visit, type Document } from 'yaml';
import { UsageError } from '../util/errors.js';

const VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Expands `${NAME}` and `${NAME:-default}` (default used when NAME is unset or empty) in `text`.
 * `$${` stands for a literal `${`; a `$` not followed by `{` is left alone (so `$HOME` stays as written).
 * @throws UsageError naming the variable that is not set, or the malformed reference.
 */
export function expandEnv(text: string, env: NodeJS.ProcessEnv): string {
  let out = '';
  let at = 0;
  while (at < text.length) {
    const dollar = text.indexOf('$', at);
    if (dollar < 0) break;
    out += text.slice(at, dollar);
    if (text.startsWith('$${', dollar)) {
      out += '${';
      at = dollar + 3;
      continue;
    }
    if (text[dollar + 1] !== '{') {
      out += '$';
      at = dollar + 1;
      continue;
    }
    const close = text.indexOf('}', dollar + 2);
    if (close < 0) throw new UsageError('unterminated "${" (close it with "}", or write "$${" for a literal "${")');
    const inner = text.slice(dollar + 2, close);
    const sep = inner.indexOf(':-');
    const varName = sep < 0 ? inner : inner.slice(0, sep);
    if (!VAR_NAME.test(varName)) throw new UsageError(`invalid variable reference "\${${inner}}" (names use letters, digits and _; write "$\${" for a literal "\${")`);
    const value = env[varName];
    if (sep >= 0) out += value === undefined || value === '' ? inner.slice(sep + 2) : value;
    else if (value === undefined) throw new UsageError(`environment variable ${varName} is not set (referenced as \${${varName}})`);
    else out += value;
    at = close + 1;
  }
  return out + text.slice(at);
}

/** A problem found while expanding, with the node's start offset in the source. */
export interface EnvProblem {
  readonly offset: number;
  readonly path: readonly (string | number)[];
  readonly message: string;
}

/**
 * Expands variables in every string value (not keys) of the document, in place.
 * Returns the problems; values with a problem are left as they were.
 */
export function expandEnvInDocument(doc: Document, env: NodeJS.ProcessEnv): EnvProblem[] {
  const problems: EnvProblem[] = [];
  visit(doc, {
    Scalar(key, node, ancestors) {
      if (key === 'key' || typeof node.value !== 'string' || !node.value.includes('$')) return;
      try {
        node.value = expandEnv(node.value, env);
      } catch (err) {
        problems.push({ offset: node.range?.[0] ?? 0, path: pathOf(ancestors, node), message: (err as Error).message });
      }
    },
  });
  return problems;
}

/** The data path of `node` from the visitor's ancestor chain (document, maps, pairs, sequences). */
function pathOf(ancestors: readonly unknown[], node: unknown): (string | number)[] {
  const path: (string | number)[] = [];
  const chain = [...ancestors, node];
  for (let i = 1; i < chain.length; i++) {
    const parent = chain[i - 1];
    if (isSeq(parent)) path.push(parent.items.indexOf(chain[i]));
    else if (isPair(parent)) path.push(isScalar(parent.key) ? String(parent.key.value) : String(parent.key));
  }
  return path;
}
