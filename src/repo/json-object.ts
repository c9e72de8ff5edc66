import { compress as zstdCompress } from 'zstd-napi';
import { IntegrityError } from '../util/errors.js';
import { decompress } from './compression.js';
import { open, seal } from './crypto.js';

/** Encodes a JSON value as an encrypted object (format §4.2): flag byte | JSON, zstd-compressed when large. */
export function sealJson(encKey: Buffer, value: unknown): Buffer {
  const json = Buffer.from(JSON.stringify(value), 'utf8');
  let body: Buffer;
  if (json.length > 512) {
    const z = zstdCompress(json, { compressionLevel: 3 });
    body = Buffer.concat([Buffer.from([1]), z]);
  } else {
    body = Buffer.concat([Buffer.from([0]), json]);
  }
  return seal(encKey, body);
}

export function openJson<T>(encKey: Buffer, box: Uint8Array, what: string): T {
  const body = open(encKey, box, what);
  const flag = body[0];
  const payload = flag === 1 ? decompress(body.subarray(1)) : flag === 0 ? body.subarray(1) : undefined;
  if (!payload) throw new IntegrityError(`${what}: unknown encoding flag ${String(flag)}`);
  try {
    return JSON.parse(payload.toString('utf8')) as T;
  } catch (err) {
    throw new IntegrityError(`${what}: not valid JSON`, { cause: err });
  }
}
