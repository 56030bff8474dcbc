import Docker from 'dockerode';
import { runtimeSettingsFromEnv } from '../../src/config/runtime.js';
import { wardenImage } from '../../src/images/catalog.js';
import { createLogger } from '../../src/log.js';
import { createRuntime } from '../../src/runtime/select.js';
import type { ConformanceTarget } from './target.js';

/**
 * The Docker backend on this machine's engine: runc (WARDEN_RUNTIME=docker) or every unit under
 * gVisor's runsc (WARDEN_RUNTIME=gvisor). The runtime is made by the production factory from the
 * environment (WARDEN_SUBNET_POOL, DOCKER_HOST), labelled with this run's instance.
 */
export function dockerTarget(kind: 'docker' | 'gvisor'): ConformanceTarget {
  const instance = process.env.WARDEN_CONFORMANCE_INSTANCE;
  if (!instance) throw new Error('WARDEN_CONFORMANCE_INSTANCE is not set: run through npm run test:conformance (its global setup builds the images and names the run)');
  return {
    kind,
    where: kind === 'gvisor' ? 'on Docker with gVisor (runsc)' : 'on Docker (runc)',
    instance,
    image: wardenImage('sandbox'),
    make: () => createRuntime({ ...runtimeSettingsFromEnv(), kind, logger: createLogger('warn'), labels: { 'warden.instance': instance }, owner: 'conformance@test' }),
    childEnv: () => Object.fromEntries(Object.entries(process.env).filter(([k]) => /^(WARDEN_|DOCKER_HOST$)/.test(k)).map(([k, v]) => [k, v ?? ''])),
    leftovers: async (id) => {
      const docker = new Docker();
      const filters = { label: [`warden.id=${id}`] };
      const [cs, ns, vs] = await Promise.all([docker.listContainers({ all: true, filters }), docker.listNetworks({ filters }), docker.listVolumes({ filters })]);
      return [...cs.map((c) => `container ${c.Names?.[0] ?? c.Id}`), ...ns.map((n) => `network ${n.Name}`), ...(vs.Volumes ?? []).map((v) => `volume ${v.Name}`)];
    },
    limits:
      kind === 'gvisor'
        ? {
            noNewPrivsVisible: "gVisor's /proc/self/status reads NoNewPrivs 0 inside (the sentry applies it on the host)",
            releaseKeepsUnits: "the owner link is the unit's attached stdin: closing it is the guard's EOF, so a released link ends the unit",
          }
        : { releaseKeepsUnits: "the owner link is the unit's attached stdin: closing it is the guard's EOF, so a released link ends the unit" },
  };
}
