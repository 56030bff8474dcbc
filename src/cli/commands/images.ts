import type { Command } from 'commander';
import type { ImageStore } from '../../images/store.js';
import type { Logger } from '../../log.js';
import { formatBytes } from '../../util/units.js';
import { printJson, printTable } from '../output.js';

const progress = (line: string): void => void process.stderr.write(`${line}\n`);

export function registerImages(program: Command, ctx: { log: () => Logger }): void {
  const images = program.command('images').description("build and list Warden's images");
  // the backend's image store (Docker's engine for docker and gvisor), loaded only when a command runs
  // the backend's image store (WARDEN_RUNTIME, or --runtime), loaded only when a command runs
  const builder = async (kind?: string): Promise<ImageStore> => {
    const [{ createImageStore }, { runtimeSettingsFromEnv }] = await Promise.all([import('../../runtime/select.js'), import('../../config/runtime.js')]);
    return createImageStore({ kind: runtimeSettingsFromEnv(kind === undefined ? process.env : { ...process.env, WARDEN_RUNTIME: kind }).kind, logger: ctx.log() });
  };

  images
    .command('build')
    .description('build Warden images whose content changed (shows each step); base: debian:bookworm-slim, or the offline base')
    .argument('[names...]', 'images to build (default all)')
    .option('--base <image>', "base image, or 'auto'", 'auto')
    .option('--force', 'rebuild even when up to date')
    .option('--offline', 'build the offline base with debootstrap when no base can be had')
    .option('--json', 'print the results as JSON')
    .option(
      '--runtime <kind>',
      "build for that runtime instead of WARDEN_RUNTIME's: 'kubernetes' also loads them into the local cluster of scripts/kube-up.sh (its containerd) and installs Warden's seccomp profile for its kubelet",
    )
    .action(async (names: string[], f: { base: string; force?: boolean; offline?: boolean; json?: boolean; runtime?: string }) => {
      const res = await (await builder(f.runtime)).buildAll({ names, base: f.base, bootstrapIfMissing: Boolean(f.offline), progress, ...(f.force ? { force: true } : {}) });
      if (f.json) printJson(res);
    });

  images
    .command('bootstrap')
    .description('offline path: build warden-base:bookworm with debootstrap + import, then build every image on it')
    .option('--force', 'rebuild the base even if present')
    .option('--mirror <url>', 'Debian mirror for debootstrap (default: its own; or WARDEN_DEBIAN_MIRROR)')
    .action(async (f: { force?: boolean; mirror?: string }) => {
      const b = await builder();
      const base = await b.bootstrap({ progress, ...(f.force ? { force: true } : {}), ...(f.mirror ? { mirror: f.mirror } : {}) });
      await b.buildAll({ base, bootstrapIfMissing: false, progress });
    });

  images
    .command('ls')
    .description("list Warden's images")
    .option('--json', 'JSON')
    .action(async (f: { json?: boolean }) => {
      const rows = await (await builder()).list();
      if (f.json) return printJson(rows);
      printTable(
        ['IMAGE', 'ID', 'SIZE', 'HASH', 'DESCRIPTION'],
        rows.map((r) => [r.ref, r.present ? r.id : '(missing)', r.present ? formatBytes(r.sizeBytes) : '', r.hash ?? '', r.description]),
      );
    });

  images
    .command('aci')
    .description("Azure Container Instances: make the ACI variant of each image (Warden's guest code in /.warden, root as the image's user, the guard as PID 1) and tag it for the registry under the image's own name; then `docker push` each tag (after `az acr login`)")
    .argument('[names...]', 'Warden images (sandbox, agents, react-vite) or image references', ['sandbox'])
    .option('--registry <server>', 'registry login server, e.g. myacr.azurecr.io (default: WARDEN_ACI_REGISTRY)')
    .option('--json', 'print the results as JSON')
    .action(async (names: string[], f: { registry?: string; json?: boolean }) => {
      const [{ AciSettingsSchema, ACI_ENV }, { AciImages }, { catalogImage }, { WardenError }, { connectDocker }] = await Promise.all([
        import('../../config/aci.js'),
        import('../../runtime/docker/aci-images.js'),
        import('../../images/catalog.js'),
        import('../../errors.js'),
        import('../../runtime/docker/engine.js'),
      ]);
      const registry = f.registry ?? process.env[ACI_ENV.registry];
      if (!registry) throw new WardenError('INVALID_ARGUMENT', `give the registry: --registry myacr.azurecr.io (or set ${ACI_ENV.registry})`);
      const checked = AciSettingsSchema.shape.registry.safeParse(registry);
      if (!checked.success) throw new WardenError('INVALID_ARGUMENT', `--registry ${registry}: ${checked.error.issues[0]?.message ?? 'invalid'}`);
      const catalog = names.map((n) => catalogImage(n));
      const b = await builder();
      // Warden's own images (and the guest, whose files go in) are built first, cached by content hash
      await b.buildAll({ names: ['guest', ...catalog.filter((c) => c !== undefined).map((c) => c.name)], base: 'auto', bootstrapIfMissing: false, progress });
      const made = [];
      for (const [i, n] of names.entries()) made.push(await new AciImages(connectDocker(), progress).prepare(catalog[i]?.ref ?? n, { registry }));
      if (f.json) return printJson(made);
      printTable(['ACI VARIANT', 'PUSH AS', 'BUILT'], made.map((m) => [m.ref, m.registryRef, m.built ? 'yes' : 'up to date']));
      process.stderr.write(`next: az acr login -n ${registry.split('.')[0]} && ${made.map((m) => `docker push ${m.registryRef}`).join(' && ')}\n`);
    });
}
