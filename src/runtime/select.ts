import { imageSettingsFromEnv, type RuntimeSettings } from '../config/runtime.js';
import { WardenError } from '../errors.js';
import type { ImageStore } from '../images/store.js';
import type { Logger } from '../log.js';
import { createAciRuntime } from './aci/index.js';
import { connectDocker } from './docker/engine.js';
import { DockerSandboxRuntime } from './docker/docker-sandbox-runtime.js';
import { DockerImageStore } from './docker/images.js';
import { KubernetesImageStore } from './docker/kube-images.js';
import { LazyKubernetesRuntime } from './kubernetes/lazy.js';
import { kubernetesOptionsFromEnv } from './kubernetes/options.js';
import { MemoryRuntime } from './memory/memory-runtime.js';
import type { SandboxRuntime } from './sandbox-runtime.js';

export interface CreateRuntimeOptions extends Partial<RuntimeSettings> {
  logger: Logger;
  /** Labels on what the runtime makes for no one sandbox (its reaper): the Warden's own (a tenant, a test run). */
  labels?: Record<string, string>;
  /** The owner's name for this process's link. */
  owner?: string;
}

/**
 * The backend for a kind (the runtime factory): `docker` (default), `gvisor` (Docker with every sandbox
 * under runsc), `aci` (Azure Container Instances, docs/ACI.md), `memory` (in-process units for the unit tier). Settings come from the edge
 * (config/runtime.ts reads WARDEN_RUNTIME and friends); nothing here reads the environment.
 */
export function createRuntime(o: CreateRuntimeOptions): SandboxRuntime {
  const kind = o.kind ?? 'docker';
  switch (kind) {
    case 'docker':
    case 'gvisor':
      return new DockerSandboxRuntime({
        kind,
        logger: o.logger,
        ...(o.subnetPool ? { subnetPool: o.subnetPool } : {}),
        ...(o.engineSocketHost ? { engineSocketHost: o.engineSocketHost } : {}),
        ...(o.labels ? { labels: o.labels } : {}),
        ...(o.owner ? { owner: o.owner } : {}),
      });
    case 'kubernetes': {
      // the instance is the Warden's own (its label), the rest from the edge's KUBECONFIG / WARDEN_KUBE_*
      const instance = o.labels?.['warden.instance'];
      const opts = kubernetesOptionsFromEnv(o.kubernetesEnv ?? {}, { ...(instance ? { instance } : {}), ...(o.owner ? { owner: o.owner } : {}) });
      return new LazyKubernetesRuntime(opts, o.logger); // its client library loads on first use (Node >= 22.19 from npm)
    }
    case 'aci':
      // settings from WARDEN_ACI_* or $WARDEN_HOME/aci.json (config/aci.ts: the one edge that reads them);
      // the Azure SDK itself loads at the first ARM call
      return createAciRuntime({ instance: o.labels?.['warden.instance'] ?? 'default', ...(o.owner ? { owner: o.owner } : {}), log: o.logger });
    case 'memory':
      return new MemoryRuntime({ ...(o.owner ? { owner: o.owner } : {}) });
    default:
      throw new WardenError('INVALID_ARGUMENT', `no runtime '${String(kind)}'; use docker, gvisor, kubernetes, aci or memory`);
  }
}

/**
 * Where Warden's images are built for a kind: Docker's engine for docker, gvisor and aci (whose ACI
 * variants are then pushed to the registry: `warden images aci`); for kubernetes built there too, then
 * loaded into the local cluster's node (scripts/kube-up.sh) when it is on this machine.
 */
export function createImageStore(o: { kind?: RuntimeSettings['kind']; logger: Logger; env?: NodeJS.ProcessEnv }): ImageStore {
  const kind = o.kind ?? 'docker';
  if (kind !== 'docker' && kind !== 'gvisor' && kind !== 'kubernetes' && kind !== 'aci') {
    throw new WardenError('UNSUPPORTED_ON_RUNTIME', `runtime '${kind}' keeps no images Warden builds; images are built for docker, gvisor, kubernetes and aci (on this machine's engine)`);
  }
  const docker = new DockerImageStore(connectDocker(), o.logger, imageSettingsFromEnv(o.env));
  return kind === 'kubernetes' ? new KubernetesImageStore(docker, connectDocker()) : docker;
}
