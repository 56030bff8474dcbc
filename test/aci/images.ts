import type Docker from 'dockerode';
import { build } from 'esbuild';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AciImages } from '../../src/runtime/docker/aci-images.js';
import { IMAGE_TAG, wardenImage } from '../../src/images/catalog.js';
import type { ProgressFn } from '../../src/images/store.js';
import type { DockerImageStore } from '../../src/runtime/docker/images.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The stand-in's image, for this WARDEN_IMAGE_TAG. */
export const STANDIN_IMAGE = `warden-aci-standin:${IMAGE_TAG}`;
/** The sandbox image as Warden names it; in the registry, the same name holds its ACI variant (with /.warden). */
export const SANDBOX_IMAGE = wardenImage('sandbox');

/**
 * Builds what the ACI tests run, cached by content hash like Warden's own images: the stand-in
 * (bundled into one file with esbuild, on warden-egress, which has Node) and the ACI variant of
 * warden-sandbox (src/runtime/docker/aci-images.ts: warden-sandbox + warden-guest's /.warden), "pushed" to the emulated
 * registry by tagging it with the registry's name, as for a real `docker push`.
 */
export async function buildAciImages(docker: Docker, builder: DockerImageStore, base: string, registry: string, progress: ProgressFn): Promise<void> {
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
  await new AciImages(docker, progress).prepare(SANDBOX_IMAGE, { registry });
  // the stand-in's own image, in the registry too (a Node server for the tests of group networking)
  await docker.getImage(STANDIN_IMAGE).tag({ repo: `${registry}/warden-aci-standin`, tag: IMAGE_TAG });
}
