import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { WardenError } from '../../errors.js';
import { wardenSeccompProfile } from '../../policy/seccomp.js';
import { seccompProfilePath } from './manifests.js';
import { normalizeImage } from './names.js';

const run = promisify(execFile);

/**
 * A node Warden can reach directly: the local cluster of scripts/kube-up.sh (its own containerd, its
 * kubelet's directory). A real cluster's nodes pull from a registry instead; Warden then only needs
 * its images pushed there and its seccomp profile installed on the nodes.
 */
export interface LocalNode {
  /** containerd's socket (the cluster's own, not Docker's). */
  containerdSocket: string;
  /** The kubelet's --root-dir (its seccomp profiles live in `<root>/seccomp`). */
  kubeletRoot: string;
  /** The `ctr` binary (Debian's containerd package). */
  ctr: string;
}

export const LOCAL_NODE: LocalNode = {
  containerdSocket: process.env.WARDEN_KUBE_CONTAINERD ?? '/run/warden-kube/containerd/containerd.sock',
  kubeletRoot: process.env.WARDEN_KUBE_KUBELET_ROOT ?? '/var/lib/warden-kube/kubelet',
  ctr: 'ctr',
};

/** Docker's side of a load: the image's id and its `docker save` stream. */
export type ImageSaver = (ref: string) => Promise<{ id: string; stream: () => Promise<NodeJS.ReadableStream> }>;

function ctrArgs(node: LocalNode, ...args: string[]): string[] {
  return ['--address', node.containerdSocket, '--namespace', 'k8s.io', ...args];
}

/** Whether the local node answers (its containerd socket exists). */
export function localNodePresent(node: LocalNode = LOCAL_NODE): boolean {
  return existsSync(node.containerdSocket);
}

/**
 * Loads images from Docker into the local node's containerd (namespace k8s.io), skipping those it
 * holds already (each loaded image is labelled with the Docker image id it came from), as
 * scripts/lib/kube/images.sh does. Returns what happened per image.
 */
export async function loadImages(save: ImageSaver, refs: string[], node: LocalNode = LOCAL_NODE, progress?: (line: string) => void): Promise<Array<{ ref: string; name: string; loaded: boolean }>> {
  if (!localNodePresent(node)) {
    throw new WardenError('ENGINE_UNAVAILABLE', `the local cluster's containerd does not answer at ${node.containerdSocket}: start it with bash scripts/kube-up.sh (a remote cluster pulls Warden's images from a registry instead)`);
  }
  const out: Array<{ ref: string; name: string; loaded: boolean }> = [];
  for (const ref of refs) {
    const { id, stream } = await save(ref);
    const dockerId = id.replace(/^sha256:/, '');
    const name = normalizeImage(ref);
    const have = await run(node.ctr, ctrArgs(node, 'images', 'ls', '-q', `name==${name},labels."warden.docker-id"==${dockerId}`)).catch((err: Error) => {
      throw new WardenError('ENGINE_ERROR', `asking the local node's containerd for ${name}: ${err.message}`, { cause: err });
    });
    if (have.stdout.trim()) {
      progress?.(`${name} is already on the node`);
      out.push({ ref, name, loaded: false });
      continue;
    }
    progress?.(`loading ${ref} into the local cluster as ${name}`);
    const tar = await stream();
    await new Promise<void>((resolve, reject) => {
      const ctr = spawn(node.ctr, ctrArgs(node, 'images', 'import', '-'), { stdio: ['pipe', 'ignore', 'pipe'] });
      let stderr = '';
      ctr.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      ctr.on('error', reject);
      ctr.on('exit', (code) => (code === 0 ? resolve() : reject(new WardenError('ENGINE_ERROR', `importing ${ref} into the node's containerd failed (exit ${code}): ${stderr.trim().slice(-500)}`))));
      tar.on('error', (err) => ctr.kill() && reject(err));
      tar.pipe(ctr.stdin);
    });
    await run(node.ctr, ctrArgs(node, 'images', 'label', name, `warden.docker-id=${dockerId}`));
    out.push({ ref, name, loaded: true });
  }
  return out;
}

/**
 * Writes Warden's seccomp profile where the local node's kubelet reads `Localhost` profiles
 * (`<kubeletRoot>/seccomp/warden/seccomp-<hash>.json`, named by content, so a changed profile is a new
 * file and running pods keep theirs). Returns the profile's path relative to that directory.
 */
export function installSeccompProfile(node: LocalNode = LOCAL_NODE): string {
  const profile = wardenSeccompProfile();
  const rel = seccompProfilePath(profile);
  const file = join(node.kubeletRoot, 'seccomp', rel);
  const text = `${JSON.stringify(profile)}\n`;
  if (existsSync(file) && readFileSync(file, 'utf8') === text) return rel;
  mkdirSync(dirname(file), { recursive: true, mode: 0o755 });
  const tmp = `${file}.partial-${process.pid}`;
  writeFileSync(tmp, text, { mode: 0o644 });
  renameSync(tmp, file);
  return rel;
}
