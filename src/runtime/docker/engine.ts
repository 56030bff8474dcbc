import Docker from 'dockerode';
import { PassThrough, Writable, type Duplex, type Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { WardenError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type {
  EngineContainer,
  ContainerSpec,
  EngineExec,
  EngineExecRequest,
  EngineInfo,
  EngineNetwork,
  NetworkSpec,
  EngineVolume,
} from './engine-types.js';
import { demuxBuffer, demuxDockerStream } from './demux.js';
import { gracefulStop } from './graceful-stop.js';
import { reapOrphanShims } from './orphan-shims.js';
import { engineRef, statusOf, translateEngineError } from './errors.js';
import { fromInspect, fromListItem, toCreateOptions, type ImageHealthcheck } from './mapping.js';
import { stat } from 'node:fs/promises';
import { wardenSeccompProfile } from '../../policy/seccomp.js';

/**
 * A command that cannot be started (missing, not executable) makes the OCI runtime print its own error on
 * the exec's stdout and exit 126. Warden answers as a shell and docker do: the reason on stderr
 * (`warden: CMD: command not found`) and exit 127 (126 for "cannot execute"). The engine gives no code for
 * it, so its first output chunk is the only sign: it is read before anything of the command could be.
 */
function execStartFailure(s: { stdout: Readable; stderr: Readable }, cmd: string): { stdout: Readable; stderr: Readable; code: () => number | undefined } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let code: number | undefined;
  let first = true;
  s.stdout.on('data', (b: Buffer) => {
    if (first) {
      first = false;
      const text = b.toString('utf8');
      if (text.startsWith('OCI runtime exec failed')) {
        const missing = /executable file not found|no such file or directory/.test(text);
        code = missing ? 127 : 126;
        stderr.write(`warden: ${cmd}: ${missing ? 'command not found' : /permission denied/.test(text) ? 'permission denied' : 'cannot execute'}\n`);
        return;
      }
    }
    if (!stdout.write(b)) {
      s.stdout.pause();
      stdout.once('drain', () => s.stdout.resume());
    }
  });
  s.stdout.once('end', () => stdout.end());
  s.stdout.once('close', () => stdout.end());
  s.stderr.pipe(stderr);
  return { stdout, stderr, code: () => code };
}

/** A terminal exec's raw stream as stdout (backpressure kept by piping) and an already-ended stderr. */
function rawTtyStreams(stream: Duplex): { stdout: Readable; stderr: Readable } {
  const stdout = new PassThrough();
  stream.pipe(stdout);
  stream.once('close', () => stdout.end());
  stream.once('error', () => stdout.end());
  const stderr = new PassThrough();
  stderr.end();
  return { stdout, stderr };
}

/** A dockerode client from DOCKER_HOST (or the default socket), or the given socket. One per runtime, no singleton. */
export function connectDocker(opts?: { socketPath?: string }): Docker {
  if (opts?.socketPath) return new Docker({ socketPath: opts.socketPath });
  return new Docker();
}

/**
 * The Docker Engine, container by container, over dockerode: the low-level half of the Docker backend
 * (DockerSandboxRuntime assembles sandbox units from these calls). With images.ts the only module that
 * knows the Engine API's shapes.
 */
export class DockerEngine {
  /** Owner links: the attached stdin of each tied container (see ContainerSpec.tiedToOwner). */
  private readonly links = new Map<string, Duplex>();
  /** The unit (Warden id) each linked container belongs to, and whether it is the sandbox itself (not a companion). */
  private readonly linkUnits = new Map<string, { unit: string; sandbox: boolean }>();
  constructor(
    readonly docker: Docker,
    private readonly log: Logger,
    /** The engine socket's path on the engine's host, when Warden runs in a container that mounts it elsewhere (WARDEN_ENGINE_SOCKET_HOST). */
    private readonly engineSocketHost?: string,
  ) {}

  async info(): Promise<EngineInfo> {
    try {
      const [info, version] = await Promise.all([this.docker.info(), this.docker.version()]);
      return {
        engineVersion: version.Version,
        apiVersion: version.ApiVersion,
        os: info.OperatingSystem,
        kernel: info.KernelVersion,
        runtimes: Object.keys(info.Runtimes ?? {}),
        defaultRuntime: info.DefaultRuntime,
        cgroupVersion: String(info.CgroupVersion ?? '1'),
        storageDriver: info.Driver,
        cpus: info.NCPU,
        memoryBytes: info.MemTotal,
        ...(info.DockerRootDir ? { dataRoot: info.DockerRootDir } : {}),
      };
    } catch (err) {
      throw translateEngineError(err, 'asking the engine for its info');
    }
  }

  async create(spec: ContainerSpec): Promise<EngineContainer> {
    let container: Docker.Container;
    try {
      // a sandbox image's own HEALTHCHECK would run as the container's user (root): it is rewritten to run as the workload
      const hc = spec.hardening.workloadUser ? await this.imageHealthcheck(spec.image) : undefined;
      container = await this.docker.createContainer(toCreateOptions(spec, hc));
    } catch (err) {
      if (statusOf(err) === 404) {
        throw new WardenError(
          'IMAGE_NOT_FOUND',
          `image '${spec.image}' is not on this engine. Build Warden's images with \`warden images build\` (or \`warden images bootstrap\` on a host without a registry), or pull/build '${spec.image}' yourself.`,
          { cause: err },
        );
      }
      if (statusOf(err) === 409) {
        throw new WardenError('NAME_CONFLICT', `a container named '${spec.name}' already exists; choose another name, or remove it (\`warden rm ${spec.name}\`).`, { cause: err });
      }
      throw translateEngineError(err, `creating container ${spec.name}`);
    }
    try {
      for (const n of spec.extraNetworks ?? []) {
        await this.docker.getNetwork(engineRef(n.name)).connect({ Container: container.id, EndpointConfig: { Aliases: n.aliases ?? [] } });
      }
      if (spec.tiedToOwner) await this.link(container.id, unitOf(spec.labels));
      await container.start();
      const info = await container.inspect();
      if (!info.State.Running) {
        const logs = demuxBuffer((await container.logs({ stdout: true, stderr: true, tail: 20 }).catch(() => Buffer.alloc(0))) as Buffer);
        throw new WardenError(
          'ENGINE_ERROR',
          `starting container ${spec.name}: it exited at once (exit ${info.State.ExitCode}): ${printable(logs) || 'no output'}.`,
        );
      }
      return fromInspect(info);
    } catch (err) {
      // Nothing half-created: a container that fails to start is removed before the error propagates.
      this.unlink(container.id);
      await container.remove({ force: true, v: true }).catch((e: unknown) => this.log.warn({ err: e, name: spec.name }, 'cleanup after failed start'));
      if (spec.runtime) await this.reapOrphans([container.id]); // a failed runsc start can leave its shim behind
      const msg = (err as { json?: { message?: string } })?.json?.message ?? String(err);
      if (spec.runtime && /runtime/i.test(msg)) {
        throw new WardenError('RUNTIME_UNAVAILABLE', `starting ${spec.name} with runtime '${spec.runtime}' failed: ${msg}. Check \`warden doctor\`.`, { cause: err });
      }
      throw translateEngineError(err, `starting container ${spec.name}`);
    }
  }

  /** Start a stopped container; `tiedToOwner` links it to this process again (`unit`: whose it is). */
  async start(id: string, opts: { tiedToOwner?: boolean; unit?: { unit: string; sandbox: boolean } } = {}): Promise<void> {
    try {
      if (opts.tiedToOwner) await this.link(id, opts.unit);
      await this.docker.getContainer(engineRef(id)).start();
    } catch (err) {
      if (statusOf(err) === 304) return;
      this.unlink(id);
      throw translateEngineError(err, `starting ${id}`);
    }
  }

  /** Attach to the container's stdin and hold it; unref'd so it never keeps this process alive. */
  private async link(id: string, unit?: { unit: string; sandbox: boolean }): Promise<void> {
    if ([...this.links.keys()].some((k) => k === id || k.startsWith(id) || id.startsWith(k))) return; // already ours
    if (unit) this.linkUnits.set(id, unit);

    const sock = (await this.docker.getContainer(engineRef(id)).attach({ stream: true, stdin: true, stdout: false, stderr: false, hijack: true })) as Duplex;
    sock.on('error', (err) => this.log.debug({ err, container: id }, 'owner link error'));
    sock.on('close', () => {
      if (this.links.get(id) === sock) {
        this.links.delete(id);
        this.linkUnits.delete(id);
      }
      const guarded = this.reaperContainers.get(id);
      if (guarded !== undefined) {
        // the reaper is gone (removed by panic or by hand): the next tied container arms a new one
        this.reaperContainers.delete(id);
        this.reapers.delete(guarded);
      }
    });
    (sock as Duplex & { unref?: () => void }).unref?.();
    this.links.set(id, sock);
  }

  private async imageHealthcheck(ref: string): Promise<ImageHealthcheck | undefined> {
    try {
      const i = await this.docker.getImage(ref).inspect();
      return (i.Config as { Healthcheck?: ImageHealthcheck } | undefined)?.Healthcheck;
    } catch {
      return undefined; // a missing image fails the create itself, with the right message
    }
  }

  async imageLabels(ref: string): Promise<Record<string, string> | undefined> {
    try {
      return (await this.docker.getImage(ref).inspect()).Config?.Labels ?? {};
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw translateEngineError(err, `inspecting image ${ref}`);
    }
  }

  /** Reapers started by this process, by the label value they guard; and their containers. */
  private readonly reapers = new Map<string, Promise<void>>();
  private readonly reaperContainers = new Map<string, string>();

  armReaper(spec: { label: [string, string]; image: string; labels: Record<string, string> }): Promise<void> {
    const key = spec.label[1];
    const running = this.reapers.get(key);
    if (running) return running;
    const started = this.startReaper(spec);
    this.reapers.set(key, started);
    started.catch(() => this.reapers.delete(key));
    return started;
  }

  /**
   * The reaper container: Warden's guest image running `warden-guard reap`, no network, no
   * capabilities, read-only, the engine socket bind-mounted (its path on the engine's host:
   * WARDEN_ENGINE_SOCKET_HOST when Warden runs in a container and mounts it elsewhere), removed by
   * the engine when it exits, tied to this process by its attached stdin like a sandbox.
   */
  private async startReaper(spec: { label: [string, string]; image: string; labels: Record<string, string> }): Promise<void> {
    const modem = this.docker.modem as { socketPath?: unknown; getSocketPath?: () => Promise<string | undefined> };
    const local = typeof modem.socketPath === 'string' ? modem.socketPath : modem.socketPath ? await modem.getSocketPath?.() : undefined;
    if (!local) throw new WardenError('ENGINE_ERROR', 'the engine is reached over TCP: no reaper can hold its socket, so ephemeral sandboxes of a dead owner are only stopped (the next Warden process or `warden prune` removes them)');
    const st = await stat(local).catch(() => undefined);
    const hostSocket = this.engineSocketHost ?? local;
    const [k, v] = spec.label;
    let c: Docker.Container;
    try {
      c = await this.docker.createContainer({
        name: `warden-reaper-${v}`,
        Image: spec.image,
        Entrypoint: ['/.warden/warden-guard'],
        Cmd: ['reap', '--socket', '/run/warden/engine.sock', '--label', `${k}=${v}`],
        Labels: { ...spec.labels, 'warden.managed': 'true', 'warden.role': 'reaper', 'warden.reaper-for': v },
        // the socket's owner: root, or a rootless engine's user
        User: st ? `${st.uid}:${st.gid}` : '0:0',
        AttachStdin: true,
        OpenStdin: true,
        StdinOnce: true,
        AttachStdout: false,
        AttachStderr: false,
        Tty: false,
        NetworkDisabled: true,
        HostConfig: {
          AutoRemove: true,
          NetworkMode: 'none',
          ReadonlyRootfs: true,
          CapDrop: ['ALL'],
          SecurityOpt: ['no-new-privileges:true', `seccomp=${JSON.stringify(wardenSeccompProfile())}`],
          Memory: 32 * 1024 * 1024,
          MemorySwap: 32 * 1024 * 1024,
          PidsLimit: 16,
          Ulimits: [{ Name: 'core', Soft: 0, Hard: 0 }],
          Mounts: [{ Type: 'bind', Source: hostSocket, Target: '/run/warden/engine.sock', ReadOnly: false }],
        },
      });
    } catch (err) {
      if (statusOf(err) === 404) throw new WardenError('IMAGE_NOT_FOUND', `image '${spec.image}' is not on this engine; build it with \`warden images build guest\``, { cause: err });
      throw translateEngineError(err, 'creating the reaper');
    }
    try {
      await this.link(c.id);
      this.reaperContainers.set(c.id, v);
      await c.start();
    } catch (err) {
      this.reaperContainers.delete(c.id);
      this.unlink(c.id);
      await c.remove({ force: true }).catch(() => undefined);
      throw translateEngineError(err, 'starting the reaper');
    }
  }

  async liveReapers(labelKey: string): Promise<Set<string>> {
    void labelKey;
    const items = await this.docker.listContainers({ all: false, filters: { label: ['warden.role=reaper'] } }).catch((err: unknown) => {
      throw translateEngineError(err, 'listing reapers');
    });
    return new Set(items.map((c) => c.Labels?.['warden.reaper-for'] ?? '').filter(Boolean));
  }

  /** Kill leaked shims of containers the engine no longer has (see orphan-shims.ts). */
  async reapOrphans(only?: string[]): Promise<number> {
    const reaped = await reapOrphanShims(async (id) => (await this.inspect(id).catch(() => ({}))) !== undefined, only);
    for (const r of reaped) this.log.warn({ pid: r.pid, container: r.containerId }, 'killed a leaked runtime shim');
    return reaped.length;
  }

  linked(): string[] {
    return [...this.links.keys()].filter((id) => !this.reaperContainers.has(id));
  }

  /** The units (Warden ids) whose sandbox container this process holds a link to. */
  linkedUnits(): string[] {
    return [...new Set([...this.linkUnits.entries()].filter(([cid, u]) => u.sandbox && this.links.has(cid)).map(([, u]) => u.unit))];
  }

  /** Drop the links of one unit's containers (its sandbox and companions): they no longer end with this process. */
  unlinkUnit(unit: string): void {
    for (const [cid, u] of [...this.linkUnits]) if (u.unit === unit) this.unlink(cid);
  }

  unlink(id?: string): void {
    for (const [cid, sock] of this.links) {
      if (id !== undefined && cid !== id && !cid.startsWith(id)) continue;
      this.links.delete(cid);
      this.linkUnits.delete(cid);
      sock.destroy();
      // a reaper whose link closed does its job and exits: the next tied container needs a new one
      const guarded = this.reaperContainers.get(cid);
      if (guarded !== undefined) {
        this.reaperContainers.delete(cid);
        this.reapers.delete(guarded);
      }
    }
  }

  linkedReapers(): string[] {
    return [...this.reaperContainers.keys()];
  }

  async listOther(labels: Record<string, string>): Promise<{ networks: string[]; volumes: string[] }> {
    const label = Object.entries(labels).map(([k, v]) => (v === '' ? k : `${k}=${v}`));
    try {
      const [nets, vols] = await Promise.all([this.docker.listNetworks({ filters: { label } }), this.docker.listVolumes({ filters: { label } })]);
      return { networks: nets.map((n) => n.Id), volumes: (vols.Volumes ?? []).map((v) => v.Name) };
    } catch (err) {
      throw translateEngineError(err, 'listing networks and volumes');
    }
  }

  async createNetwork(spec: NetworkSpec): Promise<EngineNetwork> {
    const options: Record<string, string> = {};
    if (spec.noHostAddress) options['com.docker.network.bridge.inhibit_ipv4'] = 'true';
    if (spec.bridgeName) options['com.docker.network.bridge.name'] = spec.bridgeName;
    if (spec.icc === false) options['com.docker.network.bridge.enable_icc'] = 'false';
    if (spec.masquerade === false) options['com.docker.network.bridge.enable_ip_masquerade'] = 'false';
    try {
      const n = await this.docker.createNetwork({
        Name: spec.name,
        Driver: 'bridge',
        Internal: spec.internal,
        CheckDuplicate: true,
        Labels: spec.labels,
        Options: options,
        ...(spec.subnet ? { IPAM: { Driver: 'default', Config: [{ Subnet: spec.subnet }] } } : {}),
      });
      const info = await this.inspectNetwork(n.id);
      if (!info) throw new WardenError('ENGINE_ERROR', `network ${spec.name} vanished right after it was created`);
      return info;
    } catch (err) {
      if (statusOf(err) === 409) throw new WardenError('NAME_CONFLICT', `a network named ${spec.name} already exists`, { cause: err });
      if (statusOf(err) === 403) throw new WardenError('NAME_CONFLICT', `subnet ${spec.subnet} is taken: ${(err as { json?: { message?: string } }).json?.message ?? ''}`, { cause: err, details: { subnetTaken: true } });
      throw translateEngineError(err, `creating network ${spec.name}`);
    }
  }

  async inspectNetwork(nameOrId: string): Promise<EngineNetwork | undefined> {
    try {
      return toNetwork(await this.docker.getNetwork(engineRef(nameOrId)).inspect());
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw translateEngineError(err, `inspecting network ${nameOrId}`);
    }
  }

  async listNetworks(labels: Record<string, string>): Promise<EngineNetwork[]> {
    const label = Object.entries(labels).map(([k, v]) => (v === '' ? k : `${k}=${v}`));
    try {
      return ((await this.docker.listNetworks({ filters: { label } })) as Docker.NetworkInspectInfo[]).map(toNetwork);
    } catch (err) {
      throw translateEngineError(err, 'listing networks');
    }
  }

  async removeNetwork(id: string): Promise<void> {
    try {
      await this.docker.getNetwork(engineRef(id)).remove();
    } catch (err) {
      if (statusOf(err) === 404) return;
      throw translateEngineError(err, `removing network ${id}`);
    }
  }

  /**
   * Make sure the named volume exists and, when it is new, holds the image's content at `target` (what a
   * container mounting it would get), without starting anything. True when this call made it.
   */
  async seedVolume(spec: { name: string; image: string; target: string; labels: Record<string, string>; helperLabels: Record<string, string> }): Promise<boolean> {
    try {
      const existing = await this.docker.getVolume(engineRef(spec.name)).inspect().catch((err: unknown) => {
        if (statusOf(err) === 404) return undefined;
        throw err;
      });
      if (existing) return false; // seeded when it was made; never overwritten
      // the engine copies the image's content into an empty named volume when a container using it is
      // created; this container is never started
      const c = await this.docker.createContainer({
        Image: spec.image,
        Entrypoint: ['/bin/true'],
        Cmd: [],
        Labels: spec.helperLabels,
        NetworkDisabled: true,
        HostConfig: {
          NetworkMode: 'none',
          Mounts: [{ Type: 'volume', Source: spec.name, Target: spec.target, ReadOnly: false, VolumeOptions: { NoCopy: false, Labels: spec.labels } } as Docker.MountSettings],
        },
      });
      await c.remove({ force: true });
      return true;
    } catch (err) {
      if (statusOf(err) === 404) throw new WardenError('IMAGE_NOT_FOUND', `image '${spec.image}' is not on this engine; build it with \`warden images build\``, { cause: err });
      throw translateEngineError(err, `seeding volume ${spec.name}`);
    }
  }

  /**
   * Take a name as a lock: an unstarted container of `image` (nothing runs, no network). The engine's
   * name uniqueness makes it atomic: NAME_CONFLICT when the name is taken.
   */
  async createLock(spec: { name: string; image: string; labels: Record<string, string> }): Promise<string> {
    try {
      const c = await this.docker.createContainer({ name: spec.name, Image: spec.image, Entrypoint: ['/nonexistent'], Cmd: [], Labels: spec.labels, NetworkDisabled: true, HostConfig: { NetworkMode: 'none' } });
      return c.id;
    } catch (err) {
      if (statusOf(err) === 409) throw new WardenError('NAME_CONFLICT', `a container named ${spec.name} already exists`, { cause: err });
      if (statusOf(err) === 404) throw new WardenError('IMAGE_NOT_FOUND', `image '${spec.image}' is not on this engine; build it with \`warden images build\``, { cause: err });
      throw translateEngineError(err, `creating lock ${spec.name}`);
    }
  }

  async listVolumes(labels: Record<string, string>): Promise<EngineVolume[]> {
    const label = Object.entries(labels).map(([k, v]) => (v === '' ? k : `${k}=${v}`));
    try {
      const { Volumes } = await this.docker.listVolumes({ filters: { label } });
      return (Volumes ?? []).map((v) => ({ name: v.Name, labels: v.Labels ?? {}, ...((v as { CreatedAt?: string }).CreatedAt ? { createdAt: (v as { CreatedAt?: string }).CreatedAt! } : {}) }));
    } catch (err) {
      throw translateEngineError(err, 'listing volumes');
    }
  }

  async removeVolume(name: string): Promise<void> {
    try {
      await this.docker.getVolume(engineRef(name)).remove({ force: true });
    } catch (err) {
      if (statusOf(err) === 404) return;
      throw translateEngineError(err, `removing volume ${name}`);
    }
  }

  async stop(id: string, timeoutMs: number): Promise<void> {
    await gracefulStop(this.docker, id, timeoutMs); // SIGTERM again until PID 1 acts on it (see graceful-stop.ts)
  }

  async kill(id: string, signal: string): Promise<void> {
    try {
      await this.docker.getContainer(engineRef(id)).kill({ signal });
    } catch (err) {
      if (statusOf(err) === 409) return; // not running
      throw translateEngineError(err, `killing ${id}`);
    }
  }

  async remove(id: string, opts: { force: boolean }): Promise<void> {
    this.unlink(id);
    try {
      await this.docker.getContainer(engineRef(id)).remove({ force: opts.force, v: true });
    } catch (err) {
      if (statusOf(err) === 404) return;
      throw translateEngineError(err, `removing ${id}`);
    }
  }

  async rename(ref: string, name: string): Promise<void> {
    try {
      await this.docker.getContainer(engineRef(ref)).rename({ name });
    } catch (err) {
      if (statusOf(err) === 409) throw new WardenError('NAME_CONFLICT', `a container named ${name} already exists`, { cause: err });
      if (statusOf(err) === 404) throw new WardenError('SANDBOX_NOT_FOUND', `no container ${ref} to rename`, { cause: err });
      throw translateEngineError(err, `renaming ${ref}`);
    }
  }

  async inspect(id: string): Promise<EngineContainer | undefined> {
    try {
      return fromInspect(await this.docker.getContainer(engineRef(id)).inspect());
    } catch (err) {
      // 400: an id prefix several containers share ("Multiple IDs found") names no one container
      if (statusOf(err) === 404 || statusOf(err) === 400) return undefined;
      throw translateEngineError(err, `inspecting ${id}`);
    }
  }

  async list(labels: Record<string, string>): Promise<EngineContainer[]> {
    const label = Object.entries(labels).map(([k, v]) => (v === '' ? k : `${k}=${v}`));
    try {
      const items = await this.docker.listContainers({ all: true, filters: { label } });
      return items.map(fromListItem);
    } catch (err) {
      throw translateEngineError(err, 'listing containers');
    }
  }

  async exec(id: string, req: EngineExecRequest): Promise<EngineExec> {
    let exec: Docker.Exec;
    let stream: Duplex;
    try {
      exec = await this.docker.getContainer(engineRef(id)).exec({
        Cmd: req.cmd,
        Env: Object.entries(req.env).map(([k, v]) => `${k}=${v}`),
        User: req.user,
        ...(req.cwd ? { WorkingDir: req.cwd } : {}),
        AttachStdin: req.stdin,
        AttachStdout: true,
        AttachStderr: true,
        Tty: req.tty === true,
      });
      // Hijacked only when stdin is wanted: closing stdin is reliable only on a hijacked connection.
      stream = (await exec.start({ hijack: req.stdin, stdin: req.stdin, Detach: false, Tty: req.tty === true })) as Duplex;
    } catch (err) {
      if (statusOf(err) === 409) {
        throw new WardenError('SANDBOX_NOT_RUNNING', `cannot run a command in ${id}: the container is not running. Start it with ensure() or \`warden refresh\`.`, { cause: err });
      }
      throw translateEngineError(err, `starting a command in ${id}`);
    }
    // a terminal's output is one raw stream (the engine does not multiplex it)
    const streams = req.tty ? rawTtyStreams(stream) : demuxDockerStream(stream);
    const startFailure = req.tty ? undefined : execStartFailure(streams, req.cmd[0] ?? '');
    const { stdout, stderr } = startFailure ?? streams;
    const stdin = req.stdin
      ? new Writable({
          write: (chunk: Buffer, _enc, cb) => void stream.write(chunk, cb),
          final: (cb) => {
            // a terminal has no half-close: its input ends with the terminal's EOF character (^D), as
            // typed; the engine does not pass a closed stdin on to the pty
            // (and no half-close: the engine would drop the rest of the terminal's output with it)
            if (req.tty) return void stream.write(Buffer.from([4]), () => cb());
            stream.end();
            cb();
          },
        })
      : undefined;
    const ended = (s: Readable) => new Promise<void>((resolve) => {
      if (s.readableEnded || s.destroyed) return resolve();
      s.once('end', resolve);
      s.once('close', resolve);
    });
    let detached = false;
    const wait = async (): Promise<number> => {
      // a terminal's stderr is empty and ended from the start: nobody need read it for wait() to return
      await Promise.all([ended(stdout), req.tty ? undefined : ended(stderr)]);
      for (let delay = 5, round = 0; ; delay = Math.min(delay * 2, 200), round++) {
        const st = await exec.inspect().catch((err: unknown) => {
          if (statusOf(err) === 404) return { Running: false, ExitCode: -1 };
          throw translateEngineError(err, `reading the exit code of a command in ${id}`);
        });
        if (!st.Running) return startFailure?.code() ?? st.ExitCode ?? -1;
        // dropped while it runs: the process goes on, and this handle cannot tell how it ends
        if (detached) return -1;
        // the output has ended but the engine still says "running": when the sandbox itself is gone (a
        // runtime that died without the engine hearing of its exec: seen with runsc), the command went
        // with it, killed: never poll forever
        if (round % 10 === 9 && !(await this.containerRunning(id))) return 137;
        await sleep(delay);
      }
    };
    const result: EngineExec = {
      stdout,
      stderr,
      wait,
      detach: () => {
        detached = true;
        stream.destroy();
        // the demuxed streams end with it, so wait() does not wait for output that will never come
        stdout.destroy();
        stderr.destroy();
      },
    };
    if (stdin) result.stdin = stdin;
    if (req.tty) {
      result.resize = async (cols, rows) => {
        try {
          await exec.resize({ w: cols, h: rows });
        } catch (err) {
          // the process has ended meanwhile (the engine then answers 404, 409 or 500): nothing left to resize
          const st = await exec.inspect().catch(() => undefined);
          if (!st || !st.Running) return;
          throw translateEngineError(err, `resizing a terminal in ${id}`);
        }
      };
    }
    return result;
  }

  /** Whether the container still runs (false when it is gone); an engine that cannot answer counts as running. */
  private async containerRunning(id: string): Promise<boolean> {
    try {
      return (await this.docker.getContainer(engineRef(id)).inspect()).State.Running === true;
    } catch (err) {
      return statusOf(err) !== 404;
    }
  }

  async execDetached(id: string, req: Omit<EngineExecRequest, 'stdin'>): Promise<void> {
    try {
      const exec = await this.docker.getContainer(engineRef(id)).exec({
        Cmd: req.cmd,
        Env: Object.entries(req.env).map(([k, v]) => `${k}=${v}`),
        User: req.user,
        ...(req.cwd ? { WorkingDir: req.cwd } : {}),
        AttachStdin: false,
        AttachStdout: false,
        AttachStderr: false,
        Tty: false,
      });
      const res = (await exec.start({ Detach: true, Tty: false })) as unknown as (Readable & { socket?: { unref?: () => void } }) | undefined;
      // the engine answers at once; drain and release the response so it holds no socket open
      res?.socket?.unref?.();
      res?.resume?.();
    } catch (err) {
      throw translateEngineError(err, `starting a background command in ${id}`);
    }
  }

  async logs(id: string, tail: number): Promise<string> {
    try {
      const buf = (await this.docker.getContainer(engineRef(id)).logs({ stdout: true, stderr: true, tail, follow: false })) as unknown as Buffer;
      return demuxBuffer(buf).trim().slice(-4000);
    } catch (err) {
      if (statusOf(err) === 404) return '';
      throw translateEngineError(err, `reading the log of ${id}`);
    }
  }

  async streamLogs(id: string, opts: { tail?: number; follow: boolean }): Promise<Readable> {
    const out = new PassThrough();
    try {
      const c = this.docker.getContainer(id);
      const base = { stdout: true, stderr: true, ...(opts.tail !== undefined ? { tail: opts.tail } : {}) };
      if (!opts.follow) {
        out.end(demuxBuffer((await c.logs({ ...base, follow: false })) as unknown as Buffer));
        return out;
      }
      const stream = (await c.logs({ ...base, follow: true })) as unknown as Readable;
      const { stdout, stderr } = demuxDockerStream(stream);
      let open = 2;
      const done = (): void => void (--open === 0 && out.end());
      for (const s of [stdout, stderr]) {
        s.on('data', (b: Buffer) => out.write(b));
        s.once('end', done);
      }
      // a reader that stops (Ctrl-C, a closed HTTP answer) ends the engine's stream too
      out.once('close', () => stream.destroy());
      return out;
    } catch (err) {
      throw translateEngineError(err, `reading the log of ${id}`);
    }
  }

  async imageExists(ref: string): Promise<boolean> {
    try {
      await this.docker.getImage(ref).inspect();
      return true;
    } catch (err) {
      if (statusOf(err) === 404) return false;
      throw translateEngineError(err, `inspecting image ${ref}`);
    }
  }
}

/** Which unit a container belongs to, from its labels (the sandbox has no role; companions do). */
function unitOf(labels: Record<string, string>): { unit: string; sandbox: boolean } | undefined {
  const unit = labels['warden.id'];
  return unit ? { unit, sandbox: !labels['warden.role'] } : undefined;
}

function toNetwork(n: Docker.NetworkInspectInfo): EngineNetwork {
  const cfg = n.IPAM?.Config?.[0] as { Subnet?: string; Gateway?: string } | undefined;
  return {
    id: n.Id,
    name: n.Name,
    labels: n.Labels ?? {},
    internal: Boolean(n.Internal),
    ...(cfg?.Subnet ? { subnet: cfg.Subnet } : {}),
    ...(cfg?.Gateway ? { gateway: cfg.Gateway } : {}),
    noHostAddress: n.Options?.['com.docker.network.bridge.inhibit_ipv4'] === 'true',
    ...(n.Created ? { createdAt: n.Created } : {}),
  };
}

/** Log text as one readable line. */
function printable(text: string): string {
  return text.replace(/\s+/g, ' ').trim().slice(-2000);
}
