import type Docker from 'dockerode';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { pack as tarPack } from 'tar-stream';
import { WardenError } from '../../errors.js';
import { aciVariantRef, registryRef } from '../../images/aci.js';
import { DOCKER_DIR, wardenImage } from '../../images/catalog.js';
import { IMAGE_HASH_LABEL } from '../../images/labels.js';
import type { ProgressFn } from '../../images/store.js';
import { statusOf, translateEngineError } from './errors.js';

const DOCKERFILE = `${DOCKER_DIR}aci/Dockerfile`;

export interface AciImageResult {
  /** The ACI variant, locally. */
  ref: string;
  /** The reference in the registry (tagged locally, ready for `docker push`). */
  registryRef: string;
  built: boolean;
}

/**
 * Makes the images Warden runs on Azure Container Instances: each is one of Warden's images with
 * Warden's guest code copied in (docker/aci/Dockerfile), built through the engine and skipped when
 * neither the image nor the guest changed; then tagged with the registry's name so that `docker push`
 * (after `az acr login`) uploads it under the name the ACI backend asks for.
 */
export class AciImages {
  constructor(
    private readonly docker: Docker,
    private readonly progress: ProgressFn = () => undefined,
  ) {}

  private async inspect(ref: string): Promise<Docker.ImageInspectInfo | undefined> {
    try {
      return await this.docker.getImage(ref).inspect();
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw translateEngineError(err, `inspecting image ${ref}`);
    }
  }

  /** Build the ACI variant of `base` (a local image) with the guest of `guest`, and tag it for `registry`. */
  async prepare(base: string, opts: { registry: string; guest?: string }): Promise<AciImageResult> {
    const guestRef = opts.guest ?? wardenImage('guest');
    const [b, g] = await Promise.all([this.inspect(base), this.inspect(guestRef)]);
    if (!b) throw new WardenError('IMAGE_NOT_FOUND', `${base} is not on this engine; build it first (\`warden images build\`)`);
    if (!g) throw new WardenError('IMAGE_NOT_FOUND', `Warden's guest image ${guestRef} is not on this engine; build it with \`warden images build guest\``);
    const dockerfile = readFileSync(DOCKERFILE);
    const hash = createHash('sha256').update(dockerfile).update(`\0${b.Id}\0${g.Id}`).digest('hex').slice(0, 24);
    const ref = aciVariantRef(base);
    const existing = await this.inspect(ref);
    let built = false;
    if (existing?.Config?.Labels?.[IMAGE_HASH_LABEL] !== hash) {
      this.progress(`building ${ref} (${base} + ${guestRef})`);
      await this.build(ref, dockerfile, { BASE_IMAGE: base, GUEST_IMAGE: guestRef }, hash);
      if (existing) await this.docker.getImage(existing.Id).remove().catch(() => undefined);
      built = true;
    } else this.progress(`${ref} is up to date (${hash})`);
    const target = registryRef(base, opts.registry);
    const colon = target.lastIndexOf(':');
    await this.docker.getImage(ref).tag({ repo: target.slice(0, colon), tag: target.slice(colon + 1) }).catch((err: unknown) => {
      throw translateEngineError(err, `tagging ${ref} as ${target}`);
    });
    return { ref, registryRef: target, built };
  }

  private async build(ref: string, dockerfile: Buffer, args: Record<string, string>, hash: string): Promise<void> {
    const tar = tarPack();
    tar.entry({ name: 'Dockerfile' }, dockerfile);
    tar.finalize();
    let stream: NodeJS.ReadableStream;
    try {
      stream = await this.docker.buildImage(tar as unknown as Readable as unknown as NodeJS.ReadableStream, {
        t: ref,
        buildargs: args,
        labels: { 'warden.image': 'aci', [IMAGE_HASH_LABEL]: hash },
        rm: true,
        forcerm: true,
        pull: false,
      } as Docker.ImageBuildOptions);
    } catch (err) {
      throw translateEngineError(err, `building ${ref}`);
    }
    await new Promise<void>((resolve, reject) => {
      this.docker.modem.followProgress(stream, (err, output: Array<{ error?: string }>) => {
        const failed = err ?? output.find((o) => o.error)?.error;
        if (failed) reject(new WardenError('IMAGE_BUILD_FAILED', `building ${ref} failed: ${String((failed as Error).message ?? failed)}`));
        else resolve();
      });
    });
  }
}
