import type { Command } from 'commander';
import type { SandboxApi, WardenApi } from '../../client/api.js';
import { printJson } from '../output.js';
import { checkTemplate, renderTemplate } from '../template.js';

/** What `warden inspect` shows of one sandbox: state, spec, limits, network policy, mounts, labels, ports. */
export function inspectView(sb: SandboxApi): Record<string, unknown> {
  const i = sb.info;
  let spec: Record<string, unknown> = {};
  try {
    spec = JSON.parse(i.labels['warden.spec'] ?? '{}') as Record<string, unknown>;
  } catch {
    /* an unreadable label: shown empty */
  }
  return {
    ID: i.id,
    Name: i.name,
    ContainerID: i.containerId,
    State: i.state,
    Health: i.health ?? null,
    Image: i.image,
    Lifetime: i.lifetime,
    Owner: i.owner,
    Key: i.key ?? null,
    Project: i.labels['warden.project'] ?? null,
    CreatedAt: i.createdAt,
    StartedAt: i.startedAt ?? null,
    FinishedAt: i.finishedAt ?? null,
    ExitCode: i.exitCode ?? null,
    OOMKilled: i.oomKilled ?? false,
    User: i.user,
    Limits: spec.resources ?? {},
    MaxRuntime: spec.maxRuntime ?? null,
    Network: { mode: spec.network ?? 'none', egress: spec.egress ?? null },
    Mounts: [
      ...(spec.workspace ? [{ source: spec.workspace, target: '/workspace', readOnly: false }] : spec.workspaceVolume ? [{ volume: true, target: '/workspace', readOnly: false }] : []),
      ...(spec.configDir ? [{ source: spec.configDir, target: '/app/config', readOnly: true }] : []),
      ...((spec.mounts as unknown[]) ?? []),
    ],
    Ports: i.ports,
    Labels: i.labels,
    Spec: spec,
  };
}

/** `warden inspect ID... [--format TEMPLATE]`: everything about sandboxes as JSON, like `docker inspect`. */
export function registerInspect(program: Command, ctx: { warden: () => WardenApi; setExit: (c: number) => void }): void {
  program
    .command('inspect')
    .description('spec, limits, network policy, mounts, state, labels and ports of sandboxes as JSON (an array, as docker prints)')
    .argument('<ids...>', 'sandbox ids, names or unique id prefixes')
    .option('-f, --format <template>', 'Go-template-like output per sandbox, e.g. {{.State}}, {{.Limits.memory}}, {{json .Network}}, {{index .Labels "warden.owner"}}')
    .action(async (ids: string[], f: { format?: string }) => {
      if (f.format !== undefined) checkTemplate(f.format);
      const views: Array<Record<string, unknown>> = [];
      let failed = 0;
      for (const id of ids) {
        try {
          views.push(inspectView(await ctx.warden().get(id)));
        } catch (err) {
          failed++;
          process.stderr.write(`warden: ${(err as Error).message}\n`);
        }
      }
      if (f.format !== undefined) for (const v of views) process.stdout.write(`${renderTemplate(f.format, v)}\n`);
      else printJson(views);
      if (failed) ctx.setExit(1);
    });
}
