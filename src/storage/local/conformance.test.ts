import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalStorage } from './local-storage.js';
import { runConformance } from '../testing/conformance.js';

test('local storage passes the storage conformance suite', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sp-conformance-'));
  const storage = new LocalStorage(dir);
  try {
    const results = await runConformance(storage);
    assert.ok(results.length >= 8);
    assert.deepEqual(results.filter((r) => r.status === 'fail'), []);
  } finally {
    await storage.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('the suite reports a backend that breaks the contract', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sp-conformance-'));
  // a backend whose put silently replaces existing objects and whose ranged reads ignore the length
  class Sloppy extends LocalStorage {
    override async put(name: string, data: Uint8Array | readonly Uint8Array[]): Promise<void> {
      await super.put(name, data, { overwrite: true });
    }
    override async get(name: string, options: { offset?: number; length?: number } = {}): Promise<Buffer> {
      return super.get(name, { ...(options.offset !== undefined ? { offset: options.offset } : {}) });
    }
  }
  const storage = new Sloppy(dir);
  try {
    const failed = (await runConformance(storage)).filter((r) => r.status === 'fail').map((r) => r.name);
    assert.ok(failed.includes('put does not replace an existing object unless asked'), failed.join('; '));
    assert.ok(failed.includes('ranged get (start, middle, end, past the end)'), failed.join('; '));
  } finally {
    await storage.close();
    await rm(dir, { recursive: true, force: true });
  }
});
