import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { V1NetworkPolicy, V1OwnerReference, V1Pod } from '@kubernetes/client-node';
import { WardenError } from '../../errors.js';
import { GUARD } from '../../guest/argv.js';
import type { Logger } from '../../log.js';
import { wardenSeccompProfile } from '../../policy/seccomp.js';
import { LABEL } from '../../policy/labels.js';
import { parseRecord } from '../../policy/record.js';
import type {
  Capability,
  ExecHandle,
  ExecRequest,
  OwnerLink,
  PanicResult,
  PruneResult,
  RuntimeCheck,
  RuntimeInfo,
  SandboxPlan,
  SandboxRuntime,
  Unit,
  UnitRef,
  UnitSelector,
} from '../sandbox-runtime.js';
import { keyedUnitName } from '../unit-names.js';
import { call, isConflict, isNotFound, KubeApi, orMissing, translate } from './api.js';
import { openExec } from './exec-stream.js';
import { podExec, podExecDetached } from './exec.js';
import {
  canaryPod,
  DEADLINE_SLACK_S,
  maxRuntimeMs,
  egressSecret,
  envSecret,
  lockLease,
  podOwner,
  proxyPod,
  proxyPolicy,
  PROXY_PORT,
  sandboxPod,
  sandboxPolicy,
  seccompProfilePath,
  type ManifestContext,
} from './manifests.js';
import {
  CANARY_NAME,
  CONTAINER,
  normalizeImage,
  egressSecretName,
  envSecretName,
  KANNOTATION,
  KLABEL,
  keyHash,
  keyLockName,
  labelValue,
  encodeLabels,
  nameHash,
  nameLockName,
  podName,
  proxyPodName,
  ROLE,
  selector,
} from './names.js';
import { loadKubeConfig } from './kubeconfig.js';
import { kubernetesCapabilities, validateOptions, type KubernetesRuntimeOptions } from './options.js';
import { KubeOwnerLink } from './owner-link.js';
import { containerStatus, isFinished, isRunning, podProblem, unitState } from './pod-status.js';
import { PreviewForwarder } from './port-forward.js';
import { waitList } from './wait.js';

/** How long create waits for a pod at most (image pulls on a real cluster included); a guard, not a wait. */
const START_TIMEOUT_MS = 180_000;
/** Companions older than this whose unit is gone are leftovers (a unit being made has its proxy and secrets first). */
const ORPHAN_AGE_MS = 60_000;

type Plan = SandboxPlan;

/**
 * The Kubernetes backend (issue 17): each unit is a pod under the "restricted" Pod Security profile
 * with everything made for it owned by that pod, in one namespace. See docs/KUBERNETES.md for the
 * objects, the guarantees and who enforces each.
 */
export class KubernetesRuntime implements SandboxRuntime {
  readonly kind = 'kubernetes' as const;
  readonly capabilities: ReadonlySet<Capability>;
  readonly owner: KubeOwnerLink;
  readonly namespace: string;
  private readonly api: KubeApi;
  private readonly ctx: ManifestContext;
  private readonly previews: PreviewForwarder;
  private nsReady?: Promise<void>;
  private openExcept?: Promise<string[]>;

  constructor(
    private readonly opts: KubernetesRuntimeOptions,
    private readonly log?: Logger,
    link: string = `${opts.instance}-${randomBytes(8).toString('hex')}`,
  ) {
    validateOptions(opts);
    this.namespace = opts.namespace;
    this.api = new KubeApi(loadKubeConfig(opts.kubeconfig));
    this.ctx = {
      namespace: opts.namespace,
      instance: opts.instance,
      images: opts.images,
      imagePullPolicy: opts.imagePullPolicy,
      ...(opts.seccomp === 'warden' ? { seccompLocalhost: seccompProfilePath(wardenSeccompProfile()) } : {}),
      cpuRequestFraction: opts.cpuRequestFraction,
    };
    this.previews = new PreviewForwarder(this.api.kc, this.namespace);
    this.owner = new KubeOwnerLink(this.api, this.namespace, this.ctx, {
      link,
      owner: opts.owner,
      linkTimeoutSeconds: opts.linkTimeoutSeconds,
      keepaliveMs: opts.keepaliveMs,
      releaseUnit: (id) => this.unlinkUnit(id),
    }, log);
    this.capabilities = kubernetesCapabilities(opts);
  }

  // ---------------------------------------------------------------- facts

  async info(): Promise<RuntimeInfo> {
    const [version, nodes] = await Promise.all([
      call('reading the Kubernetes version', () => this.api.version.getCode()),
      call('listing the nodes', () => this.api.core.listNode()).catch((err: unknown) => {
        this.log?.debug({ err }, 'cannot list nodes');
        return { items: [] };
      }),
    ]);
    let cpus = 0;
    let memoryBytes = 0;
    for (const n of nodes.items) {
      cpus = Math.max(cpus, parseCpu(n.status?.allocatable?.cpu ?? '0'));
      memoryBytes = Math.max(memoryBytes, parseQuantity(n.status?.allocatable?.memory ?? '0'));
    }
    return {
      kind: 'kubernetes',
      version: `Kubernetes ${version.gitVersion}`,
      cpus,
      memoryBytes,
      details: {
        server: this.api.kc.getCurrentCluster()?.server ?? '',
        namespace: this.namespace,
        nodes: String(nodes.items.length),
        seccomp: this.ctx.seccompLocalhost ? `Localhost ${this.ctx.seccompLocalhost}` : 'RuntimeDefault',
        podSecurity: 'restricted',
      },
    };
  }

  async diagnose(): Promise<RuntimeCheck[]> {
    const checks: RuntimeCheck[] = [];
    try {
      const info = await this.info();
      checks.push({ name: 'kubernetes-api', ok: true, detail: `${info.version} at ${info.details.server}` });
    } catch (err) {
      checks.push({ name: 'kubernetes-api', ok: false, detail: (err as Error).message, hint: 'set KUBECONFIG; the local cluster: bash scripts/kube-up.sh' });
      return checks;
    }
    try {
      await this.ensureNamespace();
      checks.push({ name: 'kubernetes-namespace', ok: true, detail: `namespace ${this.namespace}` });
      const canary = await this.canary();
      checks.push({ name: 'kubernetes-netpol-canary', ok: true, detail: `canary at ${canary}: each new sandbox waits until its policy refuses it (none start where nothing enforces NetworkPolicy)` });
    } catch (err) {
      checks.push({ name: 'kubernetes-namespace', ok: false, detail: (err as Error).message, hint: 'Warden needs rights on pods, secrets, jobs, leases and networkpolicies in its namespace' });
    }
    return checks;
  }

  async imageExists(ref: string): Promise<boolean> {
    const want = normalizeImage(ref);
    const nodes = await call('listing the nodes', () => this.api.core.listNode());
    return nodes.items.some((n) => (n.status?.images ?? []).some((i) => (i.names ?? []).some((name) => name === want || name === ref)));
  }

