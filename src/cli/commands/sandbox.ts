import type { Command } from 'commander';
import { WardenError } from '../../errors.js';
import type { WardenApi } from '../../client/api.js';
import { parseDuration } from '../../util/units.js';
import { age, EXIT_TIMEOUT, printJson, printTable } from '../output.js';
import { checkSignal } from '../../policy/limits.js';
import { LABEL } from '../../policy/labels.js';
import type { SandboxInfo } from '../../sandbox/sandbox.js';
import type { ListFilter } from '../../sandbox/warden.js';
import { PROJECT_LABEL } from '../../server/reconcile.js';
import { renderFormat } from '../format.js';
import { addSpecFlags, envFromFlags, specFromFlags, type SpecFlags } from '../spec-flags.js';
import { streamCommand } from '../stream.js';
import { attachTerminal, requireTerminal } from '../terminal.js';
import type { SandboxApi } from '../../client/api.js';
import type { ExitInfo } from '../../sandbox/process.js';

/**
 * Run `cmd` (or the image's shell) on a terminal in the sandbox, attached to ours. `detachable`: Ctrl-P
 * Ctrl-Q leaves it running (not for `run`, whose sandbox ends with this process).
 */
async function terminalCommand(sb: SandboxApi, cmd: string[], opts: { timeoutMs?: number; env?: Record<string, string>; cwd?: string; detachable?: boolean }): Promise<ExitInfo> {
  const end = await attachTerminal((size) => sb.pty({ ...size, ...(cmd.length ? { cmd } : {}), ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}), ...(opts.env ? { env: opts.env } : {}), ...(opts.cwd ? { cwd: opts.cwd } : {}) }), { detachKeys: opts.detachable === true });
  if (end.detached) process.stderr.write(`\r\nwarden: detached from terminal session ${end.detached.ptyId}, which goes on; attach again: warden attach ${sb.id} ${end.detached.ptyId}\r\n`);
  return end;
}

/**
 * Do `op` for every id, as docker does: an unknown id (or any failure) is reported on stderr and the rest
 * still run; each success prints its id; the exit code is 1 when any failed.
 */
async function eachId(ids: string[], ctx: Ctx, op: (id: string) => Promise<unknown>): Promise<void> {
  let failed = 0;
  for (const id of ids) {
    try {
      await op(id);
      process.stdout.write(`${id}\n`);
    } catch (err) {
      failed++;
      const e = err as WardenError;
      process.stderr.write(`warden: ${e.message}${e.code ? ` [${e.code}]` : ''}\n`);
    }
  }
  if (failed) ctx.setExit(1);
}

/** Progress lines of long operations, on stderr (stdout stays the command's). */
const onProgress = (message: string): void => void process.stderr.write(`warden: ${message}\n`);

type Ctx = { warden: () => WardenApi; setExit: (code: number) => void };

function duration(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const ms = parseDuration(v);
  if (ms === undefined) throw new WardenError('INVALID_ARGUMENT', `--${flag} '${v}' is not a duration; use e.g. 30s, 5m or 1h (a bare number is seconds)`);
  return ms;
}

/** The fields `ps --format` knows. */
const PS_FIELDS = ['ID', 'Name', 'State', 'Image', 'Lifetime', 'Age', 'Key', 'Ports', 'Project', 'Owner', 'Instance', 'CreatedAt', 'ContainerID', 'Labels'] as const;

function psRow(s: SandboxInfo): Record<string, string> {
  return {
    ID: s.id,
    Name: s.name,
    State: s.state,
    Image: s.image,
    Lifetime: s.lifetime,
    Age: age(s.createdAt),
    Key: s.key ?? '',
    Ports: s.ports.map((p) => `${p.hostIp}:${p.hostPort}->${p.containerPort}`).join(','),
    Project: s.labels[PROJECT_LABEL] ?? '',
    Owner: s.owner,
    Instance: s.labels[LABEL.instance] ?? 'default',
    CreatedAt: s.createdAt,
    ContainerID: s.containerId.slice(0, 12),
    Labels: Object.entries(s.labels).filter(([k]) => !k.startsWith('warden.')).map(([k, v]) => `${k}=${v}`).join(','),
  };
}

const STATES = ['created', 'running', 'paused', 'restarting', 'exited', 'dead', 'removing'];

