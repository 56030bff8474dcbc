/**
 * Container groups, run as real Docker containers: one "infra" container per group holds the group's
 * network namespace (its address on the stand-in's network is the group's IP, as a Kubernetes pause
 * container does), and every container of the group joins that namespace, so they share localhost
 * as ACI's containers do. The ARM view (spec, provisioning state, events) lives in memory; the
 * runtime state (running, exit codes, restarts, logs) is read from the engine each time.
 */
import type Docker from 'dockerode';
import { createHash } from 'node:crypto';
import { ArmError } from './arm-error.js';
import type { StandinConfig } from './config.js';

export interface GroupRef {
  sub: string;
  /** The resource group as the caller spelled it; ARM ids use the canonical spelling. */
  rg: string;
  name: string;
}

interface ContainerSpec {
  name: string;
  properties: {
    image: string;
    command?: string[];
    ports?: Array<{ port: number; protocol?: string }>;
    environmentVariables?: Array<{ name: string; value?: string; secureValue?: string }>;
    resources?: { requests: { cpu: number; memoryInGB: number }; limits?: { cpu?: number; memoryInGB?: number } };
    [k: string]: unknown;
  };
}

export interface GroupBody {
  location: string;
  tags?: Record<string, string>;
  zones?: string[];
  identity?: unknown;
  properties: {
    containers: ContainerSpec[];
    osType: string;
    restartPolicy?: string;
    ipAddress?: { ports: Array<{ port: number; protocol?: string }>; type: string; dnsNameLabel?: string; [k: string]: unknown };
    imageRegistryCredentials?: Array<{ server: string; username?: string; password?: string; identity?: string }>;
    sku?: string;
    [k: string]: unknown;
  };
}

interface Event { count: number; firstTimestamp: string; lastTimestamp: string; name: string; message: string; type: string }

interface Group {
  ref: GroupRef;
  rgCanonical: string;
  body: GroupBody;
  provisioningState: 'Pending' | 'Creating' | 'Updating' | 'Succeeded' | 'Failed' | 'Deleting';
  failure?: { code: string; message: string };
  infraId?: string;
  containerIds: Map<string, string>;
  events: Map<string, Event[]>;
  groupEvents: Event[];
  stopped: boolean;
  /** An operation in flight (create, update, start, delete): others get 409 meanwhile. */
  busy: boolean;
}

const LABEL = 'aci.standin';
const GIB = 1024 ** 3;

export class Groups {
  private readonly groups = new Map<string, Group>();

  constructor(
    private readonly docker: Docker,
    private readonly cfg: StandinConfig,
  ) {}

  private key(ref: GroupRef): string {
    return `${ref.sub}/${ref.rg.toLowerCase()}/${ref.name}`;
  }

  private objectName(ref: GroupRef, container: string): string {
    const h = createHash('sha256').update(this.key(ref)).digest('hex').slice(0, 12);
    return `aci-${this.cfg.instance}-${h}-${container}`;
  }

  private labels(ref: GroupRef, role: string, container?: string): Record<string, string> {
    return {
      ...this.cfg.labels,
      [LABEL]: this.cfg.instance,
      'aci.group': `/subscriptions/${ref.sub}/resourceGroups/${ref.rg.toLowerCase()}/containerGroups/${ref.name}`,
      'aci.role': role,
      ...(container ? { 'aci.container': container } : {}),
    };
  }

  get(ref: GroupRef): Group | undefined {
    return this.groups.get(this.key(ref));
  }

  list(sub: string, rg?: string): Group[] {
    return [...this.groups.values()].filter((g) => g.ref.sub === sub && (rg === undefined || g.ref.rg.toLowerCase() === rg.toLowerCase()));
  }

  notFound(ref: GroupRef, rgCanonical: string): ArmError {
    return new ArmError(404, 'ResourceNotFound', `The Resource 'Microsoft.ContainerInstance/containerGroups/${ref.name}' under resource group '${rgCanonical}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`);
  }

  private transitioning(g: Group): ArmError {
    return new ArmError(409, 'ContainerGroupTransitioning', `The container group '${g.ref.name}' is still transitioning, please retry later.`);
  }

