import type { Command } from 'commander';
import { WardenError } from '../errors.js';
import type { SandboxSpecInput } from '../policy/spec.js';

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

/** The sandbox flags shared by `run` and `create`. */
export function addSpecFlags(cmd: Command): Command {
  return cmd
    .option('-w, --workspace <dir>', 'host directory mounted read-write at /workspace')
    .option('--image <image>', 'image to run (default warden-sandbox:latest)')
    .option('--name <name>', 'sandbox name (container warden-<name>)')
    .option('--key <key>', 'project/session key (reuse with ensure)')
    .option('-e, --env <K=V>', 'environment variable (repeatable)', collect)
    .option('--memory <size>', 'memory cap, e.g. 512m, 2g (default 2g; swap equal)')
    .option('--cpus <n>', 'CPU quota in cores, e.g. 1.5 (default 2)')
    .option('--pids <n>', 'process limit (default 512)')
    .option('--disk <size>', 'workspace disk quota, e.g. 10g (a host workspace is watched and the sandbox stopped when over; else /workspace is a tmpfs of this size)')
    .option('--tmp-size <size>', 'size cap of /tmp (default 512m)')
    .option('--home-size <size>', 'size cap of the home directory (default 256m)')
    .option('--workdir <dir>', 'working directory of commands (default /workspace)')
    .option('--workspace-volume', '/workspace in an engine volume kept across stops (instead of a tmpfs)')
    .option('-l, --label <k=v>', 'container label (repeatable; warden.* is reserved)', collect)
    .option('--credentials <provider>', 'with --network allowlist: keyless credentials the proxy injects: anthropic, openai, gemini, github (repeatable or comma-separated)', collect)
    .option('--network <mode>', "none (default) | allowlist (egress only to --allow/--preset, through a proxy) | open (any destination, the host's services included; other sandboxes are not reachable)")
    .option('--allow <pattern>', "with --network allowlist: allow HOST[:PORT], '*.suffix' or an IP (repeatable)", collect)
    .option('--preset <name>', 'with --network allowlist: a named allowlist: claude, gemini, codex, github, npm, pypi (repeatable)', collect)
    .option('--add-host <name:ip>', "how the egress proxy resolves NAME: an IPv4 or 'host-gateway' (repeatable)", collect)
    .option('-p, --port <port>', 'publish a container port on 127.0.0.1 (repeatable); with --network allowlist egress stays confined (a preview forwarder publishes it), so prefer that to open', collect)
    .option('--mount <src:dst[:rw]>', 'extra mount, read-only unless :rw (repeatable)', collect)
    .option('--config-dir <dir>', 'host directory mounted read-only at /app/config')
    .option('--user <uid[:gid]>', 'user the workload runs as (default: workspace owner, or 1000); 0 needs --allow-root')
    .option('--allow-root', 'let the workload run as uid 0: it then shares the guard\'s identity and can switch off max runtime, the dead-man switch, the disk quota and exec timeouts')
    .option('--runtime <name>', 'runc | runsc (gVisor)')
    .option('--lifetime <kind>', 'ephemeral | persistent')
    .option('--max-runtime <duration>', 'the sandbox stops itself after this long, e.g. 2h')
    .option('--template <name>', "an app template, e.g. react-vite: its image, port, caps and network become the defaults; returns once its dev server answers");
}

export interface SpecFlags {
  workspace?: string; image?: string; name?: string; key?: string; env?: string[]; memory?: string; cpus?: string;
  pids?: string; disk?: string; tmpSize?: string; homeSize?: string; workdir?: string; workspaceVolume?: boolean; label?: string[]; credentials?: string[]; network?: string; allow?: string[]; preset?: string[]; addHost?: string[]; port?: string[]; mount?: string[]; configDir?: string; user?: string; runtime?: string;
  lifetime?: string; maxRuntime?: string; template?: string; allowRoot?: boolean;
}

