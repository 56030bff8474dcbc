import { OFFLINE_BASE, PUBLIC_BASE } from '../../images/catalog.js';
import type { RuntimeCheck } from '../sandbox-runtime.js';
import type { DockerEngine } from './engine.js';

/** `warden doctor`'s Docker checks: cgroups and storage, runtimes, the base image, what the host exposes to sandbox networks. */
export async function diagnoseDocker(engine: DockerEngine): Promise<RuntimeCheck[]> {
  const info = await engine.info();
  const checks: RuntimeCheck[] = [];
  checks.push({ name: 'cgroups', ok: true, detail: `cgroup v${info.cgroupVersion}, storage ${info.storageDriver}, ${info.cpus} CPUs, ${(info.memoryBytes / 1024 ** 3).toFixed(1)} GiB` });
  checks.push({
    name: 'disk-quota',
    ok: true,
    optional: true,
    detail: info.storageDriver === 'overlay2' ? 'overlay2: no per-container root quota; Warden uses a read-only root and size-capped tmpfs' : `storage driver ${info.storageDriver}`,
  });
  checks.push({ name: 'runtime:runc', ok: info.runtimes.includes('runc'), detail: `runtimes: ${info.runtimes.join(', ')} (default ${info.defaultRuntime})` });
  checks.push({
    name: 'runtime:runsc',
    ok: info.runtimes.includes('runsc'),
    optional: true,
    detail: info.runtimes.includes('runsc') ? 'gVisor available (--runtime runsc)' : 'gVisor not registered (optional)',
    hint: 'apt-get install runsc, then add {"runtimes":{"runsc":{"path":"/usr/bin/runsc","runtimeArgs":["--network=none"]}}} to /etc/docker/daemon.json and restart dockerd',
  });
  const base = (await engine.imageExists(PUBLIC_BASE)) ? PUBLIC_BASE : (await engine.imageExists(OFFLINE_BASE)) ? OFFLINE_BASE : undefined;
  checks.push({ name: 'base-image', ok: base !== undefined, optional: true, detail: base ? `${base} present` : 'no local base image', hint: 'warden images bootstrap builds one without a registry' });
  const nets = (await engine.listNetworks({ 'warden.role': 'network' })).filter((n) => !n.noHostAddress || !n.internal);
  checks.push({
    name: 'host-services',
    ok: nets.length === 0,
    detail:
      nets.length === 0
        ? 'closed: allowlisted sandboxes sit on internal networks where the host has no address (no gateway to its services)'
        : `open on ${nets.map((n) => n.name).join(', ')}: the host has an address there`,
    hint: 'remove those networks (warden panic, or warden rm of their sandboxes); Warden creates sandbox networks with com.docker.network.bridge.inhibit_ipv4',
  });
  checks.push({
    name: 'network:open',
    ok: true,
    optional: true,
    detail:
      "sandboxes with network 'open' sit on warden-open, a bridge with inter-container traffic off: they cannot reach each other, but they reach every destination the host can, the host's own services included (anything listening on the bridge's gateway or on 0.0.0.0). Use 'allowlist' (with ports published by a preview forwarder) unless a sandbox needs that.",
    hint: 'to shut host services off from open sandboxes, drop input from the warden-open bridge on the host firewall except established connections',
  });
  return checks;
}
