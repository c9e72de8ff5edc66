/** A restore writer thread: a BatchWriter fed through the thread's port (see restore-batch.ts, restore-writers.ts). */
import { parentPort, workerData } from 'node:worker_threads';
import { BatchWriter, type WriteItem } from './restore-batch.js';

const writer = new BatchWriter(workerData as { encKey: Uint8Array; macKey: Uint8Array });
const port = parentPort!;
port.on('message', (m: { seq: number; bytes: Uint8Array; items: WriteItem[] }) => {
  const results = writer.write(Buffer.from(m.bytes.buffer, m.bytes.byteOffset, m.bytes.byteLength), m.items);
  port.postMessage({ seq: m.seq, results });
});
