import { createHash } from 'node:crypto';

/** Object names (format §2): SHA-256 of the stored bytes, lowercase hex. */
export function objectId(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export function isId(s: string): boolean {
  return /^[0-9a-f]{64}$/.test(s);
}

export const shortId = (id: string): string => id.slice(0, 8);

export type BlobType = 'data' | 'tree';

/** Where each kind of object lives. */
export const packPath = (id: string): string => `data/${id.slice(0, 2)}/${id}`;
export type JsonKind = 'snapshots' | 'index' | 'locks' | 'keys' | 'journal';
export const objectPath = (kind: JsonKind | 'config', id?: string): string => (kind === 'config' ? 'config' : `${kind}/${id}`);
