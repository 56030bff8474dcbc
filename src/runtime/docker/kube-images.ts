import type Docker from 'dockerode';
import type { BuildResult, ImageRow, ImageStore, ProgressFn } from '../../images/store.js';
import { installSeccompProfile, loadImages, localNodePresent, LOCAL_NODE, type LocalNode } from '../kubernetes/images.js';

/**
 * Warden's images for the Kubernetes backend. Nodes pull from a registry, and this machine reaches
 * none, so the images are built by Docker's engine (the same catalog and content hashes) and then, when
 * the local cluster of scripts/kube-up.sh runs here, loaded into its node's containerd (`docker save`
 * into the `k8s.io` namespace, skipped when the node holds the same image id) with Warden's seccomp
 * profile installed for its kubelet. For any other cluster the build says what is left to do: push the
 * images to a registry its nodes pull from, and install the profile on the nodes (docs/KUBERNETES.md).
 */
export class KubernetesImageStore implements ImageStore {
  constructor(
    private readonly docker: ImageStore,
    private readonly engine: Docker,
    private readonly node: LocalNode = LOCAL_NODE,
  ) {}

  async buildAll(opts: { names?: string[]; base: string; force?: boolean; bootstrapIfMissing: boolean; progress: ProgressFn }): Promise<BuildResult[]> {
    const names = opts.names?.length ? opts.names : undefined;
    // every pod carries the guest image (its init step installs the guard), allowlisted ones the egress image
    const wanted = names ? [...new Set([...names, 'guest'])] : undefined;
    const built = await this.docker.buildAll({ ...opts, ...(wanted ? { names: wanted } : {}) });
    if (!localNodePresent(this.node)) {
      opts.progress(`no local cluster node here (${this.node.containerdSocket}): push ${built.map((b) => b.ref).join(', ')} to a registry your nodes pull from, and install Warden's seccomp profile on them (or set WARDEN_KUBE_SECCOMP=runtime-default)`);
      return built;
    }
    await loadImages(
      async (ref) => {
        const image = this.engine.getImage(ref);
        return { id: (await image.inspect()).Id, stream: () => image.get() };
      },
      built.map((b) => b.ref),
      this.node,
      opts.progress,
    );
    opts.progress(`seccomp profile installed for the kubelet: ${installSeccompProfile(this.node)}`);
    return built;
  }

  bootstrap(opts: { progress: ProgressFn; suite?: string; mirror?: string; force?: boolean }): Promise<string> {
    return this.docker.bootstrap(opts);
  }

  list(): Promise<ImageRow[]> {
    return this.docker.list();
  }
}
