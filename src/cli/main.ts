#!/usr/bin/env node
import { main } from './program.js';
import { takeMallocTuning } from '../util/malloc-env.js';
import { capHeap } from '../util/gc.js';

// bin/safepoint's allocator settings are this process's, not the databases' and services' it starts
takeMallocTuning();

// Restores and backups issue many small file-system calls at once; libuv's default of 4 threads is the bottleneck.
process.env.UV_THREADPOOL_SIZE ??= '8';

// `safepoint ls latest | head`: the reader is gone, so is the point of writing; no stack trace
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});

// the main thread's heap stays near its live size: fewer MiB of peak RSS for a few full collections (util/gc.ts)
capHeap();

process.exitCode = await main(process.argv);