  /**
   * The local image a reference names. An image in the emulated registry is an engine image tagged with
   * the registry's name (`wardentest.azurecr.io/warden-sandbox:t`: what `docker push` would upload), so
   * only what was "pushed" can be pulled; a reference without a registry host is a public image.
   */
  private localImage(image: string, body: GroupBody, group: string): string {
    const inaccessible = (): ArmError => new ArmError(400, 'InaccessibleImage', `The image '${image}' in container group '${group}' is not accessible. Please check the image and registry credential.`);
    let ref = image;
    const reg = this.cfg.registry;
    if (reg && image.toLowerCase().startsWith(`${reg.toLowerCase()}/`)) {
      const cred = body.properties.imageRegistryCredentials?.find((c) => c.server.toLowerCase() === reg.toLowerCase());
      if (!cred || !(cred.identity || (cred.username && cred.password))) throw inaccessible();
      ref = `${reg.toLowerCase()}/${image.slice(reg.length + 1)}`;
    } else if (/^[^/]+\.[^/]+\//.test(image)) {
      throw inaccessible(); // another registry: nothing can be pulled here
    }
    return ref.includes(':') || ref.includes('@') ? ref : `${ref}:latest`;
  }

  /** PUT: validates what needs the engine (images), records the group and starts provisioning. */
  async createOrUpdate(ref: GroupRef, rgCanonical: string, body: GroupBody, done: (err?: { code: string; message: string }) => void): Promise<{ created: boolean; group: Group }> {
    const existing = this.get(ref);
    if (existing?.busy) throw this.transitioning(existing);
    // ARM takes one write of a resource at a time: a second PUT that arrives while the first is still
    // being accepted conflicts, exactly as one that arrives while the group provisions
    const k = this.key(ref);
    if (this.accepting.has(k)) throw new ArmError(409, 'ContainerGroupTransitioning', `The container group '${ref.name}' is still transitioning, please retry later.`);
    this.accepting.add(k);
    try {
      return await this.accept(ref, rgCanonical, body, existing, done);
    } finally {
      this.accepting.delete(k);
    }
  }

  private readonly accepting = new Set<string>();

  private async accept(ref: GroupRef, rgCanonical: string, body: GroupBody, existing: Group | undefined, done: (err?: { code: string; message: string }) => void): Promise<{ created: boolean; group: Group }> {
    const images = new Map<string, string>();
    for (const c of body.properties.containers) {
      const local = this.localImage(c.properties.image, body, ref.name);
      try {
        await this.docker.getImage(local).inspect();
      } catch {
        throw new ArmError(400, 'InaccessibleImage', `The image '${c.properties.image}' in container group '${ref.name}' is not accessible. Please check the image and registry credential.`);
      }
      images.set(c.name, local);
    }
    const group: Group = existing ?? {
      ref,
      rgCanonical,
      body,
      provisioningState: 'Pending',
      containerIds: new Map(),
      events: new Map(),
      groupEvents: [],
      stopped: false,
      busy: true,
    };
    const created = !existing;
    group.busy = true;
    group.body = body;
    group.provisioningState = created ? 'Pending' : 'Updating';
    delete group.failure;
    this.groups.set(this.key(ref), group);
    void this.provision(group, images, !created).then(
      () => {
        group.provisioningState = 'Succeeded';
        group.busy = false;
        done();
      },
      (err: unknown) => {
        const e = err instanceof ArmError ? { code: err.code, message: err.message } : { code: 'DeploymentFailed', message: `The container group provisioning failed: ${(err as Error).message}` };
        group.provisioningState = 'Failed';
        group.failure = e;
        group.busy = false;
        done(e);
      },
    );
    return { created, group };
  }

  private event(list: Event[], name: string, message: string, type = 'Normal'): void {
    const now = new Date().toISOString();
    const same = list.find((e) => e.name === name && e.message === message);
    if (same) {
      same.count++;
      same.lastTimestamp = now;
    } else list.push({ count: 1, firstTimestamp: now, lastTimestamp: now, name, message, type });
  }

  private async removeObjects(g: Group): Promise<void> {
    const ids = [...g.containerIds.values(), ...(g.infraId ? [g.infraId] : [])];
    await Promise.all(ids.map((id) => this.docker.getContainer(id).remove({ force: true, v: true }).catch(() => undefined)));
    g.containerIds.clear();
    delete g.infraId;
  }

