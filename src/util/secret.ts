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

/** Removes user:password@ from a URL-ish string, for messages and logs. */
export function stripCredentials(url: string): string {
  return url.replace(/^([a-z0-9+.-]+:\/\/)[^/@\s]*@/i, '$1');
}