function num(flag: string, v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new WardenError('INVALID_ARGUMENT', `--${flag} '${v}' is not a number`);
  return n;
}

/** `-e K=V` flags -> an env record; `-e NOEQ` is an error naming the flag (never a silent empty name). */
export function envFromFlags(flags: string[] | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  for (const kv of flags ?? []) {
    const i = kv.indexOf('=');
    if (i <= 0) throw new WardenError('INVALID_ARGUMENT', `--env '${kv}' must be KEY=VALUE (e.g. -e NODE_ENV=test)`);
    env[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return env;
}

/** Flags -> a spec input; validation of values is left to the spec schema (one place, one wording). */
export function specFromFlags(f: SpecFlags, defaults: Partial<SandboxSpecInput> = {}): SandboxSpecInput {
  const env = envFromFlags(f.env);
  const resources: Record<string, unknown> = {};
  if (f.memory) resources.memory = f.memory;
  if (f.cpus) resources.cpus = num('cpus', f.cpus);
  if (f.pids) resources.pids = num('pids', f.pids);
  if (f.disk) resources.disk = f.disk;
  if (f.tmpSize) resources.tmpSize = f.tmpSize;
  if (f.homeSize) resources.homeSize = f.homeSize;
  const labels: Record<string, string> = {};
  for (const kv of f.label ?? []) {
    const i = kv.indexOf('=');
    if (i <= 0) throw new WardenError('INVALID_ARGUMENT', `--label '${kv}' must be KEY=VALUE`);
    labels[kv.slice(0, i)] = kv.slice(i + 1);
  }
  const credentials = (f.credentials ?? []).flatMap((c) => c.split(',')).map((c) => c.trim()).filter(Boolean);
  const mounts = (f.mount ?? []).map((m) => {
    const parts = m.split(':');
    if (parts.length < 2 || parts.length > 3 || (parts[2] !== undefined && parts[2] !== 'rw' && parts[2] !== 'ro')) {
      throw new WardenError('INVALID_ARGUMENT', `--mount '${m}' must be SRC:DST, SRC:DST:ro or SRC:DST:rw`);
    }
    return { source: parts[0]!, target: parts[1]!, readOnly: parts[2] !== 'rw' };
  });
  const spec: Record<string, unknown> = { ...defaults };
  const set = (k: string, v: unknown): void => {
    if (v !== undefined) spec[k] = v;
  };
  set('workspace', f.workspace);
  set('image', f.image);
  set('name', f.name);
  set('key', f.key);
  if (Object.keys(env).length) spec.env = env;
  if (Object.keys(resources).length) spec.resources = resources;
  if (Object.keys(labels).length) spec.labels = labels;
  set('workdir', f.workdir);
  if (f.workspaceVolume) spec.workspaceVolume = true;
  set('network', f.network ?? (f.allow?.length || f.preset?.length || credentials.length ? 'allowlist' : undefined));
  if (f.allow?.length || f.preset?.length || f.addHost?.length || credentials.length) {
    const addHosts: Record<string, string> = {};
    for (const h of f.addHost ?? []) {
      const i = h.lastIndexOf(':');
      if (i <= 0) throw new WardenError('INVALID_ARGUMENT', `--add-host '${h}' must be NAME:IP or NAME:host-gateway`);
      addHosts[h.slice(0, i)] = h.slice(i + 1);
    }
    spec.egress = { allow: f.allow ?? [], presets: f.preset ?? [], addHosts, ...(credentials.length ? { credentials } : {}) };
  }
  if (f.port?.length) spec.ports = f.port.map((p) => num('port', p));
  if (mounts.length) spec.mounts = mounts;
  set('configDir', f.configDir);
  set('user', f.user);
  if (f.allowRoot) (spec as { allowRoot?: boolean }).allowRoot = true;
  set('runtime', f.runtime);
  set('lifetime', f.lifetime);
  set('maxRuntime', f.maxRuntime);
  set('template', f.template);
  return spec as SandboxSpecInput;
}
