import { readdir, readFile } from 'node:fs/promises';

/**
 * A failed start under some OCI runtimes (gVisor's runsc, seen on engine 20.10) can leave the task's
 * containerd shim, with runsc's sandbox and gofer under it, alive after the container is gone:
 * `docker rm` does not clean them. When Warden runs on the engine's host as root it can: this finds
 * moby shims whose container id the engine no longer knows, and kills them with their children.
 */
export interface OrphanShim { pid: number; containerId: string }

const SHIM = /containerd-shim[^\s]*\s.*-namespace moby\s.*-id ([0-9a-f]{64})/;

async function cmdline(pid: string): Promise<string> {
  return (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).replace(/\0/g, ' ').trim();
}

/** Moby shims on this host (needs /proc of the engine's host, so only when Warden runs there). */
export async function listShims(): Promise<OrphanShim[]> {
  const out: OrphanShim[] = [];
  for (const pid of (await readdir('/proc').catch(() => [] as string[])).filter((p) => /^\d+$/.test(p))) {
    const m = SHIM.exec(await cmdline(pid));
    if (m) out.push({ pid: Number(pid), containerId: m[1]! });
  }
  return out;
}

/** Children (recursively) of a process, from /proc/<pid>/stat. */
async function descendants(root: number): Promise<number[]> {
  const parent = new Map<number, number>();
  for (const pid of (await readdir('/proc').catch(() => [] as string[])).filter((p) => /^\d+$/.test(p))) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    parent.set(Number(pid), Number(fields[1]));
  }
  const out: number[] = [];
  const walk = (p: number): void => {
    for (const [child, pp] of parent) if (pp === p) (out.push(child), walk(child));
  };
  walk(root);
  return out;
}

/**
 * Kill the shims (and what runs under them) of containers `isKnown` says the engine no longer has.
 * `only` narrows it to given container ids. Returns what was killed. A no-op where /proc is not the
 * engine host's, or without the rights to signal them.
 */
export async function reapOrphanShims(isKnown: (id: string) => Promise<boolean>, only?: string[]): Promise<OrphanShim[]> {
  const reaped: OrphanShim[] = [];
  for (const shim of await listShims()) {
    if (only && !only.some((id) => shim.containerId.startsWith(id))) continue;
    if (await isKnown(shim.containerId)) continue;
    // freeze the shim first, then its descendants, then kill them all: killed one by one, a parent could
    // see its children die and exit on its own, or fork new ones, in between
    const pids = [shim.pid, ...(await descendants(shim.pid))];
    for (const sig of ['SIGSTOP', 'SIGKILL'] as const) {
      for (const pid of pids) {
        try {
          process.kill(pid, sig);
        } catch {
          /* gone already, or not ours to kill */
        }
      }
    }
    reaped.push(shim);
  }
  return reaped;
}