  private async provision(g: Group, images: Map<string, string>, update: boolean): Promise<void> {
    if (update) await this.removeObjects(g); // ACI redeploys every container on an update
    g.provisioningState = update ? 'Updating' : 'Creating';
    g.stopped = false;
    const infra = await this.docker.createContainer({
      name: this.objectName(g.ref, 'infra'),
      Image: this.cfg.infraImage,
      Entrypoint: ['sleep'],
      Cmd: ['infinity'],
      Labels: this.labels(g.ref, 'infra'),
      HostConfig: { NetworkMode: this.cfg.network, Init: true, ReadonlyRootfs: true, CapDrop: ['ALL'], SecurityOpt: ['no-new-privileges'] },
    });
    g.infraId = infra.id;
    const policy = { Always: 'always', OnFailure: 'on-failure', Never: 'no' }[g.body.properties.restartPolicy ?? 'Always'] ?? 'always';
    for (const c of g.body.properties.containers) {
      const p = c.properties;
      const cpu = p.resources?.limits?.cpu ?? p.resources?.requests.cpu ?? 1;
      const mem = p.resources?.limits?.memoryInGB ?? p.resources?.requests.memoryInGB ?? 1.5;
      const env = (p.environmentVariables ?? []).map((e) => `${e.name}=${e.secureValue ?? e.value ?? ''}`);
      const events = g.events.get(c.name) ?? [];
      g.events.set(c.name, events);
      this.event(events, 'Pulling', `pulling image "${p.image}"`);
      this.event(events, 'Pulled', `Successfully pulled image "${p.image}"`);
      const created = await this.docker.createContainer({
        name: this.objectName(g.ref, c.name),
        Image: images.get(c.name)!,
        ...(p.command?.length ? { Entrypoint: p.command, Cmd: [] } : {}),
        Env: env,
        Labels: this.labels(g.ref, 'container', c.name),
        HostConfig: { NetworkMode: `container:${infra.id}`, NanoCpus: Math.round(cpu * 1e9), Memory: Math.round(mem * GIB), RestartPolicy: { Name: policy } },
      });
      g.containerIds.set(c.name, created.id);
      this.event(events, 'Created', `Created container ${c.name}`);
    }
    await this.startAll(g);
  }

  private async startAll(g: Group): Promise<void> {
    if (!g.infraId) throw new Error('the group has no infrastructure container');
    await this.docker.getContainer(g.infraId).start().catch((err: { statusCode?: number }) => {
      if (err.statusCode !== 304) throw err;
    });
    for (const [name, id] of g.containerIds) {
      await this.docker.getContainer(id).start().catch((err: { statusCode?: number }) => {
        if (err.statusCode !== 304) throw err;
      });
      this.event(g.events.get(name) ?? [], 'Started', `Started container ${name}`);
    }
    g.stopped = false;
  }

  /** DELETE: everything of the group goes; answers with the resource as it was. */
  async delete(g: Group): Promise<void> {
    if (g.busy) throw this.transitioning(g);
    g.busy = true;
    g.provisioningState = 'Deleting';
    try {
      await this.removeObjects(g);
    } finally {
      this.groups.delete(this.key(g.ref));
    }
  }

  /** POST stop: ACI deallocates the group (containers stop, billing stops); synchronous (204). */
  async stop(g: Group): Promise<void> {
    if (g.busy) throw this.transitioning(g);
    const t = this.cfg.stopGraceSeconds;
    await Promise.all([...g.containerIds.values()].map((id) => this.docker.getContainer(id).stop({ t }).catch(() => undefined)));
    if (g.infraId) await this.docker.getContainer(g.infraId).stop({ t: 0 }).catch(() => undefined);
    g.stopped = true;
    this.event(g.groupEvents, 'Stopped', 'Container group stopped');
  }

  /** POST start: long-running; `false` when the group already runs (204). */
  start(g: Group, done: (err?: { code: string; message: string }) => void): boolean {
    if (g.busy) throw this.transitioning(g);
    if (!g.stopped) return false;
    g.busy = true;
    void this.startAll(g).then(
      () => {
        g.busy = false;
        done();
      },
      (err: Error) => {
        g.busy = false;
        done({ code: 'ContainerGroupStartFailed', message: err.message });
      },
    );
    return true;
  }

  /** POST restart: every container restarts in place (a stopped group starts); 204 when done. */
  async restart(g: Group): Promise<void> {
    if (g.busy) throw this.transitioning(g);
    g.busy = true;
    try {
      if (g.stopped) await this.startAll(g);
      else {
        const t = this.cfg.stopGraceSeconds;
        for (const [name, id] of g.containerIds) {
          await this.docker.getContainer(id).restart({ t });
          this.event(g.events.get(name) ?? [], 'Started', `Started container ${name}`);
        }
      }
    } finally {
      g.busy = false;
    }
  }

  /** The engine's container of `container`, running, for logs and exec. */
  containerId(g: Group, container: string): string {
    const id = g.containerIds.get(container);
    if (!id) throw new ArmError(404, 'ContainerNotFound', `The container '${container}' is not found in container group '${g.ref.name}'.`);
    return id;
  }

  async running(id: string): Promise<boolean> {
    try {
      return (await this.docker.getContainer(id).inspect()).State.Running;
    } catch {
      return false;
    }
  }