/** `--filter k=v` flags (and the older --owner/--key) -> a list filter; an unknown filter is an error. */
export function psFilter(f: { filter?: string[]; owner?: string; key?: string; allInstances?: boolean }): ListFilter {
  const out: ListFilter & { labels: Record<string, string> } = { labels: {}, ...(f.owner ? { owner: f.owner } : {}), ...(f.key ? { key: f.key } : {}), ...(f.allInstances ? { allInstances: true } : {}) };
  for (const kv of f.filter ?? []) {
    const i = kv.indexOf('=');
    const k = i > 0 ? kv.slice(0, i) : kv;
    const v = i > 0 ? kv.slice(i + 1) : '';
    if (!v) throw new WardenError('INVALID_ARGUMENT', `--filter '${kv}' must be KEY=VALUE, e.g. --filter state=exited or --filter label=team=a`);
    if (k === 'label') {
      const j = v.indexOf('=');
      if (j <= 0) throw new WardenError('INVALID_ARGUMENT', `--filter '${kv}': a label filter is label=KEY=VALUE, e.g. label=team=a`);
      out.labels[v.slice(0, j)] = v.slice(j + 1);
    } else if (k === 'state') {
      if (!STATES.includes(v)) throw new WardenError('INVALID_ARGUMENT', `--filter state=${v}: a state is one of ${STATES.join(', ')}`);
      out.state = v as ListFilter['state'];
    } else if (k === 'key') out.key = v;
    else if (k === 'project') out.labels[PROJECT_LABEL] = v;
    else if (k === 'owner') out.owner = v;
    else throw new WardenError('INVALID_ARGUMENT', `--filter '${kv}': unknown filter '${k}'; use label=, state=, key=, project= or owner=`);
  }
  if (Object.keys(out.labels).length === 0) delete (out as ListFilter).labels;
  return out;
}

