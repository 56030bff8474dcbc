import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { KLABEL, ROLE } from '../../../src/runtime/kubernetes/names.js';
import { listUnitObjects } from '../support/kube.js';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * Host processes whose command line is exactly `argv` (a pod's processes are this machine's processes:
 * a unique `sleep N` started in a unit is found here whichever container runtime state it is in).
 */
export function hostProcesses(argv: string[]): number[] {
  const want = `${argv.join('\0')}\0`;
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (readFileSync(`/proc/${p}/cmdline`, 'latin1') === want) out.push(Number(p));
    } catch {
      /* gone meanwhile */
    }
  }
  return out;
}

/**
 * Everything of Warden's kinds in the namespace (pods, Secrets, NetworkPolicies, Leases, Jobs) with
 * Warden's managed label, but for the namespace's NetworkPolicy canary (one per namespace, the target
 * every new pod must fail to reach: kept by design, it goes with the namespace).
 */
export function wardenObjects(namespace: string, extra = ''): Promise<string[]> {
  return listUnitObjects(namespace, `${KLABEL.managed}=true,${KLABEL.role}!=${ROLE.canary}${extra ? `,${extra}` : ''}`);
}

/** The pid of the local cluster's containerd (scripts/lib/kube/env.sh finds it by its config), or undefined. */
export function clusterContainerdPid(): number | undefined {
  const out = execFileSync('bash', ['-c', '. scripts/lib/kube/env.sh && kube_daemon_pid containerd'], { cwd: ROOT, encoding: 'utf8' }).trim();
  return out ? Number(out) : undefined;
}

/** Starts what of the local cluster is not running (scripts/kube-up.sh is idempotent). */
export function kubeUp(): void {
  execFileSync('bash', ['scripts/kube-up.sh'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
}

/** Rejects after `ms` with `what`: a call that must not hang is raced against it. */
export function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms (it hangs)`)), ms)))]).finally(() => clearTimeout(timer));
}
