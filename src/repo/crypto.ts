import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { IntegrityError } from '../util/errors.js';

/** The repository's secret material (format §3). */
export interface MasterKey {
  readonly encKey: Buffer;
  readonly macKey: Buffer;
  readonly chunkerSeed: Buffer;
}

export const MASTER_KEY_BYTES = 96;
const BOX_VERSION = 0x01;
const NONCE = 12;
const TAG = 16;
export const BOX_OVERHEAD = 1 + NONCE + TAG;

export function newMasterKey(): MasterKey {
  return masterKeyFromBytes(randomBytes(MASTER_KEY_BYTES));
}

export function masterKeyFromBytes(b: Buffer): MasterKey {
  if (b.length !== MASTER_KEY_BYTES) throw new IntegrityError('master key has the wrong length');
  return { encKey: b.subarray(0, 32), macKey: b.subarray(32, 64), chunkerSeed: b.subarray(64, 96) };
}

export function masterKeyBytes(k: MasterKey): Buffer {
  return Buffer.concat([k.encKey, k.macKey, k.chunkerSeed]);
}

/** Random nonces drawn from a pool filled in bulk: one randomBytes call per 4096 boxes instead of one per box. */
let noncePool = Buffer.alloc(0);
let nonceAt = 0;
function nextNonce(): Buffer {
  if (nonceAt + NONCE > noncePool.length) {
    noncePool = randomBytes(NONCE * 4096);
    nonceAt = 0;
  }
  const n = noncePool.subarray(nonceAt, nonceAt + NONCE);
  nonceAt += NONCE;
  return n;
}

/** Encrypts into a box: version | nonce | ciphertext | tag (format §4.1). */
export function seal(key: Buffer, plaintext: Uint8Array): Buffer {
  // unpooled: the box owns its ArrayBuffer, so it can be transferred between threads
  const out = Buffer.allocUnsafeSlow(BOX_OVERHEAD + plaintext.length);
  sealInto(key, plaintext, out);
  return out;
}

/**
 * `seal`, into the start of `out` (at least BOX_OVERHEAD bytes longer than the plaintext); returns the box's length.
 * For threads that reuse their box buffers instead of allocating one per blob.
 */
export function sealInto(key: Buffer, plaintext: Uint8Array, out: Buffer): number {
  if (out.length < BOX_OVERHEAD + plaintext.length) throw new RangeError(`box buffer of ${out.length} bytes is too small for ${plaintext.length} bytes`);
  out[0] = BOX_VERSION;
  const nonce = nextNonce();
  nonce.copy(out, 1);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  let pos = 1 + NONCE;
  pos += cipher.update(plaintext).copy(out, pos);
  pos += cipher.final().copy(out, pos);
  cipher.getAuthTag().copy(out, pos);
  return pos + TAG;
}

/** Decrypts and authenticates a box; IntegrityError when it was changed or the key is wrong. */
export function open(key: Buffer, box: Uint8Array, what = 'object'): Buffer {
  if (box.length < BOX_OVERHEAD || box[0] !== BOX_VERSION) {
    throw new IntegrityError(`${what}: not a safepoint encrypted object (bad header)`);
  }
  const b = Buffer.from(box.buffer, box.byteOffset, box.byteLength);
  const decipher = createDecipheriv('aes-256-gcm', key, b.subarray(1, 1 + NONCE));
  decipher.setAuthTag(b.subarray(b.length - TAG));
  try {
    const head = decipher.update(b.subarray(1 + NONCE, b.length - TAG));
    const tail = decipher.final();
    return tail.length === 0 ? head : Buffer.concat([head, tail]);
  } catch (err) {
    throw new IntegrityError(`${what}: authentication failed (the data was changed or damaged)`, { cause: err });
  }
}

/** Blob id: HMAC-SHA-256 of the plaintext under the MAC key (format §5). */
export function blobId(macKey: Buffer, plaintext: Uint8Array): string {
  return createHmac('sha256', macKey).update(plaintext).digest('hex');
}