export function registerSandboxCommands(program: Command, ctx: Ctx): void {
  addSpecFlags(
    program
      .command('run')
      .description('create a sandbox, run a command in it with live output, exit with its exit code, remove it (unless --keep)')
      .argument('[cmd...]', "command and arguments (after --); with -t the default is the image's shell")
      .option('--timeout <duration>', 'kill the command (whole process tree) after this long; exit 124')
      .option('-i, --interactive', 'attach stdin')
      .option('-t, --tty', 'give the command a terminal (raw mode, window size, Ctrl-C to the command); with -i: an interactive shell')
      .option('--keep', 'keep the sandbox after the command ends')
      .option('--json', 'print a JSON summary instead of streaming'),
  ).action(async (cmd: string[], f: SpecFlags & { timeout?: string; interactive?: boolean; tty?: boolean; keep?: boolean; json?: boolean }) => {
    const timeoutMs = duration('timeout', f.timeout);
    if (f.tty) requireTerminal();
    else if (cmd.length === 0) throw new WardenError('INVALID_ARGUMENT', 'no command given: write it after --, e.g. `warden run -- npm test`, or use -it for a shell');
    if (f.tty && f.json) throw new WardenError('INVALID_ARGUMENT', '--json and -t do not go together: a terminal session streams, it has no JSON summary');
    const warden = ctx.warden();
    // --keep: the sandbox outlives this CLI process (an ephemeral one would be removed with it)
    const sb = await warden.create(specFromFlags(f, { lifetime: f.keep ? 'persistent' : 'ephemeral' }), { onProgress });
    let removed = false;
    const cleanup = async (): Promise<void> => {
      if (!f.keep && !removed) {
        removed = true;
        await sb.remove({ force: true });
      }
    };
    try {
      if (f.json) {
        try {
          const r = await sb.exec(cmd, timeoutMs ? { timeoutMs } : {});
          printJson({ sandbox: sb.id, ...r, kept: Boolean(f.keep) });
          ctx.setExit(r.exitCode);
        } catch (err) {
          if (err instanceof WardenError && err.code === 'EXEC_TIMEOUT') {
            printJson({ sandbox: sb.id, timedOut: true, ...(err as unknown as { partial: object }).partial });
            ctx.setExit(EXIT_TIMEOUT);
            return;
          }
          throw err;
        }
        return;
      }
      const exit = f.tty ? await terminalCommand(sb, cmd, timeoutMs ? { timeoutMs } : {}) : await streamCommand(sb, cmd, { interactive: Boolean(f.interactive), ...(timeoutMs ? { timeoutMs } : {}) });
      if (exit.killedBy === 'timeout') {
        process.stderr.write(`warden: the command ran past --timeout ${f.timeout}; its process tree was killed\n`);
        ctx.setExit(EXIT_TIMEOUT);
      } else ctx.setExit(exit.exitCode);
      if (f.keep) process.stderr.write(`warden: kept sandbox ${sb.id} (warden rm ${sb.id} removes it)\n`);
    } finally {
      await cleanup();
    }
  });

  addSpecFlags(program.command('create').description('create and start a sandbox; prints its id').option('--json', 'print the sandbox as JSON').option('--ensure', 'reuse the sandbox with the same --key if there is one')).action(
    async (f: SpecFlags & { json?: boolean; ensure?: boolean }) => {
      const warden = ctx.warden();
      const spec = specFromFlags(f, { lifetime: 'persistent' });
      const sb = f.ensure ? await warden.ensure(spec, { onProgress }) : await warden.create(spec, { onProgress });
      if (f.json) printJson(sb.info);
      else process.stdout.write(`${sb.id}\n`);
      if (spec.template) {
        const { getTemplate } = await import('../../templates/catalog.js');
        process.stderr.write(`warden: ${spec.template} dev server at ${sb.url(getTemplate(spec.template).port)}\n`);
      }
    },
  );

  program
    .command('exec')
    .description('run a command in a running sandbox, streaming its output; exits with its exit code')
    .argument('<id>', 'sandbox id, name or unique id prefix')
    .argument('[cmd...]', "command and arguments (after --); with -t the default is the image's shell")
    .option('--timeout <duration>', 'kill the command tree after this long; exit 124')
    .option('-i, --interactive', 'attach stdin')
    .option('-t, --tty', 'give the command a terminal (raw mode, window size, Ctrl-C to the command)')
    .option('-e, --env <K=V>', 'environment variable (repeatable)', (v: string, p: string[] = []) => [...p, v])
    .option('-w, --workdir <dir>', 'working directory inside the sandbox')
    .option('--cwd <dir>', 'same as --workdir')
    .action(async (id: string, cmd: string[], f: { timeout?: string; interactive?: boolean; tty?: boolean; env?: string[]; cwd?: string; workdir?: string }) => {
      const timeoutMs = duration('timeout', f.timeout);
      const env = envFromFlags(f.env);
      const cwd = f.workdir ?? f.cwd;
      if (f.tty) requireTerminal();
      else if (cmd.length === 0) throw new WardenError('INVALID_ARGUMENT', `no command given: write it after --, e.g. \`warden exec ${id} -- ls\`, or use -it for a shell`);
      const sb = await ctx.warden().get(id);
      const exit = f.tty
        ? await terminalCommand(sb, cmd, { env, detachable: true, ...(timeoutMs ? { timeoutMs } : {}), ...(cwd ? { cwd } : {}) })
        : await streamCommand(sb, cmd, { interactive: Boolean(f.interactive), env, ...(timeoutMs ? { timeoutMs } : {}), ...(cwd ? { cwd } : {}) });
      if (exit.killedBy === 'timeout') process.stderr.write(`warden: the command ran past --timeout ${f.timeout}; its process tree was killed\n`);
      ctx.setExit(exit.killedBy === 'timeout' ? EXIT_TIMEOUT : exit.exitCode);
    });

  program
    .command('shell')
    .description("an interactive login shell in a running sandbox (short for `warden exec -it ID`)")
    .argument('<id>', 'sandbox id, name or unique id prefix')
    .option('-w, --workdir <dir>', 'working directory inside the sandbox')
    .action(async (id: string, f: { workdir?: string }) => {
      requireTerminal();
      const sb = await ctx.warden().get(id);
      const exit = await terminalCommand(sb, [], { detachable: true, ...(f.workdir ? { cwd: f.workdir } : {}) });
      ctx.setExit(exit.exitCode);
    });

  program
    .command('attach')
    .description("attach this terminal to a running terminal session of a sandbox (Ctrl-P Ctrl-Q detaches again); without a session id: the only running one, or a list")
    .argument('<id>', 'sandbox id, name or unique id prefix')
    .argument('[session]', 'terminal session id (warden exec -it and the dashboard print it)')
    .action(async (id: string, session: string | undefined) => {
      requireTerminal();
      const sb = await ctx.warden().get(id);
      let ptyId = session;
      if (!ptyId) {
        const running = (await sb.ptys.list()).filter((p) => p.state === 'running');
        if (running.length !== 1) {
          throw new WardenError(running.length ? 'INVALID_ARGUMENT' : 'PTY_NOT_FOUND', running.length ? `sandbox ${sb.id} has ${running.length} running terminal sessions (${running.map((p) => p.id).join(', ')}); name one: warden attach ${sb.id} SESSION` : `sandbox ${sb.id} has no running terminal session; open one with warden shell ${sb.id}`);
        }
        ptyId = running[0]!.id;
      }
      const target = ptyId;
      const end = await attachTerminal((size) => sb.ptys.connect(target, size), { detachKeys: true });
      if (end.detached) process.stderr.write(`\r\nwarden: detached from terminal session ${target}, which goes on\r\n`);
      ctx.setExit(end.exitCode);
    });

  program
    .command('ps')
    .description("list this instance's running sandboxes (from the engine's labels); -a adds stopped ones")
    .option('-a, --all', 'also stopped sandboxes (default: running only)')
    .option('-q, --quiet', 'ids only, one a line')
    .option('--format <format>', "'json' (one object a line) or a template such as '{{.ID}}\\t{{.State}}' ('table ...' adds a header)")
    .option('--filter <k=v>', 'label=KEY=VALUE | state=STATE | key=KEY | project=NAME | owner=OWNER (repeatable; all must match)', (v: string, p: string[] = []) => [...p, v])
    .option('--all-instances', "every Warden instance's sandboxes on the engine (the engine's admin view; not through a server)")
    .option('--json', 'a JSON array of the full records')
    .option('--owner <owner>', 'only this owner')
    .option('--key <key>', 'only this key')
    .action(async (f: { all?: boolean; quiet?: boolean; format?: string; filter?: string[]; allInstances?: boolean; json?: boolean; owner?: string; key?: string }) => {
      const filter = psFilter(f);
      let list = await ctx.warden().list(filter);
      if (!f.all && !filter.state) list = list.filter((s) => s.state === 'running');
      if (f.json) return printJson(list);
      if (f.quiet) return void process.stdout.write(list.map((s) => `${s.id}\n`).join(''));
      const rows = list.map(psRow);
      if (f.format) return void process.stdout.write(renderFormat(f.format, rows, PS_FIELDS));
      printTable(
        ['ID', 'NAME', 'STATE', 'IMAGE', 'LIFETIME', 'AGE', 'KEY', 'PORTS'],
        rows.map((r) => (['ID', 'Name', 'State', 'Image', 'Lifetime', 'Age', 'Key', 'Ports'] as const).map((k) => r[k] ?? '')),
      );
    });

  program
    .command('stop')
    .description('stop gracefully: SIGTERM to every process, then SIGKILL after the grace period')
    .argument('<ids...>')
    .option('-t, --time <duration>', 'grace period (default 30s)')
    .action(async (ids: string[], f: { time?: string }) => {
      const timeoutMs = duration('time', f.time);
      await eachId(ids, ctx, async (id) => {
        const sb = await ctx.warden().get(id);
        // a long drain says what it waits for (the engine is asked once; fine-grained progress would cost an exec per tick)
        const slow = setTimeout(() => {
          void sb.processes().then(
            (ps) => {
              const n = ps.filter((p) => p.role === 'workload').length;
              if (n > 0) process.stderr.write(`warden: ${sb.id}: waiting for ${n} process${n === 1 ? '' : 'es'} to exit (SIGTERM sent; SIGKILL after ${Math.round((timeoutMs ?? 30_000) / 1000)} s)\n`);
            },
            () => undefined,
          );
        }, 1_000);
        try {
          await ctx.warden().stop(sb.id, timeoutMs !== undefined ? { timeoutMs } : {});
        } finally {
          clearTimeout(slow);
        }
      });
    });

  program
    .command('kill')
    .description('kill a sandbox at once (SIGKILL), or send another signal to every process in it')
    .argument('<ids...>')
    .option('-s, --signal <sig>', 'signal (default SIGKILL)', 'SIGKILL')
    .action(async (ids: string[], f: { signal: string }) => {
      checkSignal(f.signal, '--signal'); // before any sandbox is touched
      await eachId(ids, ctx, (id) => ctx.warden().kill(id, f.signal));
    });

  program
    .command('rm')
    .description('remove sandboxes (a running one is stopped gracefully first, or killed with --force)')
    .argument('<ids...>')
    .option('-f, --force', 'kill at once instead of a graceful stop')
    .action(async (ids: string[], f: { force?: boolean }) => {
      await eachId(ids, ctx, async (id) => {
        await ctx.warden().get(id);
        await ctx.warden().remove(id, { force: Boolean(f.force) });
      });
    });

  program
    .command('refresh')
    .description('recreate a sandbox from scratch with the same spec (workspace kept)')
    .argument('<id>')
    .action(async (id: string) => {
      const sb = await ctx.warden().refresh(id);
      process.stdout.write(`${sb.id}\n`);
    });
}
