import type Docker from 'dockerode';
import type { ContainerSpec, ContainerState, EngineContainer, PortBinding } from './engine-types.js';

/** How the image's own HEALTHCHECK looks (Config.Healthcheck of the image), when it has one. */
export interface ImageHealthcheck { Test?: string[]; Interval?: number; Timeout?: number; StartPeriod?: number; Retries?: number }

/**
 * Warden's container spec -> the Engine API's create body. Every confinement field comes from
 * `spec.hardening` (policy/hardening.ts); golden tests (mapping.test.ts) pin the whole body.
 * An image HEALTHCHECK runs as the container's user (root, with the guard's capabilities) unless
 * rewritten: with `healthcheckPrefix` it runs through the guard as the workload user, and without one
 * on a sandbox it is switched off.
 */
export function toCreateOptions(spec: ContainerSpec, imageHealthcheck?: ImageHealthcheck): Docker.ContainerCreateOptions {
  const h = spec.hardening;
  const exposed: Record<string, object> = {};
  const bindings: Record<string, Array<{ HostIp: string; HostPort: string }>> = {};
  for (const p of spec.ports) {
    const key = `${p.containerPort}/tcp`;
    exposed[key] = {};
    (bindings[key] ??= []).push({ HostIp: p.hostIp, HostPort: p.hostPort ? String(p.hostPort) : '' });
  }
  const tmpfs: Record<string, string> = {};
  for (const t of spec.tmpfs) {
    const owner = t.uid !== undefined ? `,uid=${t.uid},gid=${t.gid ?? t.uid}` : '';
    tmpfs[t.target] = `rw,exec,nosuid,nodev,size=${t.sizeBytes},mode=${t.mode}${owner}`;
  }
  return {
    name: spec.name,
    Image: spec.image,
    Entrypoint: [spec.cmd[0] ?? '/bin/sh'],
    Cmd: spec.cmd.slice(1),
    Env: Object.entries(spec.env).map(([k, v]) => `${k}=${v}`),
    Labels: spec.labels,
    User: h.containerUser,
    WorkingDir: spec.workdir,
    ...healthcheck(spec, imageHealthcheck),
    ExposedPorts: exposed,
    AttachStdin: spec.tiedToOwner,
    AttachStdout: false,
    AttachStderr: false,
    Tty: false,
    OpenStdin: spec.tiedToOwner,
    StdinOnce: spec.tiedToOwner,
    ...(typeof spec.network === 'object'
      ? { NetworkingConfig: { EndpointsConfig: { [spec.network.name]: { Aliases: spec.network.aliases ?? [] } } } }
      : {}),
    HostConfig: {
      Init: h.init === 'engine',
      ReadonlyRootfs: h.readOnlyRoot,
      CapDrop: ['ALL'],
      CapAdd: [...h.capabilities],
      SecurityOpt: [...(h.noNewPrivileges ? ['no-new-privileges:true'] : []), `seccomp=${JSON.stringify(h.seccomp)}`],
      Privileged: false,
      IpcMode: h.ipc,
      Ulimits: [{ Name: 'core', Soft: h.rlimits.core, Hard: h.rlimits.core }],
      Memory: spec.memoryBytes,
      MemorySwap: spec.memoryBytes,
      NanoCpus: spec.nanoCpus,
      PidsLimit: spec.pidsLimit,
      Tmpfs: tmpfs,
      Mounts: spec.mounts.map((m) =>
        m.volume
          ? ({ Type: 'volume', Source: m.source, Target: m.target, ReadOnly: m.readOnly, VolumeOptions: { NoCopy: m.volume.noCopy === true, Labels: m.volume.labels } } as Docker.MountSettings)
          : ({ Type: 'bind', Source: m.source, Target: m.target, ReadOnly: m.readOnly } as Docker.MountSettings),
      ),
      NetworkMode: typeof spec.network === 'string' ? spec.network : spec.network.name,
      ...(spec.extraHosts?.length ? { ExtraHosts: spec.extraHosts } : {}),
      ...(spec.dnsOptions?.length ? { DnsOptions: spec.dnsOptions } : {}),
      PortBindings: bindings,
      RestartPolicy: { Name: '' },
      AutoRemove: false,
      ...(spec.runtime ? { Runtime: spec.runtime } : {}),
    },
  };
}

