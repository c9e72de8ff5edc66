import { PassThrough, type Readable } from 'node:stream';

/**
 * A child process's stdout that keeps its bytes until they are read. Node resumes (and so throws away) the unread
 * output of a child that exits before anything listens to it: a small git bundle, written while the repository was
 * being opened, was stored as an empty file, and a rollback then failed to fetch from it ("invalid gitfile format").
 * `highWaterMark`: how much is read ahead of the consumer (the tool blocks on its writes beyond that).
 *
 * A stdout closed without an end (the program could not be started) ends the copy too, so a reader sees the end of
 * the output and then the process's own error, instead of waiting forever.
 */
export function keepOutput(stdout: Readable, highWaterMark?: number): Readable {
  const out = new PassThrough(highWaterMark === undefined ? {} : { highWaterMark });
  stdout.once('error', (err) => out.destroy(err));
  stdout.once('close', () => {
    if (!stdout.readableEnded && !out.destroyed) out.end();
  });
  return stdout.pipe(out);
}
