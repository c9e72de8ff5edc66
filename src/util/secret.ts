import { inspect } from 'node:util';

/** A value that never reaches a log: it prints as **redacted** everywhere. */
export class Secret<T = string> {
  readonly #value: T;
  constructor(value: T) {
    this.#value = value;
  }
  reveal(): T {
    return this.#value;
  }
  toString(): string {
    return '**redacted**';
  }
  toJSON(): string {
    return '**redacted**';
  }
  [inspect.custom](): string {
    return 'Secret(**redacted**)';
  }
}

/**
 * Removes user:password@ from every URL in a string (also behind a backend prefix such as `s3:https://`), for
 * messages and logs. Everything up to the last @ before the path goes, so an unencoded @ in a password does not leak.
 */
export function stripCredentials(url: string): string {
  return url.replace(/(:\/\/)[^/?#\s]*@/g, '$1');
}
