/** An ingest worker thread: an IngestEngine talking to the pool through the thread's port. See ingest-pool.ts. */
import { parentPort, workerData } from 'node:worker_threads';
import { IngestEngine } from './ingest-engine.js';
import type { ToWorker, WorkerSetup } from './protocol.js';

const port = parentPort!;
const engine = new IngestEngine(workerData as WorkerSetup, (m, transfer = []) => port.postMessage(m, transfer));
port.on('message', (m: ToWorker) => engine.receive(m));
