/** The living runbook (`safepoint runbook`): this configuration's backup and restore procedures, in English or French. */
import { en, type Words } from './words-en.js';
import { fr } from './words-fr.js';

/** The runbook's languages: the wording of each lives in one file (words-<lang>.ts). */
export const LANGUAGES = { en, fr } as const satisfies Record<string, Words>;
export type Lang = keyof typeof LANGUAGES;

export function isLang(s: string): s is Lang {
  return Object.hasOwn(LANGUAGES, s);
}

export { renderRunbook, type Measurements, type RunbookInput } from './render.js';
export { TEST_RESTORE_ROOT } from './commands.js';
export { measuredSeconds } from './format.js';
export type { Words } from './words-en.js';
