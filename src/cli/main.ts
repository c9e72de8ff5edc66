#!/usr/bin/env node
import { main } from './program.js';

// Restores and backups issue many small file-system calls at once; libuv's default of 4 threads is the bottleneck.
process.env.UV_THREADPOOL_SIZE ??= '8';

process.exitCode = await main(process.argv);
