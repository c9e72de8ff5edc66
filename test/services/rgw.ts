/** A throwaway Ceph RADOS Gateway (a real S3 server) for integration tests, run by ceph-rgw.sh next to this file's source. */
import { execFile, spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Rgw {
  /** `http://127.0.0.1:PORT`; use path-style addressing and region us-east-1. */
  readonly endpoint: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** Kills the daemons and removes their folder. */
  stop(): Promise<void>;
}

const BINARIES = ['ceph-mon', 'ceph-osd', 'radosgw', 'radosgw-admin', 'ceph'];

/**
 * Starts mon, OSD (memstore) and radosgw under a fresh /tmp/sprgw-XXXXXX (about 3 s) and returns the endpoint and
 * credentials, or null when the Ceph packages are not installed (ceph-mon ceph-osd radosgw ceph-common). Throws when
 * they are installed but the gateway does not come up. The daemons are also killed when the process exits without
 * calling stop(). Share one per test file: start in `before`, stop in `after`.
 */
export async function startRgw(): Promise<Rgw | null> {
  if (!BINARIES.every(onPath)) return null;
  const script = join(repositoryRoot(), 'test', 'services', 'ceph-rgw.sh');
  const dir = await mkdtemp('/tmp/sprgw-');
  const cleanup = (): void => void spawnSync('bash', [script, 'stop', dir], { stdio: 'ignore' });
  process.once('exit', cleanup);
  let out: string;
  try {
    out = await run(script, 'start', dir);
  } catch (err) {
    process.removeListener('exit', cleanup);
    await run(script, 'stop', dir).catch(() => undefined);
    throw err;
  }
  const vars = new Map(out.split('\n').map((line) => line.split('=', 2) as [string, string]));
  const value = (key: string): string => {
    const v = vars.get(key);
    if (!v) throw new Error(`ceph-rgw.sh start printed no ${key}`);
    return v;
  };
  return {
    endpoint: value('S3_ENDPOINT'),
    accessKeyId: value('AWS_ACCESS_KEY_ID'),
    secretAccessKey: value('AWS_SECRET_ACCESS_KEY'),
    stop: async () => {
      process.removeListener('exit', cleanup);
      await run(script, 'stop', dir);
    },
  };
}

function run(script: string, command: 'start' | 'stop', dir: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('bash', [script, command, dir], { timeout: 180_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`ceph-rgw.sh ${command} ${dir} failed: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

function onPath(binary: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, binary), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** The folder holding package.json above this file (also when compiled to dist/test/services/). */
function repositoryRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('package.json not found above test/services/rgw');
    dir = up;
  }
  return dir;
}