  // ---------------------------------------------------------------- create

  async create(plan: Plan): Promise<Unit> {
    this.refuseUnsupported(plan);
    await this.ensureNamespace();
    const ephemeral = plan.lifetime === 'ephemeral';
    const [link, canary, openExcept] = await Promise.all([
      ephemeral ? this.owner.ensure() : undefined,
      this.canary(),
      plan.egress.mode === 'open' ? this.openNetworkExcept() : [],
    ]);
    const preOwners: V1OwnerReference[] = link ? [link.ownerRef] : [];
    const made: Array<() => Promise<unknown>> = [];
    const ns = this.namespace;
    try {
      // the unit's environment first (the container needs it when it starts): owned by the link until the pod exists
      await call(`creating the environment of ${plan.id}`, () => this.api.core.createNamespacedSecret({ namespace: ns, body: envSecret(plan, preOwners) }), { conflict: 'NAME_CONFLICT' });
      made.push(() => orMissing('', () => this.api.core.deleteNamespacedSecret({ name: envSecretName(plan.id), namespace: ns })));

      let proxyIp: string | undefined;
      if (plan.egress.mode === 'allowlist') {
        const p = plan as Plan & { egress: { mode: 'allowlist' } };
        const ca = p.egress.caFile !== undefined ? readCa(p.egress.caFile) : undefined;
        await call(`creating the egress secret of ${plan.id}`, () => this.api.core.createNamespacedSecret({ namespace: ns, body: egressSecret(p, ca, preOwners) }));
        made.push(() => orMissing('', () => this.api.core.deleteNamespacedSecret({ name: egressSecretName(plan.id), namespace: ns })));
        await call(`creating the egress proxy of ${plan.id}`, () => this.api.core.createNamespacedPod({ namespace: ns, body: proxyPod(p, this.ctx, { ownerReferences: preOwners, ca: ca !== undefined }) }));
        made.push(() => orMissing('', () => this.api.core.deleteNamespacedPod({ name: proxyPodName(plan.id), namespace: ns, gracePeriodSeconds: 0 })));
        proxyIp = await this.podIp(proxyPodName(plan.id), `starting the egress proxy of ${plan.id}`);
      }

      const body = sandboxPod(plan, this.ctx, {
        ownerReferences: preOwners,
        gate: { deny: canary, ...(proxyIp ? { allow: `${proxyIp}:${PROXY_PORT}` } : {}), withinSeconds: this.opts.netgateSeconds },
        ...(proxyIp ? { proxyIp } : {}),
      });
      const pod = await call(`creating the pod of ${plan.id}`, () => this.api.core.createNamespacedPod({ namespace: ns, body }), { conflict: 'NAME_CONFLICT' });
      made.unshift(() => orMissing('', () => this.api.core.deleteNamespacedPod({ name: podName(plan.id), namespace: ns, gracePeriodSeconds: 0 })));
      const owner = podOwner(pod);
      const unitRef = { id: plan.id, instance: plan.record.instance };

      // everything else is owned by the pod; the locks make name and key unique (the API server refuses a second).
      // The key first, then the name, one after the other: a keyed unit's name comes from its key, so two
      // creates of one key taking both at once could each win one and both fail; in this order one wins
      const locks: Array<Promise<unknown>> = [
        (async () => {
          if (plan.key !== undefined) await this.lock(keyLockName(keyHash(plan.record.instance, plan.key)), unitRef, ROLE.keyLock, plan.key, owner, 'KEY_TAKEN');
          await this.lock(nameLockName(nameHash(plan.record.instance, plan.name)), unitRef, ROLE.nameLock, plan.name, owner, 'NAME_CONFLICT');
        })(),
      ];
      const policies: V1NetworkPolicy[] = [sandboxPolicy(plan, owner, openExcept), ...(proxyIp ? [proxyPolicy(plan, owner)] : [])];
      const rest = await Promise.allSettled([
        ...locks,
        ...policies.map((body) => call(`creating the network policy of ${plan.id}`, () => this.api.net.createNamespacedNetworkPolicy({ namespace: ns, body }))),
        this.reown('secret', envSecretName(plan.id), [owner]),
        ...(proxyIp ? [this.reown('secret', egressSecretName(plan.id), [owner]), this.reown('pod', proxyPodName(plan.id), [owner])] : []),
      ]);
      const failures = rest.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as unknown);
      // the key is what the caller asked for: its refusal is the answer
      const failed = failures.find((e) => e instanceof WardenError && e.code === 'KEY_TAKEN') ?? failures[0];
      if (failed !== undefined) throw failed;

      let running = await this.waitStarted(plan.id);
      const maxMs = maxRuntimeMs(plan);
      if (maxMs !== undefined) running = await this.tightenDeadline(running, maxMs);
      if (link) {
        await link.attached;
        this.owner.add(plan.id);
      }
      return await this.toUnit(running);
    } catch (err) {
      // all or nothing: the pod first (its dependents follow it), then what was made before it
      for (const undo of made) await undo().catch(() => undefined);
      await this.removeObjects(plan.id).catch(() => undefined);
      throw translate(err, `creating sandbox ${plan.id}`);
    }
  }

  /**
   * The pod's deadline (activeDeadlineSeconds, counted from the pod's start) made the max runtime from
   * now, plus a little so the guard's own deadline fires first and says why. Kubernetes lets a deadline
   * only be lowered; failing to lower it fails the create (the unit would outlive its max runtime).
   */
  private async tightenDeadline(pod: V1Pod, maxMs: number): Promise<V1Pod> {
    const started = pod.status?.startTime ? new Date(pod.status.startTime).getTime() : Date.now();
    const seconds = Math.ceil((Date.now() - started) / 1000) + Math.ceil(maxMs / 1000) + DEADLINE_SLACK_S;
    if (seconds >= (pod.spec?.activeDeadlineSeconds ?? Infinity)) return pod;
    return call(`setting the max runtime of ${pod.metadata?.name}`, () =>
      this.api.core.patchNamespacedPod({ name: pod.metadata?.name ?? '', namespace: this.namespace, body: { spec: { activeDeadlineSeconds: seconds } } }, KubeApi.mergePatch),
    );
  }

  private refuseUnsupported(plan: Plan): void {
    const no = (cap: string, what: string): never => {
      throw new WardenError('UNSUPPORTED_ON_RUNTIME', `the kubernetes runtime cannot ${what} (capability '${cap}'); ${HINTS[cap] ?? ''}`.trim(), { details: { capability: cap } });
    };
    if (plan.workspace.kind === 'host') no('hostMounts', 'mount a host directory as the workspace');
    if (plan.workspace.kind === 'volume') no('workspaceVolume', 'keep a workspace volume across stop and refresh');
    if (plan.mounts.length) no('hostMounts', `mount host paths (${plan.mounts.map((m) => m.target).join(', ')})`);
    if (plan.isolation === 'gvisor') no('gvisor', 'run gVisor');
    if (plan.record.user.uid === 0) {
      throw new WardenError('ROOT_REFUSED', 'the kubernetes runtime runs every pod under the "restricted" Pod Security profile, which refuses uid 0; run the workload as a non-root user');
    }
    if (plan.lifetime === 'ephemeral' && plan.owner.link !== this.owner.link.link) {
      throw new WardenError('INVALID_ARGUMENT', `an ephemeral unit must be owned by this process's link (${this.owner.link.link}), not ${plan.owner.link}`);
    }
    if (plan.preview.some((p) => p.containerPort < 1 || p.containerPort > 65535)) throw new WardenError('INVALID_SPEC', 'preview ports must be 1-65535');
  }

  /** Creates a lock Lease; an existing one of another unit is `code`. */
  private async lock(name: string, unit: { id: string; instance: string }, role: string, value: string, owner: V1OwnerReference, code: 'NAME_CONFLICT' | 'KEY_TAKEN'): Promise<void> {
    try {
      await this.api.coord.createNamespacedLease({ namespace: this.namespace, body: lockLease(name, unit, role, value, owner) });
    } catch (err) {
      if (!isConflict(err)) throw translate(err, `taking the ${role === ROLE.keyLock ? 'key' : 'name'} of ${unit.id}`);
      const holder = await orMissing('', () => this.api.coord.readNamespacedLease({ name, namespace: this.namespace })).catch(() => undefined);
      throw new WardenError(
        code,
        code === 'KEY_TAKEN'
          ? `key ${JSON.stringify(value)} is already held by sandbox ${holder?.spec?.holderIdentity ?? '?'}; use ensure() to get it`
          : `a sandbox named ${JSON.stringify(value)} already exists (${holder?.spec?.holderIdentity ?? '?'}); choose another name or remove it`,
        { details: { holder: holder?.spec?.holderIdentity } },
      );
    }
  }

  /** Replaces an object's owner references (a merge patch; the object is Warden's own). */
  private async reown(kind: 'secret' | 'pod', name: string, owners: V1OwnerReference[]): Promise<void> {
    const body = { metadata: { ownerReferences: owners } };
    await call(`taking ${kind} ${name} under its sandbox`, () =>
      kind === 'secret'
        ? this.api.core.patchNamespacedSecret({ name, namespace: this.namespace, body }, KubeApi.mergePatch)
        : this.api.core.patchNamespacedPod({ name, namespace: this.namespace, body }, KubeApi.mergePatch),
    );
  }

  /** Waits for a pod's IP (its network exists: the proxy's address goes into the sandbox's pod). */
  private async podIp(name: string, what: string): Promise<string> {
    const [pod] = await this.waitPod(name, what, (p) => Boolean(p.status?.podIP));
    return pod?.status?.podIP as string;
  }

  private waitPod(name: string, what: string, done: (p: V1Pod) => boolean, timeoutMs = START_TIMEOUT_MS): Promise<V1Pod[]> {
    return waitList<V1Pod>(
      this.api,
      `/api/v1/namespaces/${this.namespace}/pods`,
      (sel) => this.api.core.listNamespacedPod({ namespace: this.namespace, ...sel }),
      { fieldSelector: `metadata.name=${name}` },
      (pods) => {
        const p = pods[0];
        if (!p) throw new WardenError('ENGINE_ERROR', `${what}: pod ${name} was deleted`);
        if (done(p)) return true;
        const problem = podProblem(p, what);
        if (problem) throw problem;
        return false;
      },
      { timeoutMs, what },
    );
  }

  /** Waits until the sandbox container runs; a failed init step is explained (the netgate's refusal above all). */
  private async waitStarted(id: string): Promise<V1Pod> {
    const name = podName(id);
    const what = `starting sandbox ${id}`;
    try {
      const [pod] = await this.waitPod(name, what, (p) => isRunning(p, CONTAINER.sandbox));
      return pod as V1Pod;
    } catch (err) {
      const e = err as WardenError;
      if (e.details?.container === CONTAINER.gate) {
        const log = await this.podLog(name, CONTAINER.gate, 20).catch(() => '');
        if (/nothing enforces its network policy/.test(log)) {
          throw new WardenError(
            'UNSUPPORTED_ON_RUNTIME',
            `sandbox ${id} was refused: the cluster enforces no NetworkPolicy (the new pod still reached the canary after ${this.opts.netgateSeconds} s), so its egress cannot be confined (capability 'egressAllowlist'). Use a network plugin that enforces NetworkPolicy (Calico, Cilium, kube-router; the local cluster's kube-up.sh runs kube-router)`,
            { details: { capability: 'egressAllowlist' } },
          );
        }
        throw new WardenError('ENGINE_ERROR', `${what}: ${log.trim().split('\n').slice(-3).join(' ') || e.message}`, { cause: err });
      }
      if (e.details?.container === CONTAINER.guest) {
        const log = await this.podLog(name, CONTAINER.guest, 20).catch(() => '');
        throw new WardenError('ENGINE_ERROR', `${what}: Warden's guest files could not be installed: ${log.trim() || e.message}`, { cause: err });
      }
      throw err;
    }
  }

  private async ensureNamespace(): Promise<void> {
    if (!this.nsReady) {
      this.nsReady = this.makeNamespace();
      this.nsReady.catch(() => (this.nsReady = undefined));
    }
    return this.nsReady;
  }

  private async makeNamespace(): Promise<void> {
    const ns = this.namespace;
    const existing = await orMissing(`reading namespace ${ns}`, () => this.api.core.readNamespace({ name: ns }));
    if (!existing) {
      if (!this.opts.createNamespace) throw new WardenError('ENGINE_ERROR', `namespace ${ns} does not exist; create it (label pod-security.kubernetes.io/enforce=restricted) or allow Warden to`);
      await call(`creating namespace ${ns}`, () =>
        this.api.core.createNamespace({
          body: {
            metadata: {
              name: ns,
              labels: { [KLABEL.managed]: 'true', 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/enforce-version': 'latest' },
            },
          },
        }),
      ).catch((err: WardenError) => {
        if (err.code !== 'CONFLICT') throw err;
      });
    } else if (existing.status?.phase === 'Terminating') {
      throw new WardenError('ENGINE_ERROR', `namespace ${ns} is being deleted; wait for it, or use another (WARDEN_KUBE_NAMESPACE)`);
    }
    // a new namespace refuses pods until its default service account exists (ServiceAccount admission)
    await waitList(
      this.api,
      `/api/v1/namespaces/${ns}/serviceaccounts`,
      (sel) => this.api.core.listNamespacedServiceAccount({ namespace: ns, ...sel }),
      { fieldSelector: 'metadata.name=default' },
      (items) => items.length > 0,
      { timeoutMs: 60_000, what: `waiting for namespace ${ns}'s default service account` },
    );
  }

  /**
   * The namespace's network policy canary (`ip:port`): a pod that listens and that no policy protects.
   * Every sandbox's init step waits until its own policy refuses it (guard `netgate`), so a cluster
   * that enforces nothing never runs a workload that believes it is confined. Checked (ready, same
   * address) before every create: a stale address would make the gate pass for the wrong reason.
   */
  private async canary(): Promise<string> {
    const ns = this.namespace;
    const ready = (p: V1Pod | undefined): boolean => Boolean(p?.status?.podIP && p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
    let pod = await orMissing('reading the network policy canary', () => this.api.core.readNamespacedPod({ name: CANARY_NAME, namespace: ns }));
    if (pod && (pod.metadata?.deletionTimestamp || isFinished(pod))) {
      await orMissing('', () => this.api.core.deleteNamespacedPod({ name: CANARY_NAME, namespace: ns, gracePeriodSeconds: 0 }));
      await this.waitPod(CANARY_NAME, 'replacing the canary', () => false, 30_000).catch(() => undefined);
      pod = undefined;
    }
    if (!pod) {
      await call('creating the network policy canary', () => this.api.core.createNamespacedPod({ namespace: ns, body: canaryPod(this.ctx) })).catch((err: WardenError) => {
        if (err.code !== 'CONFLICT') throw err;
      });
    }
    if (!ready(pod)) [pod] = await this.waitPod(CANARY_NAME, 'starting the network policy canary', ready);
    return `${pod?.status?.podIP}:${PROXY_PORT}`;
  }

  private async openNetworkExcept(): Promise<string[]> {
    if (this.opts.openNetworkExcept) return this.opts.openNetworkExcept;
    this.openExcept ??= this.api.core.listNode().then(
      (nodes) => [...new Set(nodes.items.flatMap((n) => n.spec?.podCIDRs ?? (n.spec?.podCIDR ? [n.spec.podCIDR] : [])).filter((c) => !c.includes(':')))],
      (err: unknown) => {
        this.log?.warn({ err }, "cannot read the nodes' pod CIDRs: open sandboxes may reach other pods (set openNetworkExcept)");
        this.openExcept = undefined;
        return [];
      },
    );
    return this.openExcept;
  }

  // ---------------------------------------------------------------- find

  async find(ref: UnitRef): Promise<Unit | undefined> {
    const pod = await this.findPod(ref);
    if (!pod) return undefined;
    const unit = await this.toUnit(pod);
    const env = await this.readEnv(unit.id).catch(() => undefined);
    if (env) unit.env = env;
    return unit;
  }

  async list(sel: UnitSelector): Promise<Unit[]> {
    const equal: Record<string, string> = { [KLABEL.managed]: 'true', [KLABEL.role]: ROLE.sandbox, ...encodeLabels(sel.labels ?? {}) };
    if (sel.instance !== '*') equal[KLABEL.instance] = labelValue(sel.instance);
    if (sel.owner !== undefined) equal[KLABEL.owner] = labelValue(sel.owner);
    if (sel.key !== undefined) equal[KLABEL.keyHash] = keyHash(sel.instance === '*' ? this.opts.instance : sel.instance, sel.key);
    if (sel.lifetime) equal[KLABEL.lifetime] = sel.lifetime;
    if (typeof sel.pool === 'string') equal[KLABEL.pool] = labelValue(sel.pool);
    const pods = await call('listing sandboxes', () =>
      this.api.core.listNamespacedPod({ namespace: this.namespace, labelSelector: selector(equal, sel.pool === false ? [KLABEL.pool] : []) }),
    );
    const units = (await Promise.all(pods.items.map((p) => this.toUnit(p).catch(() => undefined)))).filter((u): u is Unit => u !== undefined);
    return units
      .filter((u) => !sel.state || u.state === sel.state)
      .sort((a, b) => (b.record.createdAt ?? '').localeCompare(a.record.createdAt ?? ''));
  }

  private async findPod(ref: UnitRef): Promise<V1Pod | undefined> {
    const sandbox = (p: V1Pod | undefined): V1Pod | undefined => (p?.metadata?.labels?.[KLABEL.role] === ROLE.sandbox && p.metadata.labels[KLABEL.managed] === 'true' ? p : undefined);
    if ('backendId' in ref) {
      if (!ref.backendId || ref.backendId.length > 253) return undefined;
      return sandbox(await orMissing('reading a pod', () => this.api.core.readNamespacedPod({ name: ref.backendId, namespace: this.namespace })).catch(() => undefined));
    }
    const equal: Record<string, string> = { [KLABEL.managed]: 'true', [KLABEL.role]: ROLE.sandbox };
    if ('id' in ref) equal[KLABEL.id] = labelValue(ref.id);
    else if ('name' in ref) equal[KLABEL.nameHash] = nameHash(this.opts.instance, ref.name);
    else equal[KLABEL.keyHash] = keyHash(this.opts.instance, ref.key);
    const pods = await call('finding a sandbox', () => this.api.core.listNamespacedPod({ namespace: this.namespace, labelSelector: selector(equal) }));
    const items = pods.items.filter((p) => {
      const a = p.metadata?.annotations ?? {};
      if ('id' in ref) return parseRecord(a[KANNOTATION.record])?.id === ref.id;
      if ('name' in ref) return a[KANNOTATION.name] === ref.name;
      return a[KANNOTATION.key] === ref.key;
    });
    // the live one first (a losing concurrent create may be on its way out)
    return items.find((p) => !p.metadata?.deletionTimestamp) ?? items[0];
  }

  private async requirePod(id: string): Promise<V1Pod> {
    const pod = await this.findPod({ id });
    if (!pod) throw new WardenError('SANDBOX_NOT_FOUND', `no sandbox ${id} in namespace ${this.namespace}`);
    return pod;
  }

  private async readEnv(id: string): Promise<Record<string, string> | undefined> {
    const s = await orMissing('', () => this.api.core.readNamespacedSecret({ name: envSecretName(id), namespace: this.namespace }));
    if (!s) return undefined;
    let names: string[] = [];
    try {
      names = JSON.parse(s.metadata?.annotations?.[KANNOTATION.envNames] ?? '[]') as string[];
    } catch {
      /* an old secret: every variable */
    }
    const data = Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
    return names.length ? Object.fromEntries(names.filter((k) => data[k] !== undefined).map((k) => [k, data[k] as string])) : data;
  }

  private async toUnit(pod: V1Pod): Promise<Unit> {
    const a = pod.metadata?.annotations ?? {};
    const record = parseRecord(a[KANNOTATION.record]);
    if (!record) throw new WardenError('ENGINE_ERROR', `pod ${pod.metadata?.name} carries no readable Warden record`);
    const state = unitState(pod, CONTAINER.sandbox);
    const st = containerStatus(pod, CONTAINER.sandbox);
    const term = st?.state?.terminated ?? st?.lastState?.terminated;
    let labels: Record<string, string> = {};
    try {
      labels = JSON.parse(a[KANNOTATION.labels] ?? '{}') as Record<string, string>;
    } catch {
      /* damaged: none */
    }
    const ports: Unit['ports'] = [];
    if (state === 'running' && a[KANNOTATION.preview]) {
      try {
        const wanted = JSON.parse(a[KANNOTATION.preview] as string) as SandboxPlan['preview'];
        for (const p of wanted) {
          const got = await this.previews.ensure(pod.metadata?.name ?? '', p.containerPort, p.hostIp, p.hostPort);
          const host = got.hostIp.includes(':') ? `[${got.hostIp}]` : got.hostIp === '0.0.0.0' ? '127.0.0.1' : got.hostIp;
          ports.push({ containerPort: p.containerPort, url: `http://${host}:${got.hostPort}`, hostIp: got.hostIp, hostPort: got.hostPort });
        }
      } catch (err) {
        this.log?.warn({ err, pod: pod.metadata?.name }, 'preview forwarding failed');
      }
    }
    const l = pod.metadata?.labels ?? {};
    // Warden's own selection labels beside the plan's, verbatim from the record (the pod's may be
    // hashed to fit Kubernetes' rules), as every backend shows them: the core scopes by warden.instance
    labels = {
      ...labels,
      [LABEL.managed]: 'true',
      [LABEL.id]: record.id,
      [LABEL.instance]: record.instance,
      [LABEL.owner]: record.owner,
      [LABEL.lifetime]: l[KLABEL.lifetime] === 'persistent' ? 'persistent' : record.lifetime,
    };
    const startedAt = st?.state?.running?.startedAt ?? term?.startedAt;
    return {
      id: record.id,
      name: a[KANNOTATION.name] ?? record.id,
      ...(a[KANNOTATION.key] !== undefined ? { key: a[KANNOTATION.key] } : {}),
      state,
      record,
      labels,
      ...(startedAt ? { startedAt: new Date(startedAt).toISOString() } : {}),
      ...(term?.finishedAt ? { finishedAt: new Date(term.finishedAt).toISOString() } : {}),
      ...(term ? { exitCode: term.exitCode } : {}),
      ...(term?.reason === 'OOMKilled' ? { oomKilled: true } : {}),
      ports,
      ...(l[KLABEL.pool] !== undefined ? { pool: { id: a[KANNOTATION.pool] ?? l[KLABEL.pool] ?? '', ready: l[KLABEL.poolReady] === 'true' } } : {}),
      backendId: pod.metadata?.name ?? '',
      details: {
        namespace: pod.metadata?.namespace,
        pod: pod.metadata?.name,
        uid: pod.metadata?.uid,
        node: pod.spec?.nodeName,
        podIP: pod.status?.podIP,
        phase: pod.status?.phase,
        ...(pod.status?.reason ? { reason: pod.status.reason } : {}),
        ...(pod.status?.message ? { message: pod.status.message } : {}),
        ...(a[KANNOTATION.proxy] ? { proxy: a[KANNOTATION.proxy] } : {}),
        egress: a[KANNOTATION.egress],
        qosClass: pod.status?.qosClass,
        ...(pod.spec?.activeDeadlineSeconds ? { activeDeadlineSeconds: pod.spec.activeDeadlineSeconds } : {}),
        ...(term?.reason ? { terminatedReason: term.reason } : {}),
      },
    };
  }

  // ---------------------------------------------------------------- lifecycle

  async resume(): Promise<Unit> {
    throw new WardenError('UNSUPPORTED_ON_RUNTIME', "the kubernetes runtime cannot start a stopped pod again (capability 'resume'); ensure() makes a new unit instead", {
      details: { capability: 'resume' },
    });
  }

  /**
   * Graceful stop: SIGTERM to the guard's init (it sends SIGTERM to every process and ends when none
   * is left), up to `graceMs`; then every process is killed; the pod's deadline is the last resort
   * (the kubelet kills it, out of the workload's reach). The pod stays, stopped, until removed.
   */
  async stop(id: string, graceMs: number): Promise<void> {
    const pod = await this.requirePod(id);
    const name = pod.metadata?.name ?? '';
    await this.previews.close(name);
    if (isFinished(pod) || !isRunning(pod, CONTAINER.sandbox)) return;
    await this.guardSignal(name, ['--signal', 'TERM', '--init']);
    if (await this.finishedWithin(name, Math.max(0, graceMs))) return;
    await this.kill(id);
  }

  async kill(id: string): Promise<void> {
    const pod = await this.requirePod(id);
    const name = pod.metadata?.name ?? '';
    await this.previews.close(name);
    if (isFinished(pod) || !isRunning(pod, CONTAINER.sandbox)) {
      if (pod.status?.phase === 'Pending') await this.expire(pod);
      return;
    }
    await Promise.all([this.guardSignal(name, ['--signal', 'KILL']), this.guardSignal(name, ['--signal', 'TERM', '--init'])]);
    if (await this.finishedWithin(name, 5_000)) return;
    await this.expire(pod);
  }

  /** Ends a pod through its deadline: the kubelet kills it (TERM, 2 s, KILL), whatever runs inside. */
  private async expire(pod: V1Pod): Promise<void> {
    const name = pod.metadata?.name ?? '';
    const started = pod.status?.startTime ? new Date(pod.status.startTime).getTime() : Date.now();
    const seconds = Math.max(1, Math.ceil((Date.now() - started) / 1000));
    await orMissing(`ending pod ${name}`, () =>
      this.api.core.patchNamespacedPod({ name, namespace: this.namespace, body: { spec: { activeDeadlineSeconds: seconds } } }, KubeApi.mergePatch),
    );
    await this.finishedWithin(name, 60_000);
  }

  private async guardSignal(pod: string, args: string[]): Promise<void> {
    try {
      const ex = await openExec(this.api.kc, { namespace: this.namespace, pod, container: CONTAINER.sandbox, command: [GUARD, 'signal', ...args] });
      ex.stdout.resume();
      ex.stderr?.resume();
      await ex.exit;
    } catch (err) {
      this.log?.debug({ err, pod }, 'signal through the guard failed (the pod may be ending)');
    }
  }

  private async finishedWithin(name: string, ms: number): Promise<boolean> {
    try {
      await this.waitPod(name, `waiting for ${name} to end`, (p) => isFinished(p) || !isRunning(p, CONTAINER.sandbox), ms);
      return true;
    } catch (err) {
      return /was deleted/.test((err as Error).message);
    }
  }

  async remove(id: string): Promise<void> {
    const pod = await this.findPod({ id });
    this.owner.forget(id);
    if (pod) {
      const name = pod.metadata?.name ?? '';
      await this.previews.close(name);
      if (isRunning(pod, CONTAINER.sandbox)) await this.guardSignal(name, ['--signal', 'KILL']);
    }
    await this.removeObjects(id, pod?.metadata?.name);
  }

  /** Deletes every object of a unit (the pod and its dependents, without waiting for the garbage collector) and waits until no pod of it is left. */
  private async removeObjects(id: string, pod?: string): Promise<void> {
    const ns = this.namespace;
    const labelSelector = selector({ [KLABEL.managed]: 'true', [KLABEL.id]: labelValue(id) });
    await Promise.all([
      pod ? orMissing('', () => this.api.core.deleteNamespacedPod({ name: pod, namespace: ns, gracePeriodSeconds: 1 })) : undefined,
      this.deleteAll(labelSelector, 1),
    ]);
    await waitList<V1Pod>(this.api, `/api/v1/namespaces/${ns}/pods`, (sel) => this.api.core.listNamespacedPod({ namespace: ns, ...sel }), { labelSelector }, (items) => items.length === 0, {
      timeoutMs: 120_000,
      what: `removing sandbox ${id}`,
    });
  }

  /** Deletes every object of Warden's kinds matching a label selector; returns counts by kind. */
  private async deleteAll(labelSelector: string, grace: number): Promise<Record<string, number>> {
    const ns = this.namespace;
    const [pods, secrets, policies, leases] = await Promise.all([
      this.api.core.listNamespacedPod({ namespace: ns, labelSelector }),
      this.api.core.listNamespacedSecret({ namespace: ns, labelSelector }),
      this.api.net.listNamespacedNetworkPolicy({ namespace: ns, labelSelector }),
      this.api.coord.listNamespacedLease({ namespace: ns, labelSelector }),
    ]).catch((err: unknown) => {
      throw translate(err, 'listing objects to remove');
    });
    const del = (items: Array<{ metadata?: { name?: string } }>, fn: (name: string) => Promise<unknown>) =>
      Promise.all(items.map((o) => orMissing('', () => fn(o.metadata?.name ?? '')).catch(() => undefined)));
    await Promise.all([
      del(pods.items, (name) => this.api.core.deleteNamespacedPod({ name, namespace: ns, gracePeriodSeconds: grace })),
      del(secrets.items, (name) => this.api.core.deleteNamespacedSecret({ name, namespace: ns })),
      del(policies.items, (name) => this.api.net.deleteNamespacedNetworkPolicy({ name, namespace: ns })),
      del(leases.items, (name) => this.api.coord.deleteNamespacedLease({ name, namespace: ns })),
    ]);
    return { pod: pods.items.length, secret: secrets.items.length, networkpolicy: policies.items.length, lease: leases.items.length };
  }

  /** Drops the owner link's reference from a unit's pod (and its proxy): it no longer ends with this process. */
  private async unlinkUnit(id: string): Promise<void> {
    const pod = await this.findPod({ id });
    if (!pod) return;
    const keep = (pod.metadata?.ownerReferences ?? []).filter((r) => r.kind !== 'Job');
    const name = pod.metadata?.name ?? '';
    await call(`releasing ${id}`, () =>
      this.api.core.patchNamespacedPod(
        { name, namespace: this.namespace, body: { metadata: { ownerReferences: keep.length ? keep : null, labels: { [KLABEL.ownerLink]: null, [KLABEL.lifetime]: 'persistent' } } } },
        KubeApi.mergePatch,
      ),
    );
  }

  // ---------------------------------------------------------------- keys and pools

  async claim(memberId: string, key: string, owner: OwnerLink): Promise<Unit> {
    const pod = await this.findPod({ id: memberId });
    const l = pod?.metadata?.labels ?? {};
    if (!pod || l[KLABEL.pool] === undefined || l[KLABEL.poolReady] !== 'true' || !isRunning(pod, CONTAINER.sandbox) || pod.metadata?.deletionTimestamp) {
      throw new WardenError('SANDBOX_NOT_FOUND', `warm pool member ${memberId} is not available to claim (taken, not ready, or gone)`);
    }
    const record = parseRecord(pod.metadata?.annotations?.[KANNOTATION.record]);
    if (!record) throw new WardenError('ENGINE_ERROR', `pool member ${memberId} carries no readable record`);
    const ephemeral = record.lifetime === 'ephemeral';
    if (ephemeral && owner.link !== this.owner.link.link) throw new WardenError('INVALID_ARGUMENT', `a claim of an ephemeral member must be owned by this process's link (${this.owner.link.link})`);
    const name = keyedUnitName(key);
    const instance = record.instance;
    const po = podOwner(pod);
    const plan = { id: memberId, instance };
    const keyLock = keyLockName(keyHash(instance, key));
    const nameLock = nameLockName(nameHash(instance, name));
    const took: string[] = [];
    const undo = async (): Promise<void> => {
      await Promise.all(took.map((n) => orMissing('', () => this.api.coord.deleteNamespacedLease({ name: n, namespace: this.namespace })).catch(() => undefined)));
    };
    try {
      await this.lock(keyLock, plan, ROLE.keyLock, key, po, 'KEY_TAKEN');
      took.push(keyLock);
      await this.lock(nameLock, plan, ROLE.nameLock, name, po, 'NAME_CONFLICT');
      took.push(nameLock);
      const link = ephemeral ? await this.owner.ensure() : undefined;
      const oldName = pod.metadata?.annotations?.[KANNOTATION.name] ?? '';
      const newRecord = { ...record, key, owner: owner.owner };
      const owners = [...(pod.metadata?.ownerReferences ?? []).filter((r) => r.kind !== 'Job'), ...(link ? [link.ownerRef] : [])];
      // compare-and-swap on the pod: two claims of one member, one wins (the other's resourceVersion is stale)
      const body = (resourceVersion: string | undefined) => ({
        metadata: {
          resourceVersion,
          labels: {
            [KLABEL.pool]: null,
            [KLABEL.poolReady]: null,
            [KLABEL.keyHash]: keyHash(instance, key),
            [KLABEL.nameHash]: nameHash(instance, name),
            [KLABEL.owner]: labelValue(owner.owner),
            [KLABEL.ownerLink]: ephemeral ? labelValue(owner.link) : null,
          },
          annotations: { [KANNOTATION.key]: key, [KANNOTATION.name]: name, [KANNOTATION.record]: JSON.stringify(newRecord), [KANNOTATION.pool]: null },
          ownerReferences: owners.length ? owners : null,
        },
      });
      // A stale resourceVersion is also what any other change of the pod (the kubelet's status) gives:
      // read it again and retry while it is still an unclaimed member, so of two claims one wins
      let claimed: V1Pod | undefined;
      let current: V1Pod | undefined = pod;
      for (let attempt = 0; !claimed; attempt++) {
        const cl = current?.metadata?.labels ?? {};
        if (!current || current.metadata?.deletionTimestamp || cl[KLABEL.pool] === undefined || cl[KLABEL.poolReady] !== 'true' || attempt >= 8) {
          throw new WardenError('SANDBOX_NOT_FOUND', `warm pool member ${memberId} was claimed by someone else meanwhile`);
        }
        try {
          claimed = await this.api.core.patchNamespacedPod({ name: pod.metadata?.name ?? '', namespace: this.namespace, body: body(current.metadata?.resourceVersion) }, KubeApi.mergePatch);
        } catch (err) {
          if (isNotFound(err)) throw new WardenError('SANDBOX_NOT_FOUND', `warm pool member ${memberId} is gone`);
          if (!isConflict(err)) throw translate(err, `claiming ${memberId}`);
          current = await this.findPod({ id: memberId });
        }
      }
      if (link) {
        await link.attached;
        this.owner.add(memberId);
      }
      // the pool name is free again
      await orMissing('', () => this.api.coord.deleteNamespacedLease({ name: nameLockName(nameHash(instance, oldName)), namespace: this.namespace })).catch(() => undefined);
      return await this.toUnit(claimed);
    } catch (err) {
      await undo();
      throw translate(err, `claiming ${memberId}`);
    }
  }

  async markPoolReady(memberId: string): Promise<void> {
    const pod = await this.requirePod(memberId);
    if (pod.metadata?.labels?.[KLABEL.pool] === undefined) throw new WardenError('INVALID_ARGUMENT', `${memberId} is not a warm pool member`);
    await call(`marking ${memberId} ready`, () =>
      this.api.core.patchNamespacedPod({ name: pod.metadata?.name ?? '', namespace: this.namespace, body: { metadata: { labels: { [KLABEL.poolReady]: 'true' } } } }, KubeApi.mergePatch),
    );
  }

  // ---------------------------------------------------------------- exec

  private async runningPod(id: string): Promise<string> {
    const pod = await this.requirePod(id);
    if (!isRunning(pod, CONTAINER.sandbox)) {
      throw new WardenError('SANDBOX_NOT_RUNNING', `cannot run a command in ${id}: it is ${unitState(pod, CONTAINER.sandbox)}. Make a new one with ensure()`);
    }
    return pod.metadata?.name ?? '';
  }

  /** The exec user must be the guard's identity ('0:0'), which in a restricted pod is the workload user. */
  private checkUser(pod: string, user: string, record: { uid: number; gid: number } | undefined): void {
    if (user === '0:0' || (record && user === `${record.uid}:${record.gid}`) || (record && user === String(record.uid))) return;
    throw new WardenError('UNSUPPORTED_ON_RUNTIME', `the kubernetes runtime runs every command in ${pod} as the workload user ${record ? `${record.uid}:${record.gid}` : ''} (its exec API has no user option and the pod has no other identity); ${user} was asked for`, {
      details: { capability: 'guard' },
    });
  }

  async exec(id: string, req: ExecRequest): Promise<ExecHandle> {
    const pod = await this.requirePod(id);
    if (!isRunning(pod, CONTAINER.sandbox)) throw new WardenError('SANDBOX_NOT_RUNNING', `cannot run a command in ${id}: it is ${unitState(pod, CONTAINER.sandbox)}`);
    const name = pod.metadata?.name ?? '';
    this.checkUser(name, req.user, parseRecord(pod.metadata?.annotations?.[KANNOTATION.record])?.user);
    return podExec(this.api.kc, this.namespace, name, req);
  }

  async execDetached(id: string, req: Omit<ExecRequest, 'stdin' | 'tty'>): Promise<void> {
    const pod = await this.requirePod(id);
    if (!isRunning(pod, CONTAINER.sandbox)) throw new WardenError('SANDBOX_NOT_RUNNING', `cannot run a command in ${id}: it is ${unitState(pod, CONTAINER.sandbox)}`);
    const name = pod.metadata?.name ?? '';
    this.checkUser(name, req.user, parseRecord(pod.metadata?.annotations?.[KANNOTATION.record])?.user);
    await podExecDetached(this.api.kc, this.namespace, name, req);
  }

  // ---------------------------------------------------------------- logs and activity

  private async podLog(pod: string, container: string, tail?: number): Promise<string> {
    const res = await this.api.get(
      `/api/v1/namespaces/${this.namespace}/pods/${pod}/log?container=${container}${tail !== undefined ? `&tailLines=${tail}` : ''}`,
      `reading the log of ${pod}`,
    );
    const chunks: Buffer[] = [];
    for await (const c of res as AsyncIterable<Buffer>) chunks.push(c);
    return Buffer.concat(chunks).toString('utf8');
  }

  async logs(id: string, opts: { tail?: number; follow?: boolean }): Promise<Readable> {
    const pod = await this.requirePod(id);
    const q = new URLSearchParams({ container: CONTAINER.sandbox });
    if (opts.tail !== undefined) q.set('tailLines', String(Math.max(0, Math.floor(opts.tail))));
    if (opts.follow && !isFinished(pod)) q.set('follow', 'true');
    return this.api.get(`/api/v1/namespaces/${this.namespace}/pods/${pod.metadata?.name}/log?${q.toString()}`, `reading the log of ${id}`);
  }

  async egressLog(id: string): Promise<string> {
    const proxy = await orMissing('', () => this.api.core.readNamespacedPod({ name: proxyPodName(id), namespace: this.namespace }));
    if (!proxy) return '';
    return this.podLog(proxyPodName(id), CONTAINER.proxy).catch(() => '');
  }

  async previewActivity(id: string): Promise<{ at: number; open: number } | undefined> {
    return this.previews.lastActivity(podName(id));
  }

  // ---------------------------------------------------------------- cleaning

  async prune(sel: UnitSelector & { stopped?: boolean }): Promise<PruneResult> {
    const t0 = Date.now();
    const out: PruneResult = { sandboxes: [], other: [], errors: [], durationMs: 0 };
    if (sel.stopped) {
      const units = (await this.list(sel)).filter((u) => u.state === 'stopped' || u.state === 'failed');
      await Promise.all(
        units.map((u) =>
          this.remove(u.id).then(
            () => out.sandboxes.push(u.id),
            (err: Error) => out.errors.push(`${u.id}: ${err.message}`),
          ),
        ),
      );
    }
    // companions whose unit is gone (a creator that died between its first object and its pod)
    const ns = this.namespace;
    const base = { [KLABEL.managed]: 'true', ...(sel.instance !== '*' ? { [KLABEL.instance]: labelValue(sel.instance) } : {}) };
    const [pods, secrets, policies, leases, jobs] = await Promise.all([
      this.api.core.listNamespacedPod({ namespace: ns, labelSelector: selector(base) }),
      this.api.core.listNamespacedSecret({ namespace: ns, labelSelector: selector(base) }),
      this.api.net.listNamespacedNetworkPolicy({ namespace: ns, labelSelector: selector(base) }),
      this.api.coord.listNamespacedLease({ namespace: ns, labelSelector: selector(base) }),
      this.api.batch.listNamespacedJob({ namespace: ns, labelSelector: selector({ ...base, [KLABEL.role]: ROLE.link }) }),
    ]).catch((err: unknown) => {
      throw translate(err, 'listing objects to prune');
    });
    const units = new Set(pods.items.filter((p) => p.metadata?.labels?.[KLABEL.role] === ROLE.sandbox).map((p) => p.metadata?.labels?.[KLABEL.id]));
    const old = (o: { metadata?: { creationTimestamp?: Date } }) => Date.now() - new Date(o.metadata?.creationTimestamp ?? Date.now()).getTime() > ORPHAN_AGE_MS;
    const orphan = (o: { metadata?: { labels?: Record<string, string>; creationTimestamp?: Date } }) => {
      const id = o.metadata?.labels?.[KLABEL.id];
      return id !== undefined && !units.has(id) && o.metadata?.labels?.[KLABEL.role] !== ROLE.sandbox && old(o);
    };
    const del = async (kind: string, items: Array<{ metadata?: { name?: string } }>, fn: (n: string) => Promise<unknown>): Promise<void> => {
      await Promise.all(
        items.map((o) =>
          orMissing('', () => fn(o.metadata?.name ?? '')).then(
            () => out.other.push(`${kind} ${o.metadata?.name}`),
            (err: Error) => out.errors.push(`${kind} ${o.metadata?.name}: ${err.message}`),
          ),
        ),
      );
    };
    // a pod stuck before its start (its creator died, its secret never came) is a leftover too
    const stuck = pods.items.filter((p) => p.metadata?.labels?.[KLABEL.role] === ROLE.sandbox && unitState(p, CONTAINER.sandbox) === 'creating' && old(p) && Date.now() - new Date(p.metadata?.creationTimestamp ?? 0).getTime() > 10 * ORPHAN_AGE_MS);
    // finished link Jobs the TTL controller has not deleted (a cluster without it)
    const deadLinks = jobs.items.filter((j) => (j.status?.succeeded ?? 0) + (j.status?.failed ?? 0) > 0);
    await Promise.all([
      del('pod', [...pods.items.filter(orphan), ...stuck], (n) => this.api.core.deleteNamespacedPod({ name: n, namespace: ns, gracePeriodSeconds: 0 })),
      del('secret', secrets.items.filter(orphan), (n) => this.api.core.deleteNamespacedSecret({ name: n, namespace: ns })),
      del('networkpolicy', policies.items.filter(orphan), (n) => this.api.net.deleteNamespacedNetworkPolicy({ name: n, namespace: ns })),
      del('lease', leases.items.filter(orphan), (n) => this.api.coord.deleteNamespacedLease({ name: n, namespace: ns })),
      del('job', deadLinks, (n) => this.api.batch.deleteNamespacedJob({ name: n, namespace: ns, propagationPolicy: 'Background' })),
    ]);
    out.durationMs = Date.now() - t0;
    return out;
  }

  /**
   * Every unit matching the selector and everything made for it, deleted now without grace (the
   * kubelet kills the containers), in parallel; resolves once no pod of them is left. With instance
   * '*' Warden's helpers go too: owner links (their units first) and the namespace's canary.
   */
  async panic(sel: UnitSelector): Promise<PanicResult> {
    const t0 = Date.now();
    const units = await this.list(sel);
    const errors: string[] = [];
    const removed: Record<string, number> = {};
    const add = (counts: Record<string, number>) => {
      for (const [k, v] of Object.entries(counts)) removed[k] = (removed[k] ?? 0) + v;
    };
    await Promise.all(
      units.map((u) =>
        this.deleteAll(selector({ [KLABEL.managed]: 'true', [KLABEL.id]: labelValue(u.id) }), 0).then(add, (err: Error) => errors.push(`${u.id}: ${err.message}`)),
      ),
    );
    for (const u of units) this.owner.forget(u.id);
    if (sel.instance === '*' && !sel.owner && !sel.key && !sel.labels && sel.pool === undefined) {
      const jobs = await this.api.batch.listNamespacedJob({ namespace: this.namespace, labelSelector: selector({ [KLABEL.managed]: 'true', [KLABEL.role]: ROLE.link }) }).catch(() => ({ items: [] }));
      await Promise.all(jobs.items.map((j) => orMissing('', () => this.api.batch.deleteNamespacedJob({ name: j.metadata?.name ?? '', namespace: this.namespace, propagationPolicy: 'Background', gracePeriodSeconds: 0 })).catch(() => undefined)));
      if (jobs.items.length) removed.job = (removed.job ?? 0) + jobs.items.length;
      const canary = await orMissing('', () => this.api.core.deleteNamespacedPod({ name: CANARY_NAME, namespace: this.namespace, gracePeriodSeconds: 0 })).catch(() => undefined);
      if (canary) removed.pod = (removed.pod ?? 0) + 1;
      this.owner.close();
    }
    const ids = new Set(units.map((u) => labelValue(u.id)));
    let left = 0;
    try {
      await waitList<V1Pod>(
        this.api,
        `/api/v1/namespaces/${this.namespace}/pods`,
        (s) => this.api.core.listNamespacedPod({ namespace: this.namespace, ...s }),
        { labelSelector: selector({ [KLABEL.managed]: 'true' }) },
        (pods) => {
          left = pods.filter((p) => ids.has(p.metadata?.labels?.[KLABEL.id] ?? '') && p.metadata?.labels?.[KLABEL.role] === ROLE.sandbox).length;
          return pods.every((p) => !ids.has(p.metadata?.labels?.[KLABEL.id] ?? ''));
        },
        { timeoutMs: 60_000, what: 'panic: waiting for the pods to go' },
      );
      left = 0;
    } catch (err) {
      errors.push((err as Error).message);
    }
    const other = Object.entries(removed).reduce((n, [k, v]) => n + (k === 'pod' ? Math.max(0, v - units.length) : v), 0);
    return { sandboxes: units.length, other, removed, left, errors, durationMs: Date.now() - t0 };
  }

  /** Releases this process's resources (preview listeners, the link's stream: its units end). */
  async close(): Promise<void> {
    await this.previews.closeAll();
    // releases still in flight first: closing the link before a unit left it would end that unit
    await this.owner.settled();
    this.owner.close();
  }

  /** The labels a test or a caller can select every object of one unit by (for leftovers checks). */
  static unitSelector(id: string): string {
    return selector({ [KLABEL.managed]: 'true', [KLABEL.id]: labelValue(id) });
  }
}

const HINTS: Record<string, string> = {
  hostMounts: 'pods under the "restricted" profile cannot mount host paths; put files in with the files API instead',
  workspaceVolume: 'the workspace is a memory volume that lives as long as the pod',
  gvisor: 'use a RuntimeClass-enabled cluster (not supported by Warden yet)',
};

function readCa(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new WardenError('INVALID_SPEC', `cannot read the egress CA bundle ${path}: ${(err as Error).message}`, { cause: err });
  }
}

function parseQuantity(q: string): number {
  const m = /^([0-9.]+)([A-Za-z]*)$/.exec(q.trim());
  if (!m) return 0;
  const n = Number(m[1]);
  const units: Record<string, number> = { '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4, m: 1e-3 };
  return Math.floor(n * (units[m[2] ?? ''] ?? 1));
}

function parseCpu(q: string): number {
  return q.endsWith('m') ? Number(q.slice(0, -1)) / 1000 : Number(q);
}

