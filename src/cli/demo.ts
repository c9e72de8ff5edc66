import type { Command } from 'commander';
import { IntegrityError } from '../util/errors.js';
import type { Context } from './context.js';

export function registerDemo(program: Command, ctx: () => Context): void {
  program
    .command('demo')
    .description('run the demo scenario in a temporary folder: back up a sample project, damage it, restore it, verify it; the same for a SQLite database; deploy an app twice, the second release failing its health check and rolled back by itself; a data folder hit by ransomware over two backups, flagged by the scan and rolled back to its last clean state')
    .option('--dir <dir>', 'work in this folder and keep it afterwards')
    .option('--keep', 'keep the temporary folder')
    .action(async (f: { dir?: string; keep?: boolean }) => {
      const c = ctx();
      c.out.info('safepoint demo: back up, damage, restore, verify; a database; a deploy rolled back; a ransomware attack rolled back\n');
      let n = 0;
      const { runDemo } = await import('../demo/demo.js'); // loads SQLite and the rest only when asked
      const r = await runDemo({
        ...(f.dir ? { dir: f.dir } : {}),
        keep: f.keep ?? false,
        onStep: (s) => {
          n++;
          c.out.event({ message_type: 'demo_step', step: n, title: s.title, detail: s.detail, seconds: s.seconds });
          c.out.info(`${String(n).padStart(2)}. ${s.title}  (${s.seconds.toFixed(2)} s)\n    ${s.detail}`);
        },
      });
      const total = r.steps.reduce((a, s) => a + s.seconds, 0);
      c.out.event({ message_type: 'summary', ok: r.ok, steps: r.steps.length, total_duration: total, dir: f.dir || f.keep ? r.dir : null });
      c.out.info(`\n${r.ok ? 'OK' : 'FAILED'}: the project was recovered ${r.ok ? 'exactly as backed up' : 'with differences'} in ${total.toFixed(2)} s${f.dir || f.keep ? ` (files kept in ${r.dir})` : ''}`);
      if (!r.ok) throw new IntegrityError('the demo found differences after the restore');
    });
}
