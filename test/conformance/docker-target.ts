import Docker from 'dockerode';
import { runtimeSettingsFromEnv } from '../../src/config/runtime.js';
import { wardenImage } from '../../src/images/catalog.js';
import { createLogger } from '../../src/log.js';
import { createRuntime } from '../../src/runtime/select.js';
import type { ConformanceTarget } from './target.js';

const RELEASE = "the owner link is the unit's attached stdin: closing it is the guard's EOF, so a released link ends the unit";

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
            releaseKeepsUnits: RELEASE,
            noNewPrivsVisible: "gVisor's /proc/self/status reads NoNewPrivs 0 and Seccomp 0 inside (the sentry applies them on the host)",
            subreaper: 'gVisor implements no child subreapers: a setsid child without the exec mark escapes its exec\'s timeout (not stop, kill, max runtime or the reaper); docs/ARCHITECTURE.md, gVisor',
            guardTty: "under gVisor the guard's holder cannot make the exec's terminal the command's controlling terminal (TIOCSCTTY: Inappropriate ioctl); Warden's terminal sessions use their own pty holder",
            seccompInside: "runsc applies no OCI seccomp profile inside the sandbox (no --oci-seccomp): the workload's calls go to the sentry, a user-space kernel, whose own filter guards the host",
            processOom: 'under gVisor the memory cap covers the sentry and all its tasks: going over it ends the whole unit, not one process',
          }
        : { releaseKeepsUnits: RELEASE },
  };
}
