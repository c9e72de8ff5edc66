/** Test support: repositories that open fast (cheap scrypt parameters). Not for real repositories. */
import { LocalStorage } from '../storage/local/local-storage.js';
import type { Secret } from '../util/secret.js';
import { Repository } from './repository.js';

export const FAST_KDF = { N: 1024, r: 8, p: 1 } as const;

/** Creates a repository in `dir` with cheap key derivation, then opens it again as a user would. */
export async function fastRepository(dir: string, password: Secret): Promise<Repository> {
  await (await Repository.init(new LocalStorage(dir), password, { kdf: FAST_KDF })).close();
  return Repository.open(new LocalStorage(dir), password);
}
