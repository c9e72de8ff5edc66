import type { Command } from 'commander';
import { openStorage } from '../storage/registry.js';
import { runConformance } from '../storage/testing/conformance.js';
import { IntegrityError } from '../util/errors.js';
import { stripCredentials } from '../util/secret.js';
import { table } from '../util/format.js';
import type { Context } from './context.js';

export function registerStorage(program: Command, ctx: () => Context): void {
  const storage = program.command('storage').description('storage targets');
  storage
    .command('validate')
    .description('run the storage contract checks against a target (writes and removes a few objects under validate-<random>/)')
    .argument('<url>', 'a path (later also s3:..., sftp:...)')
    .action(async (url: string) => {
      const c = ctx();
      const target = await openStorage(url, { env: c.env });
      try {
        const results = await runConformance(target);
        for (const r of results) c.out.event({ message_type: 'check', name: r.name, status: r.status, detail: r.detail ?? null, seconds: r.seconds });
        c.out.info(table([['check', 'result', 'time'], ...results.map((r) => [r.name, r.status === 'pass' ? 'pass' : `FAIL: ${r.detail ?? ''}`, `${r.seconds.toFixed(3)} s`])]));
        const failed = results.filter((r) => r.status === 'fail').length;
        if (failed > 0) throw new IntegrityError(`${stripCredentials(url)} failed ${failed} of ${results.length} storage checks: it cannot hold a safepoint repository safely`);
        c.out.info(`${stripCredentials(url)}: all ${results.length} checks passed`);
      } finally {
        await target.close();
      }
    });
}
