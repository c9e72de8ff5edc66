/** `safepoint mariadb binlog-sync`: archive the closed binlogs of a MariaDB source (for --target-time restores). */
import type { Command } from 'commander';
import { pickSource } from '../config/lookup.js';
import { UsageError } from '../util/errors.js';
import { formatBytes } from '../util/format.js';
import type { Context } from './context.js';

export function registerMariadb(program: Command, ctx: () => Context): void {
  const m = program.command('mariadb').description('MariaDB binlog archiving (point-in-time restores of physical backups)');
  m.command('binlog-sync')
    .description('store the closed binlog files the repository lacks (after FLUSH BINARY LOGS, so the current one too); run it as often as the RPO asks (every physical backup does it)')
    .option('--source <name>', 'the MariaDB source (default: the only one with mode: physical)')
    .option('--no-flush', 'do not rotate the binlog first: only files the server already closed')
    .action(async (f: { source?: string; flush: boolean }) => {
      const c = ctx();
      const source = pickSource(await c.requireConfig(), f.source, 'mariadb', (s) => s.mode === 'physical', 'mode: physical');
      const { syncBinlogs } = await import('../db/mariadb/binlog.js');
      process.exitCode = await c.withRepository('binlog-sync', 'shared', async (repo) => {
        const r = await syncBinlogs(repo, source, { flush: f.flush });
        c.out.event({ message_type: 'summary', source: source.name, enabled: r.enabled, stored: r.stored, bytes: r.bytes });
        if (!r.enabled) throw new UsageError(`the server of source ${source.name} writes no binlogs (log_bin = OFF): enable log_bin to restore to a point in time`);
        c.out.info(`${r.stored.length} binlog files archived (${formatBytes(r.bytes)})${r.stored.length > 0 ? `: ${r.stored.join(', ')}` : ''}`);
        return 0;
      }, source.name);
    });
}
