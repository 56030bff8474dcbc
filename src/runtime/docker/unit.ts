import { setTimeout as sleep } from 'node:timers/promises';
import { WardenError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { LABEL } from '../../policy/labels.js';
import { PATHS } from '../../policy/compile.js';
import type { SandboxPlan } from '../sandbox-runtime.js';
import type { DockerEngine } from './engine.js';
import type { EngineContainer, PortBinding } from './engine-types.js';
import { createEgress, findProxy, removeEgress } from './egress.js';
import { createPreview, findPreview, forwarderPorts, removePreview } from './preview.js';
import { sharedNetworkId } from './shared-network.js';
import { SANDBOX_ALIAS, sandboxContainerSpec, seedHelperLabels, workspaceVolumeLabels, workspaceVolumeName } from './sandbox-container.js';

/** Warden's own bridge for network 'open': inter-container traffic off, so open sandboxes cannot reach each other. */
export const OPEN_NETWORK = 'warden-open';

/** What making a unit needs from the runtime around it. */
export interface UnitDeps {
  engine: DockerEngine;
  log: Logger;
  /** The /16 sandbox networks come from. */
  subnetPool: string;
  /** The engine volume with the guard (seeded once per guest image). */
  guestVolume(): Promise<string>;
  /** This process's reaper, before anything of an ephemeral unit exists. */
  armReaper(plan: SandboxPlan): Promise<void>;
  /** The OCI runtime a plan runs with ('runsc' for gVisor), after checking the engine has it. */
  ociRuntime(plan: SandboxPlan): Promise<string | undefined>;
}

/**
 * Make a whole unit, all or nothing: the reaper (ephemeral), the guest volume, the network ('open':
 * warden-open; 'allowlist': its own /28 and its proxy), the workspace volume seeded from the image
 * while egress is made, the sandbox container and, in parallel, its preview forwarder. Resolves once
 * the sandbox runs and its proxy listens; on any failure everything it made is removed.
 */
export async function createUnit(d: UnitDeps, plan: SandboxPlan, containerName: string): Promise<{ container: EngineContainer; ports: PortBinding[] }> {
  const runtime = await d.ociRuntime(plan);
  const egressPlan = plan.egress.mode === 'allowlist' ? (plan as SandboxPlan & { egress: Extract<SandboxPlan['egress'], { mode: 'allowlist' }> }) : undefined;
  // the reaper first: nothing of an ephemeral sandbox exists before something removes it when this process dies
  const [guestVolume, openNetwork] = await Promise.all([
    d.guestVolume(),
    plan.egress.mode === 'open' ? sharedNetworkId(d.engine, { name: OPEN_NETWORK, internal: false, icc: false, labels: { ...plan.labels, [LABEL.role]: 'open-network' } }) : undefined,
    plan.lifetime === 'ephemeral' ? d.armReaper(plan) : undefined,
  ]);
  // a new workspace volume is seeded from the image (seconds for a template's node_modules) while the
  // egress network and proxy are made
  const seeded =
    plan.workspace.kind === 'volume'
      ? d.engine.seedVolume({ name: workspaceVolumeName(plan.id), image: plan.image, target: PATHS.workspace, labels: workspaceVolumeLabels(plan), helperLabels: seedHelperLabels(plan) })
      : Promise.resolve(false);
  seeded.catch(() => undefined); // awaited below; no unhandled rejection while egress is made
  const undo = async (): Promise<void> => {
    await removePreview(d.engine, plan.id).catch(() => undefined); // before the network it is attached to
    await removeEgress(d.engine, plan.id).catch(() => undefined);
    // only a volume this call made (a failed seed means it was new): a kept workspace (refresh, resume by recreation) is never lost to a failed create
    if (await seeded.then((made) => made, () => true)) await d.engine.removeVolume(workspaceVolumeName(plan.id)).catch(() => undefined);
  };
  let egress: { network: string; proxyUrl: string; ready: Promise<void> } | undefined;
  try {
    egress = egressPlan ? await createEgress(d.engine, { plan: egressPlan, subnetPool: d.subnetPool }) : undefined;
    await seeded;
  } catch (err) {
    await seeded.catch(() => undefined); // settled before the volume is removed
    await undo();
    throw err;
  }
  // an allowlisted sandbox's ports are published by its preview forwarder, made alongside it
  const preview = egress && plan.preview.length > 0 ? createPreview(d.engine, { plan, target: SANDBOX_ALIAS, network: egress.network }) : undefined;
  const spec = sandboxContainerSpec(plan, {
    containerName,
    guestVolume,
    ...(egress ? { egress: { network: egress.network, proxyUrl: egress.proxyUrl } } : {}),
    ...(openNetwork ? { openNetwork } : {}),
    ...(runtime ? { runtime } : {}),
  });
  const made = await Promise.allSettled([d.engine.create(spec), preview, egress?.ready]);
  const failed = made.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (made[0].status === 'fulfilled' && !failed) {
    const forwarder = made[1].status === 'fulfilled' ? made[1].value : undefined;
    return { container: made[0].value, ports: forwarder ? forwarder.ports : made[0].value.ports };
  }
  if (made[0].status === 'fulfilled') await d.engine.remove(made[0].value.id, { force: true }).catch(() => undefined);
  await undo();
  throw (failed as PromiseRejectedResult).reason;
}

/** Remove a unit's sandbox container and everything made for it (the workspace volume unless kept). Safe twice. */
export async function removeUnit(engine: DockerEngine, id: string, containerIds: string[], opts: { keepWorkspace?: boolean } = {}): Promise<void> {
  await Promise.all(containerIds.map((c) => engine.remove(c, { force: true })));
  await removePreview(engine, id); // before the network it is attached to
  await removeEgress(engine, id);
  if (!opts.keepWorkspace) await engine.removeVolume(workspaceVolumeName(id));
}

/**
 * Graceful stop: the engine sends SIGTERM to PID 1, the guard, which sends SIGTERM to every process and
 * ends once none is left; the engine SIGKILLs it (and with it the whole sandbox) when the grace runs
 * out. The companions stop after it.
 */
export async function stopUnit(engine: DockerEngine, id: string, containerId: string, graceMs: number): Promise<void> {
  await engine.stop(containerId, graceMs);
  const [proxy, preview] = await Promise.all([findProxy(engine, id), findPreview(engine, id)]);
  await Promise.all([proxy && engine.stop(proxy.id, 0), preview && engine.stop(preview.id, 0)]);
}

/** SIGKILL to the sandbox and its companions; resolves once the sandbox no longer runs. */
export async function killUnit(engine: DockerEngine, id: string, containerId: string, timeoutMs = 15_000): Promise<void> {
  await engine.kill(containerId, 'SIGKILL');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const c = await engine.inspect(containerId);
    if (!c || c.state !== 'running') break;
    if (Date.now() > deadline) throw new WardenError('ENGINE_ERROR', `container ${containerId} was killed but still reports running after ${timeoutMs} ms`);
    await sleep(50);
  }
  const [proxy, preview] = await Promise.all([findProxy(engine, id), findPreview(engine, id)]);
  await Promise.all([proxy && engine.kill(proxy.id, 'SIGKILL'), preview && engine.kill(preview.id, 'SIGKILL')]);
}

/** Start a stopped unit again: its proxy first, then the sandbox, then its forwarder, each relinked to this process when tied. */
export async function resumeUnit(engine: DockerEngine, id: string, containerId: string, tied: boolean): Promise<void> {
  const proxy = await findProxy(engine, id);
  if (proxy) await engine.start(proxy.id, { tiedToOwner: tied, unit: { unit: id, sandbox: false } });
  await engine.start(containerId, { tiedToOwner: tied, unit: { unit: id, sandbox: true } });
  const preview = await findPreview(engine, id);
  if (preview) await engine.start(preview.id, { tiedToOwner: tied, unit: { unit: id, sandbox: false } });
}

/**
 * The host ports through which a sandbox is reached: its own (network 'open') or its forwarder's
 * (network 'allowlist'; none while the forwarder is stopped).
 */
export async function reachablePorts(engine: DockerEngine, c: EngineContainer, network: unknown, hasPorts: boolean): Promise<PortBinding[]> {
  if (c.ports.length > 0 || network !== 'allowlist' || !hasPorts) return c.ports;
  const id = c.labels[LABEL.id];
  return id ? forwarderPorts(engine, id) : [];
}