  /** GET logs: stdout and stderr merged, as ACI keeps them. */
  async logs(g: Group, container: string, tail?: number, timestamps?: boolean): Promise<string> {
    const id = this.containerId(g, container);
    const raw = (await this.docker.getContainer(id).logs({ stdout: true, stderr: true, follow: false, timestamps: !!timestamps, ...(tail !== undefined ? { tail } : {}) })) as unknown as Buffer;
    const out: Buffer[] = [];
    for (let i = 0; i + 8 <= raw.length; ) {
      const len = raw.readUInt32BE(i + 4);
      out.push(raw.subarray(i + 8, i + 8 + len));
      i += 8 + len;
    }
    return Buffer.concat(out).toString('utf8');
  }

  /** The ARM representation of a group. `view`: with instance views (GET), or without (list). */
  async resource(g: Group, view: boolean): Promise<Record<string, unknown>> {
    const b = g.body;
    const id = `/subscriptions/${g.ref.sub}/resourceGroups/${g.rgCanonical}/providers/Microsoft.ContainerInstance/containerGroups/${g.ref.name}`;
    const states = new Map<string, Docker.ContainerInspectInfo | undefined>();
    for (const [name, cid] of g.containerIds) states.set(name, await this.docker.getContainer(cid).inspect().catch(() => undefined));
    const containers = b.properties.containers.map((c) => {
      const { environmentVariables, ...rest } = c.properties;
      const info = states.get(c.name);
      return {
        name: c.name,
        properties: {
          ...rest,
          ...(environmentVariables ? { environmentVariables: environmentVariables.map((e) => (e.secureValue !== undefined ? { name: e.name } : { name: e.name, value: e.value ?? '' })) } : {}),
          ...(view && !g.stopped && info ? { instanceView: this.containerView(info, g.events.get(c.name) ?? []) } : {}),
        },
      };
    });
    let ip: string | undefined;
    if (b.properties.ipAddress && g.infraId && !g.stopped) {
      const infra = await this.docker.getContainer(g.infraId).inspect().catch(() => undefined);
      ip = infra?.NetworkSettings.Networks[this.cfg.network]?.IPAddress || undefined;
    }
    const { imageRegistryCredentials, ipAddress, ...props } = b.properties;
    return {
      id,
      name: g.ref.name,
      type: 'Microsoft.ContainerInstance/containerGroups',
      location: b.location,
      ...(b.tags ? { tags: b.tags } : {}),
      ...(b.zones ? { zones: b.zones } : {}),
      ...(b.identity ? { identity: b.identity } : {}),
      properties: {
        sku: 'Standard',
        ...props,
        restartPolicy: b.properties.restartPolicy ?? 'Always',
        provisioningState: g.provisioningState,
        containers,
        ...(imageRegistryCredentials ? { imageRegistryCredentials: imageRegistryCredentials.map(({ password: _p, ...c }) => c) } : {}),
        ...(ipAddress ? { ipAddress: { ...ipAddress, ...(ip ? { ip } : {}), ...(ipAddress.dnsNameLabel ? { fqdn: `${ipAddress.dnsNameLabel}.${b.location}.azurecontainer.io` } : {}) } } : {}),
        initContainers: [],
        ...(view ? { instanceView: { events: g.groupEvents, state: this.groupState(g, states) } } : {}),
      },
    };
  }

  private containerView(info: Docker.ContainerInspectInfo, events: Event[]): Record<string, unknown> {
    const s = info.State;
    const started = s.StartedAt && !s.StartedAt.startsWith('0001') ? s.StartedAt : undefined;
    const current = s.Running
      ? { state: 'Running', startTime: started, detailStatus: '' }
      : started
        ? { state: 'Terminated', startTime: started, exitCode: s.ExitCode, finishTime: s.FinishedAt, detailStatus: s.ExitCode === 0 ? 'Completed' : 'Error' }
        : { state: 'Waiting', detailStatus: 'ContainerCreating' };
    return { restartCount: info.RestartCount, currentState: current, events };
  }

  private groupState(g: Group, states: Map<string, Docker.ContainerInspectInfo | undefined>): string {
    if (g.stopped) return 'Stopped';
    if (g.provisioningState === 'Pending' || g.provisioningState === 'Creating') return 'Pending';
    if (g.provisioningState === 'Failed') return 'Failed';
    const all = [...states.values()];
    if (all.some((i) => i?.State.Running || i?.State.Restarting)) return 'Running';
    const policy = g.body.properties.restartPolicy ?? 'Always';
    if (policy === 'Always') return 'Running';
    return all.every((i) => i?.State.ExitCode === 0) ? 'Succeeded' : 'Failed';
  }
}
