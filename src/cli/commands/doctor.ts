import type { Command } from 'commander';
import type { Warden } from '../../sandbox/warden.js';
import { printJson } from '../output.js';

export function registerDoctor(program: Command, ctx: { local: () => Warden; setExit: (c: number) => void }): void {
  program
    .command('doctor')
    .description('check the engine, runtimes, images and Warden home; says what to do about each failure')
    .option('--json', 'print the checks as JSON')
    .action(async (f: { json?: boolean }) => {
      const { runDoctor } = await import('../../doctor/doctor.js');
      const checks = await runDoctor(ctx.local().runtime);
      const failed = checks.filter((c) => !c.ok && !c.optional);
      if (f.json) printJson({ ok: failed.length === 0, checks });
      else {
        for (const c of checks) {
          const mark = c.ok ? 'ok  ' : c.optional ? 'note' : 'FAIL';
          process.stdout.write(`${mark}  ${c.name.padEnd(16)} ${c.detail}\n`);
          if (!c.ok && c.hint) process.stdout.write(`      ${''.padEnd(16)} fix: ${c.hint}\n`);
        }
      }
      ctx.setExit(failed.length === 0 ? 0 : 1);
    });
}
