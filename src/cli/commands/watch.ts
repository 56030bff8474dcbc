import type { Command } from 'commander';
import type { SandboxStats } from '../../sandbox/monitor.js';
import type { WardenApi } from '../../client/api.js';
import { formatBytes } from '../../util/units.js';
import { printJson, printTable } from '../output.js';

function statsLines(id: string, s: SandboxStats): string {
  const mem = s.memoryBytes !== undefined ? `${formatBytes(s.memoryBytes)} / ${s.memoryLimitBytes ? formatBytes(s.memoryLimitBytes) : '-'} (${s.memoryPercent ?? '-'}%)` : '-';
  const disk = s.disk.map((d) => `${d.path} ${d.percent}% of ${formatBytes(d.sizeBytes)}`).join(', ');
  return [
    `sandbox   ${id}  (${s.state}, age ${Math.round(s.ageMs / 1000)} s)`,
    `cpu       ${s.cpuPercent ?? '-'}% of one core (cap ${s.cpuLimitCores ?? '-'} cores)`,
    `memory    ${mem}${s.oomKills ? `  OOM kills: ${s.oomKills}` : ''}`,
    `pids      ${s.pids ?? '-'} / ${s.pidsLimit ?? '-'}   processes ${s.processes ?? '-'}`,
    `network   rx ${formatBytes(s.networkRxBytes ?? 0)}  tx ${formatBytes(s.networkTxBytes ?? 0)}`,
    `disk      ${disk || '-'}${s.workspaceBytes !== undefined ? `; workspace holds ${formatBytes(s.workspaceBytes)}` : ''}`,
  ].join('\n');
}

/** One row per running sandbox, read four at a time (one exec each). */
async function allStats(warden: WardenApi, f: { json?: boolean }, clear: boolean): Promise<void> {
  const list = (await warden.list({ state: 'running' })).filter((s) => s.state === 'running');
  const rows: Array<{ id: string; name: string; stats?: SandboxStats; error?: string }> = [];
  for (let i = 0; i < list.length; i += 4) {
    rows.push(
      ...(await Promise.all(
        list.slice(i, i + 4).map(async (s) => {
          try {
            return { id: s.id, name: s.name, stats: await (await warden.get(s.id)).stats() };
          } catch (err) {
            return { id: s.id, name: s.name, error: (err as Error).message };
          }
        }),
      )),
    );
  }
  if (f.json) return printJson(rows);
  if (clear) process.stdout.write('\x1b[2J\x1b[H');
  printTable(
    ['ID', 'NAME', 'CPU %', 'MEM USAGE / LIMIT', 'MEM %', 'PIDS', 'NET RX / TX', 'AGE'],
    rows.map(({ id, name, stats: s, error }) =>
      s
        ? [id, name, `${s.cpuPercent ?? '-'}`, `${s.memoryBytes !== undefined ? formatBytes(s.memoryBytes) : '-'} / ${s.memoryLimitBytes ? formatBytes(s.memoryLimitBytes) : '-'}`, `${s.memoryPercent ?? '-'}`, `${s.pids ?? '-'}`, `${formatBytes(s.networkRxBytes ?? 0)} / ${formatBytes(s.networkTxBytes ?? 0)}`, `${Math.round(s.ageMs / 1000)}s`]
        : [id, name, `(${error ?? 'no stats'})`, '', '', '', '', ''],
    ),
  );
}

/** `warden stats|health|top`: watching a sandbox. */
export function registerWatch(program: Command, ctx: { warden: () => WardenApi; setExit: (c: number) => void }): void {
  program
    .command('stats')
    .description('CPU, memory, OOM kills, pids, network, disk and age of a sandbox; with no id, a table of every running sandbox')
    .argument('[id]', 'sandbox id, name or unique id prefix (none: all running sandboxes)')
    .option('--json', 'JSON')
    .option('--watch', 'refresh every 2 s until interrupted')
    .action(async (id: string | undefined, f: { json?: boolean; watch?: boolean }) => {
      if (id === undefined) {
        do {
          await allStats(ctx.warden(), f, Boolean(f.watch));
          if (f.watch) await new Promise((r) => setTimeout(r, 2000));
        } while (f.watch);
        return;
      }
      const sb = await ctx.warden().get(id);
      do {
        const s = await sb.stats();
        if (f.json) process.stdout.write(`${JSON.stringify(s)}\n`);
        else process.stdout.write(`${f.watch ? '\x1b[2J\x1b[H' : ''}${statsLines(sb.id, s)}\n`);
        if (f.watch) await new Promise((r) => setTimeout(r, 2000));
      } while (f.watch);
    });

  program
    .command('health')
    .description('healthy / unhealthy / stopped, with the reasons (exit code 0 only when healthy)')
    .argument('<id>')
    .option('--json', 'JSON')
    .action(async (id: string, f: { json?: boolean }) => {
      const h = await (await ctx.warden().get(id)).health();
      if (f.json) printJson(h);
      else {
        process.stdout.write(`${h.status}\n`);
        for (const r of h.reasons) process.stdout.write(`  - ${r}\n`);
      }
      ctx.setExit(h.status === 'healthy' ? 0 : 1);
    });

  program
    .command('egress')
    .description("what a sandbox's egress proxy saw: every request, allowed or denied and by which rule")
    .argument('<id>')
    .option('--json', 'JSON')
    .action(async (id: string, f: { json?: boolean }) => {
      const log = await (await ctx.warden().get(id)).egressLog();
      if (f.json) return printJson(log);
      printTable(
        ['TIME', 'METHOD', 'HOST', 'PORT', 'PATH', 'STATUS', 'OUT', 'IN', 'DECISION'],
        log.map((r) => [r.time.slice(11, 23), r.method, r.host, String(r.port), r.path.slice(0, 40), String(r.status), formatBytes(r.bytesOut), formatBytes(r.bytesIn), `${r.allowed ? 'allow' : 'DENY'}: ${r.rule}`]),
      );
    });

  program
    .command('top')
    .description('the processes inside a sandbox, with their role')
    .argument('<id>')
    .option('--json', 'JSON')
    .action(async (id: string, f: { json?: boolean }) => {
      const rows = await (await ctx.warden().get(id)).processes();
      if (f.json) return printJson(rows);
      printTable(
        ['PID', 'PPID', 'USER', 'STAT', '%CPU', 'RSS', 'ELAPSED', 'ROLE', 'COMMAND'],
        rows.map((r) => [String(r.pid), String(r.ppid), r.user, r.state, r.cpuPercent.toFixed(1), formatBytes(r.rssBytes), `${r.elapsedSeconds}s`, r.role, r.command.slice(0, 80)]),
      );
    });
}
