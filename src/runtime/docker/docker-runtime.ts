import type Docker from 'dockerode';
import type { IncomingMessage } from 'node:http';
import { PassThrough, Writable, type Duplex, type Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { WardenError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type {
  ContainerRuntime,
  RuntimeContainer,
  RuntimeContainerSpec,
  RuntimeExec,
  RuntimeExecRequest,
  RuntimeInfo,
  RuntimeNetwork,
  RuntimeNetworkSpec,
  RuntimePathStat,
} from '../runtime.js';
import { demuxBuffer, demuxDockerStream } from './demux.js';
import { reapOrphanShims } from './orphan-shims.js';
import { statusOf, translateEngineError } from './errors.js';
import { fromInspect, fromListItem, toCreateOptions } from './mapping.js';

const GO_MODE_DIR = 2 ** 31;
const GO_MODE_SYMLINK = 2 ** 27;

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

/** The Docker Engine backend, over dockerode. The only module that knows Docker's API shapes. */
export class DockerRuntime implements ContainerRuntime {
  readonly kind = 'docker';
  /** Owner links: the attached stdin of each tied container (see RuntimeContainerSpec.tiedToOwner). */
  private readonly links = new Map<string, Duplex>();
  constructor(
    private readonly docker: Docker,
    private readonly log: Logger,
  ) {}

  async info(): Promise<RuntimeInfo> {
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
      };
    } catch (err) {
      throw translateEngineError(err, 'asking the engine for its info');
    }
  }

  async create(spec: RuntimeContainerSpec): Promise<RuntimeContainer> {
    let container: Docker.Container;
    try {
      container = await this.docker.createContainer(toCreateOptions(spec));
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
      // The keeper needs a shell; an image without one would die right after start, racing the inspect.
      if (spec.cmd[0]?.startsWith('/') && !(await this.statPath(container.id, spec.cmd[0]))) {
        throw new WardenError('IMAGE_NOT_FOUND', `image '${spec.image}' has no ${spec.cmd[0]}: Warden's keeper process needs /bin/sh and sleep in the image`);
      }
      for (const n of spec.extraNetworks ?? []) {
        await this.docker.getNetwork(n.name).connect({ Container: container.id, EndpointConfig: { Aliases: n.aliases ?? [] } });
      }
      if (spec.tiedToOwner) await this.link(container.id);
      await container.start();
      const info = await container.inspect();
      if (!info.State.Running) {
        const logs = demuxBuffer((await container.logs({ stdout: true, stderr: true, tail: 20 }).catch(() => Buffer.alloc(0))) as Buffer);
        throw new WardenError(
          'ENGINE_ERROR',
          `starting container ${spec.name}: it exited at once (exit ${info.State.ExitCode}): ${printable(logs) || 'no output'}. The image needs /bin/sh and sleep for Warden's keeper process.`,
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

  async start(id: string, opts: { tiedToOwner?: boolean } = {}): Promise<void> {
    try {
      if (opts.tiedToOwner) await this.link(id);
      await this.docker.getContainer(id).start();
    } catch (err) {
      if (statusOf(err) === 304) return;
      this.unlink(id);
      throw translateEngineError(err, `starting ${id}`);
    }
  }

  /** Attach to the container's stdin and hold it; unref'd so it never keeps this process alive. */
  private async link(id: string): Promise<void> {
    if ([...this.links.keys()].some((k) => k === id || k.startsWith(id) || id.startsWith(k))) return; // already ours

    const sock = (await this.docker.getContainer(id).attach({ stream: true, stdin: true, stdout: false, stderr: false, hijack: true })) as Duplex;
    sock.on('error', (err) => this.log.debug({ err, container: id }, 'owner link error'));
    sock.on('close', () => {
      if (this.links.get(id) === sock) this.links.delete(id);
    });
    (sock as Duplex & { unref?: () => void }).unref?.();
    this.links.set(id, sock);
  }

  /** Kill leaked shims of containers the engine no longer has (see orphan-shims.ts). */
  async reapOrphans(only?: string[]): Promise<number> {
    const reaped = await reapOrphanShims(async (id) => (await this.inspect(id).catch(() => ({}))) !== undefined, only);
    for (const r of reaped) this.log.warn({ pid: r.pid, container: r.containerId }, 'killed a leaked runtime shim');
    return reaped.length;
  }

  linked(): string[] {
    return [...this.links.keys()];
  }

  unlink(id?: string): void {
    for (const [cid, sock] of this.links) {
      if (id !== undefined && cid !== id && !cid.startsWith(id)) continue;
      this.links.delete(cid);
      sock.destroy();
    }
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

  async createNetwork(spec: RuntimeNetworkSpec): Promise<RuntimeNetwork> {
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

  async inspectNetwork(nameOrId: string): Promise<RuntimeNetwork | undefined> {
    try {
      return toNetwork(await this.docker.getNetwork(nameOrId).inspect());
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw translateEngineError(err, `inspecting network ${nameOrId}`);
    }
  }

  async listNetworks(labels: Record<string, string>): Promise<RuntimeNetwork[]> {
    const label = Object.entries(labels).map(([k, v]) => (v === '' ? k : `${k}=${v}`));
    try {
      return ((await this.docker.listNetworks({ filters: { label } })) as Docker.NetworkInspectInfo[]).map(toNetwork);
    } catch (err) {
      throw translateEngineError(err, 'listing networks');
    }
  }

  async removeNetwork(id: string): Promise<void> {
    try {
      await this.docker.getNetwork(id).remove();
    } catch (err) {
      if (statusOf(err) === 404) return;
      throw translateEngineError(err, `removing network ${id}`);
    }
  }

  async seedVolume(spec: { name: string; image: string; target: string; labels: Record<string, string>; helperLabels: Record<string, string> }): Promise<void> {
    try {
      const existing = await this.docker.getVolume(spec.name).inspect().catch((err: unknown) => {
        if (statusOf(err) === 404) return undefined;
        throw err;
      });
      if (existing) return; // seeded when it was made; never overwritten
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
    } catch (err) {
      if (statusOf(err) === 404) throw new WardenError('IMAGE_NOT_FOUND', `image '${spec.image}' is not on this engine; build it with \`warden images build\``, { cause: err });
      throw translateEngineError(err, `seeding volume ${spec.name}`);
    }
  }

  async removeVolume(name: string): Promise<void> {
    try {
      await this.docker.getVolume(name).remove({ force: true });
    } catch (err) {
      if (statusOf(err) === 404) return;
      throw translateEngineError(err, `removing volume ${name}`);
    }
  }

  async stop(id: string, timeoutMs: number): Promise<void> {
    try {
      await this.docker.getContainer(id).stop({ t: Math.max(0, Math.ceil(timeoutMs / 1000)) });
    } catch (err) {
      if (statusOf(err) === 304) return; // already stopped
      throw translateEngineError(err, `stopping ${id}`);
    }
  }

  async kill(id: string, signal: string): Promise<void> {
    try {
      await this.docker.getContainer(id).kill({ signal });
    } catch (err) {
      if (statusOf(err) === 409) return; // not running
      throw translateEngineError(err, `killing ${id}`);
    }
  }

  async remove(id: string, opts: { force: boolean }): Promise<void> {
    this.unlink(id);
    try {
      await this.docker.getContainer(id).remove({ force: opts.force, v: true });
    } catch (err) {
      if (statusOf(err) === 404) return;
      throw translateEngineError(err, `removing ${id}`);
    }
  }

  async rename(ref: string, name: string): Promise<void> {
    try {
      await this.docker.getContainer(ref).rename({ name });
    } catch (err) {
      if (statusOf(err) === 409) throw new WardenError('NAME_CONFLICT', `a container named ${name} already exists`, { cause: err });
      if (statusOf(err) === 404) throw new WardenError('SANDBOX_NOT_FOUND', `no container ${ref} to rename`, { cause: err });
      throw translateEngineError(err, `renaming ${ref}`);
    }
  }

  async inspect(id: string): Promise<RuntimeContainer | undefined> {
    try {
      return fromInspect(await this.docker.getContainer(id).inspect());
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw translateEngineError(err, `inspecting ${id}`);
    }
  }

  async list(labels: Record<string, string>): Promise<RuntimeContainer[]> {
    const label = Object.entries(labels).map(([k, v]) => (v === '' ? k : `${k}=${v}`));
    try {
      const items = await this.docker.listContainers({ all: true, filters: { label } });
      return items.map(fromListItem);
    } catch (err) {
      throw translateEngineError(err, 'listing containers');
    }
  }

  async exec(id: string, req: RuntimeExecRequest): Promise<RuntimeExec> {
    let exec: Docker.Exec;
    let stream: Duplex;
    try {
      exec = await this.docker.getContainer(id).exec({
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
    const wait = async (): Promise<number> => {
      await Promise.all([ended(stdout), ended(stderr)]);
      for (let delay = 5; ; delay = Math.min(delay * 2, 200)) {
        const st = await exec.inspect().catch((err: unknown) => {
          if (statusOf(err) === 404) return { Running: false, ExitCode: -1 };
          throw translateEngineError(err, `reading the exit code of a command in ${id}`);
        });
        if (!st.Running) return startFailure?.code() ?? st.ExitCode ?? -1;
        await sleep(delay);
      }
    };
    const result: RuntimeExec = { stdout, stderr, wait, detach: () => stream.destroy() };
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

  async execDetached(id: string, req: Omit<RuntimeExecRequest, 'stdin'>): Promise<void> {
    try {
      const exec = await this.docker.getContainer(id).exec({
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
      const buf = (await this.docker.getContainer(id).logs({ stdout: true, stderr: true, tail, follow: false })) as unknown as Buffer;
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

  async putArchive(id: string, dir: string, tar: Readable): Promise<void> {
    try {
      await this.docker.getContainer(id).putArchive(tar, { path: dir, noOverwriteDirNonDir: 'true' });
    } catch (err) {
      throw translateEngineError(err, `writing files into ${dir} in ${id}`);
    }
  }

  async getArchive(id: string, path: string): Promise<Readable> {
    try {
      return (await this.docker.getContainer(id).getArchive({ path })) as unknown as Readable;
    } catch (err) {
      if (statusOf(err) === 404) throw new WardenError('FILE_NOT_FOUND', `${path} does not exist in the sandbox`, { cause: err });
      throw translateEngineError(err, `reading ${path} from ${id}`);
    }
  }

  async statPath(id: string, path: string): Promise<RuntimePathStat | undefined> {
    let res: IncomingMessage;
    try {
      res = (await this.docker.getContainer(id).infoArchive({ path })) as unknown as IncomingMessage;
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw translateEngineError(err, `checking ${path} in ${id}`);
    }
    res.resume();
    const header = res.headers['x-docker-container-path-stat'];
    if (typeof header !== 'string') return undefined;
    const st = JSON.parse(Buffer.from(header, 'base64').toString('utf8')) as { name: string; size: number; mode: number; linkTarget: string };
    return {
      name: st.name,
      size: st.size,
      isDir: (st.mode & GO_MODE_DIR) !== 0 || st.mode >= GO_MODE_DIR,
      isSymlink: Math.floor(st.mode / GO_MODE_SYMLINK) % 2 === 1,
      linkTarget: st.linkTarget,
    };
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

function toNetwork(n: Docker.NetworkInspectInfo): RuntimeNetwork {
  const cfg = n.IPAM?.Config?.[0] as { Subnet?: string; Gateway?: string } | undefined;
  return {
    id: n.Id,
    name: n.Name,
    labels: n.Labels ?? {},
    internal: Boolean(n.Internal),
    ...(cfg?.Subnet ? { subnet: cfg.Subnet } : {}),
    ...(cfg?.Gateway ? { gateway: cfg.Gateway } : {}),
    noHostAddress: n.Options?.['com.docker.network.bridge.inhibit_ipv4'] === 'true',
  };
}

/** Log text as one readable line. */
function printable(text: string): string {
  return text.replace(/\s+/g, ' ').trim().slice(-2000);
}
