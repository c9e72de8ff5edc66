/**
 * Alerts on a failed job or a violated objective: a JSON POST to `alerts.webhook` (retried with backoff) and
 * `alerts.command` run with the alert in its environment. An alert that cannot be delivered is logged, never fatal.
 */
import type { AlertsConfig } from '../config/schema.js';
import { runCommand } from '../restore/services.js';
import { errorMessage } from '../util/errors.js';

export interface Alert {
  readonly kind: 'job_failed' | 'objective_violated' | 'objective_restored';
  readonly project: string;
  readonly source: string | null;
  readonly job: string | null;
  readonly message: string;
  readonly time: string;
}

export interface AlertOptions {
  readonly retries?: number;
  readonly baseDelayMs?: number;
  readonly onError?: (message: string) => void;
}

export async function sendAlert(cfg: AlertsConfig | undefined, alert: Alert, o: AlertOptions = {}): Promise<void> {
  if (!cfg) return;
  const tasks: Promise<void>[] = [];
  if (cfg.webhook) tasks.push(postWebhook(cfg.webhook, alert, o));
  if (cfg.command) {
    tasks.push(runCommand(cfg.command, {
      timeoutMs: 60_000,
      // a minimal environment: the alert hook never sees the repository password or cloud keys
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/', LANG: process.env.LANG ?? 'C.UTF-8', SAFEPOINT_ALERT: JSON.stringify(alert), SAFEPOINT_ALERT_KIND: alert.kind, SAFEPOINT_ALERT_SOURCE: alert.source ?? '', SAFEPOINT_ALERT_MESSAGE: alert.message },
    }).then(() => undefined, (err: unknown) => o.onError?.(`alert command failed: ${errorMessage(err)}`)));
  }
  await Promise.all(tasks);
}

async function postWebhook(url: string, alert: Alert, o: AlertOptions): Promise<void> {
  const retries = o.retries ?? 3;
  let last = '';
  for (let attempt = 0; attempt <= retries; attempt++) {
    if (attempt > 0) await new Promise((r) => setTimeout(r, (o.baseDelayMs ?? 1000) * 2 ** (attempt - 1)));
    try {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(alert), signal: AbortSignal.timeout(10_000) });
      if (res.ok) return;
      last = `answered ${res.status}`;
      if (res.status < 500 && res.status !== 429) break;
    } catch (err) {
      last = errorMessage(err);
    }
  }
  o.onError?.(`alert webhook ${new URL(url).host}: ${last} (gave up)`);
}