/** The image's health check, run through the guard as the workload user; off on a sandbox when it cannot be. */
function healthcheck(spec: ContainerSpec, image?: ImageHealthcheck): { Healthcheck?: Docker.HealthConfig } {
  const test = image?.Test;
  if (!spec.hardening.workloadUser || !test || test.length === 0 || test[0] === 'NONE') return {};
  const argv = test[0] === 'CMD' ? test.slice(1) : test[0] === 'CMD-SHELL' ? ['/bin/sh', '-c', test.slice(1).join(' ')] : undefined;
  if (!argv || !spec.healthcheckPrefix) return { Healthcheck: { Test: ['NONE'] } };
  return { Healthcheck: { ...image, Test: ['CMD', ...spec.healthcheckPrefix, ...argv] } };
}

const STATES = new Set<ContainerState>(['created', 'running', 'paused', 'restarting', 'removing', 'exited', 'dead']);

function toState(s: string | undefined): ContainerState {
  return s && STATES.has(s as ContainerState) ? (s as ContainerState) : 'dead';
}

function portsOf(ports: Record<string, Array<{ HostIp: string; HostPort: string }> | null> | undefined): PortBinding[] {
  const out: PortBinding[] = [];
  for (const [key, list] of Object.entries(ports ?? {})) {
    for (const b of list ?? []) {
      out.push({ containerPort: Number.parseInt(key, 10), hostIp: b.HostIp, hostPort: Number(b.HostPort) });
    }
  }
  return out;
}

export function fromInspect(c: Docker.ContainerInspectInfo): EngineContainer {
  const state = c.State as Docker.ContainerInspectInfo['State'] & { Health?: { Status?: string; FailingStreak?: number; Log?: Array<{ Output?: string }> } };
  const last = state.Health?.Log?.[state.Health.Log.length - 1]?.Output?.trim();
  return {
    id: c.Id,
    name: c.Name.replace(/^\//, ''),
    image: c.Config.Image,
    state: toState(state.Status),
    labels: c.Config.Labels ?? {},
    createdAt: c.Created,
    ...(state.StartedAt && !state.StartedAt.startsWith('0001') ? { startedAt: state.StartedAt } : {}),
    ...(state.FinishedAt && !state.FinishedAt.startsWith('0001') ? { finishedAt: state.FinishedAt } : {}),
    exitCode: state.ExitCode,
    oomKilled: state.OOMKilled,
    ...(state.Health?.Status ? { health: state.Health.Status } : {}),
    ...(state.Health?.Status
      ? { healthLog: { status: state.Health.Status, failingStreak: state.Health.FailingStreak ?? 0, ...(last ? { lastOutput: last } : {}) } }
      : {}),
    ports: portsOf(c.NetworkSettings?.Ports as Record<string, Array<{ HostIp: string; HostPort: string }> | null>),
    ...(c.HostConfig?.Runtime ? { runtime: c.HostConfig.Runtime } : {}),
    networks: Object.entries(c.NetworkSettings?.Networks ?? {}).map(([name, n]) => ({ name, ip: (n as { IPAddress?: string }).IPAddress ?? '' })),
    env: Object.fromEntries((c.Config.Env ?? []).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)])),
  };
}

export function fromListItem(c: Docker.ContainerInfo): EngineContainer {
  return {
    id: c.Id,
    name: (c.Names[0] ?? '').replace(/^\//, ''),
    image: c.Image,
    state: toState(c.State),
    labels: c.Labels ?? {},
    createdAt: new Date(c.Created * 1000).toISOString(),
    ports: (c.Ports ?? [])
      .filter((p) => p.PublicPort)
      .map((p) => ({ containerPort: p.PrivatePort, hostIp: p.IP ?? '', hostPort: p.PublicPort })),
  };
}
