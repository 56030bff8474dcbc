import type Docker from 'dockerode';
import { build } from 'esbuild';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { IMAGE_TAG } from '../../src/images/catalog.js';
import type { DockerImageStore } from '../../src/runtime/docker/images.js';
import type { ProgressFn } from '../../src/images/store.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The stand-in's image and the sandbox image with warden-aci-exec, for this WARDEN_IMAGE_TAG. */
export const STANDIN_IMAGE = `warden-aci-standin:${IMAGE_TAG}`;
export const ACI_SANDBOX_IMAGE = `warden-aci-sandbox:${IMAGE_TAG}`;

/**
 * Builds what the ACI tests run, cached by content hash like Warden's own images: the stand-in
 * (bundled into one file with esbuild, on warden-egress, which has Node) and warden-aci-sandbox
 * (warden-sandbox + the guest helper compiled in a Debian gcc stage). Dangling build stages are removed.
 */
export async function buildAciImages(docker: Docker, builder: DockerImageStore, base: string, progress: ProgressFn): Promise<void> {
  const out = await mkdtemp(join(tmpdir(), 'aci-standin-'));
  try {
    await build({
      entryPoints: [join(ROOT, 'test/aci-standin/main.ts')],
      outfile: join(out, 'standin.cjs'),
      bundle: true,
      platform: 'node',
      target: 'node18',
      // CommonJS output: dockerode, ws and ssh2 use require() and __dirname
      format: 'cjs',
      // optional native parts of ssh2 (dockerode's ssh transport, unused here)
      external: ['cpu-features', '*.node'],
      logLevel: 'error',
    });
    await builder.build(
      { name: 'aci-standin', ref: STANDIN_IMAGE, context: join(ROOT, 'test/aci-standin/image'), from: 'egress', description: 'ACI stand-in (tests)', extra: [{ from: out, to: 'app', include: /\.cjs$/ }] },
      { base, progress },
    );
  } finally {
    await rm(out, { recursive: true, force: true });
  }
  await builder.build({ name: 'aci-sandbox', ref: ACI_SANDBOX_IMAGE, context: join(ROOT, 'guest/aci'), from: 'sandbox', description: 'warden-sandbox + warden-aci-exec' }, { base, progress });
  const stages = await docker.listImages({ filters: { dangling: ['true'], label: ['warden.build-stage=aci-exec'] } });
  await Promise.all(stages.map((i) => docker.getImage(i.Id).remove().catch(() => undefined)));
}
