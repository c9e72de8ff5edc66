/** Worker thread of WorkerEncoder: compresses (when it pays) and encrypts blobs. */
import { parentPort, workerData } from 'node:worker_threads';
import { InlineEncoder } from './blob-encoder.js';
import type { CompressionMode } from './compression.js';

const { encKey, mode } = workerData as { encKey: Uint8Array; mode: CompressionMode };
const encoder = new InlineEncoder(Buffer.from(encKey), mode);

parentPort?.on('message', (m: { seq: number; data: Uint8Array }) => {
  const plain = Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength);
  const { box, compressed } = encoder.encodeSync(plain);
  // box owns its ArrayBuffer (seal allocates it unpooled), so it can be transferred without a copy
  const buffer = box.buffer as ArrayBuffer;
  parentPort?.postMessage({ seq: m.seq, box: buffer, compressed }, [buffer]);
});
