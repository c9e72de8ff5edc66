import type { Command } from 'commander';
import { openStorage } from '../storage/registry.js';
import { runConformance } from '../storage/testing/conformance.js';
import { IntegrityError } from '../util/errors.js';
import { stripCredentials } from '../util/secret.js';
import { table } from '../util/format.js';
import type { Context } from './context.js';
import type { TargetSpec } from '../storage/open.js';

export function registerStorage(program: Command, ctx: () => Context): void {
  const storage = program.command('storage').description('storage targets');
  storage
    .command('validate')
    .description('run the storage contract checks against a target, or against every target of the repository (--repo/--config) when no URL is given; writes and removes a few objects under validate-<random>/')
    .argument('[url]', 'a path, s3:https://host/bucket/prefix or sftp:user@host:/path')
    .option('--key-file <file>', 'SFTP: the private key (default: ssh-agent, ~/.ssh/id_*)')
    .option('--known-hosts <file>', 'SFTP: the known_hosts file (default ~/.ssh/known_hosts)')
    .option('--profile <name>', 'S3: a profile of the shared AWS config')
    .option('--region <region>', 'S3: the region (default: AWS_REGION, else us-east-1)')
    .action(async (url: string | undefined, f: { keyFile?: string; knownHosts?: string; profile?: string; region?: string }) => {
      const c = ctx();
      const specs: TargetSpec[] = url
        ? [{ url, options: { env: c.env, ...(f.keyFile ? { keyFile: f.keyFile } : {}), ...(f.knownHosts ? { knownHosts: f.knownHosts } : {}), ...(f.profile ? { profile: f.profile } : {}), ...(f.region ? { region: f.region } : {}) } }]
        : [...(await c.repoSpec()).targets];
      let failed = 0;
      for (const spec of specs) {
        const where = stripCredentials(spec.url);
        const target = await openStorage(spec.url, spec.options);
        try {
          const results = await runConformance(target);
          for (const r of results) c.out.event({ message_type: 'check', target: where, name: r.name, status: r.status, detail: r.detail ?? null, seconds: r.seconds });
          c.out.info(`${where}:\n${table([['check', 'result', 'time'], ...results.map((r) => [r.name, r.status === 'pass' ? 'pass' : `FAIL: ${r.detail ?? ''}`, `${r.seconds.toFixed(3)} s`])])}`);
          const bad = results.filter((r) => r.status === 'fail').length;
          if (bad > 0) process.stderr.write(`error: ${where} failed ${bad} of ${results.length} storage checks: it cannot hold a safepoint repository safely\n`);
          else c.out.info(`${where}: all ${results.length} checks passed`);
          failed += bad;
        } finally {
          await target.close();
        }
      }
      if (failed > 0) throw new IntegrityError(`${failed} storage checks failed (see above)`);
    });
}
