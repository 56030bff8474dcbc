import type { Command } from 'commander';
import { WardenError } from '../../errors.js';
import type { WardenApi } from '../../client/api.js';
import { printJson } from '../output.js';

/** `warden panic`: kill and remove everything Warden-labelled (or what --label narrows it to). */
export function registerPanic(program: Command, ctx: { warden: () => WardenApi; setExit: (c: number) => void }): void {
  program
    .command('panic')
    .description("EMERGENCY STOP: kill and remove every sandbox of this Warden instance (--all-instances: the engine's), then their networks and volumes (scripts/emergency-stop.sh does it without Node)")
    .option('--label <k=v>', 'only objects with this label (repeatable)', (v: string, p: string[] = []) => [...p, v])
    .option('--all-instances', "every Warden instance's sandboxes on the engine, not only this one's (WARDEN_INSTANCE)")
    .option('--json', 'print the report as JSON')
    .action(async (f: { label?: string[]; json?: boolean; allInstances?: boolean }) => {
      const labels: Record<string, string> = {};
      for (const kv of f.label ?? []) {
        const i = kv.indexOf('=');
        if (i <= 0) throw new WardenError('INVALID_ARGUMENT', `--label '${kv}' must be key=value`);
        labels[kv.slice(0, i)] = kv.slice(i + 1);
      }
      const r = await ctx.warden().panic({ labels, ...(f.allInstances ? { allInstances: true } : {}) });
      if (f.json) printJson(r);
      else {
        process.stdout.write(`panic: removed ${r.containers} containers, ${r.networks} networks, ${r.volumes} volumes in ${r.durationMs} ms; ${r.left} left\n`);
        for (const e of r.errors) process.stderr.write(`panic: ${e}\n`);
      }
      ctx.setExit(r.left === 0 ? 0 : 1);
    });
}
