import type { Command } from 'commander';
import { Repository } from '../repo/repository.js';
import { UsageError } from '../util/errors.js';
import { shortId } from '../repo/ids.js';
import type { CompressionMode } from '../repo/compression.js';
import type { Context } from './context.js';
import { readPassword } from './password.js';

export function registerInit(program: Command, ctx: () => Context): void {
  program
    .command('init')
    .description('create a new repository (--repo PATH|URL, or the name of a repository in safepoint.yaml)')
    .option('--compression <mode>', 'off | auto | max (default: from the config, else auto)')
    .action(async (flags: { compression?: string }) => {
      const c = ctx();
      const t = await c.repoSpec();
      const compression = (flags.compression ?? t.compression ?? 'auto') as CompressionMode;
      if (!['off', 'auto', 'max'].includes(compression)) throw new UsageError(`--compression ${compression}: expected off, auto or max`);
      const password = await readPassword({ passwordFile: c.opts.passwordFile, env: c.env, configPasswordFile: t.passwordFile }, { confirm: true, prompt: 'enter password for new repository: ' });
      // every target must take the new repository: a mirror whose second target never got the config is no mirror
      const storage = await c.openStorage({ ...t, minTargets: t.targets.length });
      let repo: Repository;
      try {
        await storage.create?.(); // the folder, or the bucket (with Object Lock when the config asks for it)
        repo = await Repository.init(storage, password, { compression });
      } finally {
        await storage.close();
      }
      c.out.event({ message_type: 'initialized', id: repo.config.id, repository: storage.properties().location });
      c.out.info(`created safepoint repository ${shortId(repo.config.id)} at ${storage.properties().location}`);
      c.out.info('Keep the password safe: without it the data in the repository cannot be read.');
    });
}
