import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { UsageError, isErrno } from '../util/errors.js';
import { Secret } from '../util/secret.js';

export interface PasswordSources {
  readonly passwordFile?: string | undefined;
  readonly env?: NodeJS.ProcessEnv;
  /** From the config's repository entry. */
  readonly configPasswordFile?: string | undefined;
}

/**
 * The repository password, from (in order) --password-file, SAFEPOINT_PASSWORD_FILE, SAFEPOINT_PASSWORD,
 * the config's password_file, or a prompt on the terminal.
 */
export async function readPassword(src: PasswordSources, options: { confirm?: boolean; prompt?: string } = {}): Promise<Secret> {
  const env = src.env ?? process.env;
  const file = src.passwordFile ?? env.SAFEPOINT_PASSWORD_FILE;
  if (file) return fromFile(file);
  if (env.SAFEPOINT_PASSWORD !== undefined) return new Secret(env.SAFEPOINT_PASSWORD);
  if (src.configPasswordFile) return fromFile(src.configPasswordFile);
  if (!process.stdin.isTTY) {
    throw new UsageError('no password: set SAFEPOINT_PASSWORD, pass --password-file FILE, or run on a terminal to be asked');
  }
  const pw = await prompt(options.prompt ?? 'enter password for repository: ');
  if (options.confirm) {
    const again = await prompt('enter password again: ');
    if (again.reveal() !== pw.reveal()) throw new UsageError('the passwords do not match');
  }
  return pw;
}

async function fromFile(file: string): Promise<Secret> {
  try {
    return new Secret((await readFile(file, 'utf8')).replace(/\r?\n$/, ''));
  } catch (err) {
    if (isErrno(err, 'ENOENT')) throw new UsageError(`password file ${file} does not exist`);
    if (isErrno(err, 'EACCES')) throw new UsageError(`password file ${file} is not readable (permission denied)`);
    throw err;
  }
}

/** Reads a line from the terminal without echoing it. */
export async function prompt(question: string): Promise<Secret> {
  let muted = false;
  const out = new Writable({
    write(chunk: Buffer, _enc, cb) {
      if (!muted) process.stderr.write(chunk);
      cb();
    },
  });
  const rl = createInterface({ input: process.stdin, output: out, terminal: true });
  process.stderr.write(question);
  muted = true;
  try {
    return new Secret(await new Promise<string>((resolve) => rl.question('', resolve)));
  } finally {
    rl.close();
    process.stderr.write('\n');
  }
}
