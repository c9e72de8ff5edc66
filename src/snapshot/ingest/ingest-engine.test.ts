import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_CHUNKER_PARAMS, gearTable } from '../../repo/chunker.js';
import { open } from '../../repo/crypto.js';
import { withTempDir } from '../../util/testing.js';
import { IngestEngine } from './ingest-engine.js';
import type { BoxItem, FromWorker, ToWorker } from './protocol.js';

test('an ingest lane seals later boxes into the buffers the pool sends back with its acknowledgements', () =>
  withTempDir('sp-engine-', async (dir) => {
    const encKey = randomBytes(32);
    const setup = { macKey: randomBytes(32), encKey, gear: gearTable(Buffer.alloc(32, 3)), chunker: DEFAULT_CHUNKER_PARAMS, compression: 'auto' as const, budget: 4 * 1024 * 1024 };
    const sent: ArrayBuffer[] = [];
    const done: number[] = [];
    // the pool's side, as the main lane's: verdicts store everything, and every box's buffer goes back with the ack
    const answer = (m: ToWorker): void => void setImmediate(() => engine.receive(m));
    const engine: IngestEngine = new IngestEngine(setup, (m: FromWorker) => {
      if (m.t === 'query') answer({ t: 'verdict', store: m.items.map((q) => q.seq), drop: [] });
      else if (m.t === 'blobs') {
        for (const b of m.items) {
          const box = Buffer.from(b.box, 0, b.length);
          assert.ok(open(encKey, box).length === b.rawLength, 'a box opens to its chunk');
        }
        const boxes = m.items.map((b: BoxItem) => b.box);
        sent.push(...boxes);
        answer({ t: 'ack', bytes: m.items.reduce((n, b) => n + b.rawLength, 0), boxes });
      } else done.push(m.job);
    });
    const files = [0, 1, 2, 3].map((i) => ({ job: i, path: join(dir, `f${i}`), size: 3 * 1024 * 1024 }));
    for (const f of files) await writeFile(f.path, randomBytes(f.size));
    for (const f of files) {
      engine.receive({ t: 'files', jobs: [f] });
      while (!done.includes(f.job)) await new Promise((r) => setImmediate(r));
      await new Promise((r) => setTimeout(r, 5)); // its last acknowledgement arrives
    }
    assert.ok(sent.length >= 8, `${sent.length} boxes`);
    assert.ok(new Set(sent).size < sent.length, `buffers were reused: ${new Set(sent).size} buffers for ${sent.length} boxes`);
  }));
