import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * Where this host keeps safepoint's state (the daemon's record of its jobs, the journal anchors):
 * $SAFEPOINT_STATE_DIR, else $STATE_DIRECTORY (systemd's StateDirectory=), else /var/lib/safepoint as root, else
 * ~/.local/state/safepoint.
 */
export function stateDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SAFEPOINT_STATE_DIR) return env.SAFEPOINT_STATE_DIR;
  if (env.STATE_DIRECTORY) return env.STATE_DIRECTORY.split(':')[0]!;
  return process.getuid?.() === 0 ? '/var/lib/safepoint' : join(homedir(), '.local', 'state', 'safepoint');
}
