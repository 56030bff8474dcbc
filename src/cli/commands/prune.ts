import type { Command } from 'commander';
import { WardenError } from '../../errors.js';
import type { WardenApi } from '../../client/api.js';
import { printJson } from '../output.js';

/** `warden prune`: remove exited/dead sandboxes and orphans (or what --label narrows it to), and say what. */
export function registerPrune(program: Command, ctx: { warden: () => WardenApi; setExit: (c: number) => void }): void {
  program
    .command('prune')
    .description("remove exited and dead sandboxes (with their proxy, forwarder, network and volume), companions whose sandbox is gone, and what dead owners left behind; running sandboxes are not touched")
    .option('--label <k=v>', 'only objects with this label (repeatable)', (v: string, p: string[] = []) => [...p, v])
    .option('--json', 'print the report as JSON')
    .action(async (f: { label?: string[]; json?: boolean }) => {
      const labels: Record<string, string> = {};
      for (const kv of f.label ?? []) {
        const i = kv.indexOf('=');
        if (i <= 0) throw new WardenError('INVALID_ARGUMENT', `--label '${kv}' must be key=value`);
        labels[kv.slice(0, i)] = kv.slice(i + 1);
      }
      const r = await ctx.warden().prune({ labels });
      if (f.json) printJson(r);
      else {
        const list = (what: string, items: string[]): void => {
          if (items.length) process.stdout.write(`${what}: ${items.join(' ')}\n`);
        };
        list('sandboxes', r.sandboxes);
        list('containers', r.containers);
        list('networks', r.networks);
        list('volumes', r.volumes);
        process.stdout.write(`prune: removed ${r.sandboxes.length} sandboxes, ${r.containers.length} other containers, ${r.networks.length} networks, ${r.volumes.length} volumes in ${r.durationMs} ms\n`);
        for (const e of r.errors) process.stderr.write(`prune: ${e}\n`);
      }
      ctx.setExit(r.errors.length === 0 ? 0 : 1);
    });
}
