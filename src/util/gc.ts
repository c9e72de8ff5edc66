/**
 * An explicit garbage collection, for threads that move large buffers through few JS objects (V8 frees a Buffer's
 * memory only when it collects the small wrapper). Uses V8's own gc() exposed through its flag, as --expose-gc would.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as (options?: { type: 'minor' | 'major'; execution?: 'sync' | 'async' }) => void;

/** Collects garbage now (see the packer: a written pack's 16 MiB of boxes are freed only at the next collection). */
export function collectNow(): void {
  gc({ type: 'major', execution: 'async' });
}
