import type { Command } from 'commander';
import { shortId } from '../repo/ids.js';
import { table } from '../util/format.js';
import type { Context } from './context.js';
import { readPassword } from './password.js';
import { UserError } from '../util/errors.js';
import { readFile } from 'node:fs/promises';
import { Secret } from '../util/secret.js';

/** The new password: --new-password-file, SAFEPOINT_NEW_PASSWORD, or a prompt. */
async function newPassword(c: Context, file?: string): Promise<Secret> {
  if (file) return new Secret((await readFile(file, 'utf8')).replace(/\r?\n$/, ''));
  if (c.env.SAFEPOINT_NEW_PASSWORD !== undefined) return new Secret(c.env.SAFEPOINT_NEW_PASSWORD);
  return readPassword({ env: {} }, { confirm: true, prompt: 'enter new password: ' });
}

export function registerKey(program: Command, ctx: () => Context): void {
  const key = program.command('key').description('manage the passwords that open the repository');
  key
    .command('list')
    .description('list keys (the current one is marked *)')
    .action(async () => {
      const c = ctx();
      await c.withRepository('key list', 'none', async (repo) => {
        const keys = await repo.listKeys();
        if (c.out.json) process.stdout.write(JSON.stringify(keys.map((k) => ({ id: k.id, current: k.id === repo.keyId, created: k.file.created, host: k.file.host, username: k.file.username, append_only: k.file.appendOnly === true }))) + '\n');
        c.out.info(table([[' ID', 'User', 'Host', 'Created', 'Rights'], ...keys.map((k) => [`${k.id === repo.keyId ? '*' : ' '}${shortId(k.id)}`, k.file.username, k.file.host, k.file.created, k.file.appendOnly ? 'append-only' : 'admin'])]));
      });
    });
  key
    .command('add')
    .description('add a password (from --new-password-file, SAFEPOINT_NEW_PASSWORD, or a prompt)')
    .option('--new-password-file <file>', 'read the new password from a file')
    .option('--append-only', 'the new password can add snapshots but never delete or replace anything (for the machines being backed up)')
    .action(async (f: { newPasswordFile?: string; appendOnly?: boolean }) => {
      const c = ctx();
      await c.withRepository('key add', 'none', async (repo) => {
        const id = await repo.addKey(await newPassword(c, f.newPasswordFile), { appendOnly: f.appendOnly === true });
        const appendOnly = f.appendOnly === true || repo.appendOnly;
        c.out.event({ message_type: 'key_added', id, append_only: appendOnly });
        c.out.info(`saved new ${appendOnly ? 'append-only ' : ''}key ${shortId(id)}`);
      });
    });
  key
    .command('remove')
    .description('remove a key (not the last one)')
    .argument('<id>', 'key id or unique prefix')
    .action(async (ref: string) => {
      const c = ctx();
      await c.withRepository('key remove', 'none', async (repo) => {
        repo.requireAdmin('key remove');
        const id = await repo.resolveId('keys', ref);
        if (id === repo.keyId) throw new UserError('refusing to remove the key in use: open the repository with another password to remove this one');
        await repo.removeKey(id);
        c.out.info(`removed key ${shortId(id)}`);
      }, undefined, { allTargets: true });
    });
  key
    .command('passwd')
    .description('change the password of the key in use (adds a new key, then removes the old one)')
    .option('--new-password-file <file>', 'read the new password from a file')
    .action(async (f: { newPasswordFile?: string }) => {
      const c = ctx();
      await c.withRepository('key passwd', 'none', async (repo) => {
        repo.requireAdmin('key passwd');
        const id = await repo.addKey(await newPassword(c, f.newPasswordFile));
        await repo.removeKey(repo.keyId);
        c.out.info(`password changed: key ${shortId(repo.keyId)} replaced by ${shortId(id)}`);
      }, undefined, { allTargets: true });
    });
}
