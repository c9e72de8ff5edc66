import { createServer } from 'node:net';

/** A TCP port nobody listens on right now on 127.0.0.1 (the kernel's pick; a race with another process is unlikely). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (a && typeof a === 'object' ? resolve(a.port) : reject(new Error('no free port on 127.0.0.1'))));
    });
  });
}
