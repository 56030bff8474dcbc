import type Docker from 'dockerode';
import { spawn } from 'node:child_process';
import { access, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { pack as tarPack } from 'tar-stream';
import { wardenHome } from '../../config/home.js';
import { WardenError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { statusOf, translateEngineError } from './errors.js';
import { CATALOG, catalogImage, OFFLINE_BASE, PUBLIC_BASE, type CatalogImage } from '../../images/catalog.js';
import { contextFiles, contextHash, type ContextFile } from '../../images/context-hash.js';
import { IMAGE_HASH_LABEL } from '../../images/labels.js';
import type { BuildResult, ImageRow, ImageStore, ProgressFn } from '../../images/store.js';

/** Bumped when how Warden builds images changes (labels, options), so the hash changes too. */
const RECIPE = '2';

/**
 * Builds Warden's images through the Engine API (classic builder; nothing pulled when the base is
 * local), skips those whose content hash is unchanged, and makes the offline base from debootstrap.
 */
export class DockerImageStore implements ImageStore {
  constructor(
    private readonly docker: Docker,
    private readonly log: Logger,
    /** WARDEN_BASE_IMAGE and WARDEN_DEBIAN_MIRROR, read at the edge. */
    private readonly env: { baseImage?: string; debianMirror?: string } = {},
  ) {}

  private async imageId(ref: string): Promise<{ id: string; labels: Record<string, string>; size: number; created: string } | undefined> {
    try {
      const i = await this.docker.getImage(ref).inspect();
      return { id: i.Id, labels: i.Config?.Labels ?? {}, size: i.Size, created: i.Created };
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw translateEngineError(err, `inspecting image ${ref}`);
    }
  }

  /**
   * Pick the base image. 'auto': WARDEN_BASE_IMAGE if set; debian:bookworm-slim if present or pullable;
   * the offline base if present; else build the offline base (when `bootstrapIfMissing`).
   */
  async resolveBase(pref: string, opts: { bootstrapIfMissing: boolean; progress: ProgressFn }): Promise<string> {
    if (pref !== 'auto') {
      if (!(await this.imageId(pref))) await this.pull(pref, opts.progress);
      return pref;
    }
    if (this.env.baseImage) return this.resolveBase(this.env.baseImage, opts);
    if (await this.imageId(PUBLIC_BASE)) return PUBLIC_BASE;
    if (await this.imageId(OFFLINE_BASE)) return OFFLINE_BASE;
    try {
      await this.pull(PUBLIC_BASE, opts.progress);
      return PUBLIC_BASE;
    } catch (err) {
      if (!opts.bootstrapIfMissing) {
        throw new WardenError(
          'IMAGE_NOT_FOUND',
          `no base image: ${PUBLIC_BASE} is not local and cannot be pulled (${(err as Error).message}). On a host without a registry run \`warden images bootstrap\` (debootstrap + import), or pass --base IMAGE.`,
          { cause: err },
        );
      }
      opts.progress(`${PUBLIC_BASE} cannot be pulled; building the offline base ${OFFLINE_BASE} with debootstrap`);
      return this.bootstrap({ progress: opts.progress });
    }
  }

  private async pull(ref: string, progress: ProgressFn): Promise<void> {
    progress(`pulling ${ref}`);
    try {
      const stream = await this.docker.pull(ref);
      await new Promise<void>((resolve, reject) =>
        this.docker.modem.followProgress(stream, (err) => (err ? reject(err) : resolve())),
      );
    } catch (err) {
      throw new WardenError('IMAGE_NOT_FOUND', `cannot pull ${ref}: ${(err as { json?: { message?: string } }).json?.message ?? (err as Error).message}`, { cause: err });
    }
  }

  /** Build one catalog image (and what it builds on) unless its content hash is unchanged. */
  async build(image: CatalogImage, opts: { base: string; force?: boolean; progress: ProgressFn }): Promise<BuildResult> {
    const t0 = Date.now();
    let fromRef = opts.base;
    if (image.from) {
      const parent = catalogImage(image.from);
      if (!parent) throw new WardenError('INVALID_ARGUMENT', `image ${image.name} builds on unknown image ${image.from}`);
      fromRef = (await this.build(parent, opts)).ref;
    }
    const base = await this.imageId(fromRef);
    if (!base) throw new WardenError('IMAGE_NOT_FOUND', `base image ${fromRef} is missing; run \`warden images bootstrap\` or pass --base`);
    const args = { BASE_IMAGE: fromRef };
    const extra = await this.extraFiles(image);
    const hash = await contextHash(image.context, { ...args, BASE_ID: base.id, RECIPE }, extra);
    const existing = await this.imageId(image.ref);
    if (!opts.force && existing && existing.labels[IMAGE_HASH_LABEL] === hash) {
      opts.progress(`${image.ref} is up to date (${hash})`);
      return { ref: image.ref, id: existing.id, hash, built: false, seconds: 0, sizeBytes: existing.size };
    }
    opts.progress(`building ${image.ref} on ${fromRef}`);
    let stream: NodeJS.ReadableStream;
    try {
      stream = await this.docker.buildImage((await packContext(image.context, extra)) as unknown as NodeJS.ReadableStream, {
        t: image.ref,
        buildargs: args,
        labels: { 'warden.image': image.name, [IMAGE_HASH_LABEL]: hash }, // not warden.managed: containers inherit image labels
        rm: true,
        forcerm: true,
        pull: false,
      } as Docker.ImageBuildOptions);
    } catch (err) {
      throw translateEngineError(err, `building ${image.ref}`);
    }
    const tail: string[] = [];
    await new Promise<void>((resolve, reject) => {
      this.docker.modem.followProgress(
        stream,
        (err, output: Array<{ error?: string }>) => {
          const failed = err ?? output.find((o) => o.error)?.error;
          if (failed) {
            reject(new WardenError('IMAGE_BUILD_FAILED', `building ${image.ref} failed: ${String((failed as Error).message ?? failed)}\n${tail.slice(-15).join('\n')}`));
          } else resolve();
        },
        (ev: { stream?: string; status?: string; error?: string }) => {
          const line = (ev.stream ?? ev.status ?? ev.error ?? '').trimEnd();
          if (!line) return;
          tail.push(line);
          if (tail.length > 50) tail.shift();
          if (/^Step \d+\/\d+/.test(line) || ev.error) opts.progress(`  ${line}`);
          else this.log.debug({ image: image.ref }, line);
        },
      );
    });
    const built = await this.imageId(image.ref);
    if (!built) throw new WardenError('IMAGE_BUILD_FAILED', `building ${image.ref} reported success but the image is missing`);
    if (existing && existing.id !== built.id) {
      await this.docker.getImage(existing.id).remove().catch(() => undefined); // no dangling leftovers of ours
    }
    // a multi-stage build leaves its build stage as a dangling image; ours carry warden.build-stage
    const stages = await this.docker.listImages({ filters: { dangling: ['true'], label: ['warden.build-stage'] } }).catch(() => []);
    await Promise.all(stages.map((i) => this.docker.getImage(i.Id).remove().catch(() => undefined)));
    const seconds = (Date.now() - t0) / 1000;
    opts.progress(`built ${image.ref} in ${seconds.toFixed(1)} s (${(built.size / 1e6).toFixed(0)} MB)`);
    return { ref: image.ref, id: built.id, hash, built: true, seconds, sizeBytes: built.size };
  }

  private async extraFiles(image: CatalogImage): Promise<ContextFile[]> {
    const out: ContextFile[] = [];
    for (const e of image.extra ?? []) {
      const files = await contextFiles(e.from, e.to, e.include).catch(() => []);
      if (files.length === 0) throw new WardenError('IMAGE_BUILD_FAILED', `building ${image.ref} needs ${e.from}, which is missing; run \`npm run build\` first`);
      out.push(...files);
    }
    // the copied files are ES modules
    if (out.length) out.push({ path: '', name: `${image.extra![0]!.to}/package.json`, content: Buffer.from('{ "type": "module" }\n') });
    return out;
  }

  /** Build every catalog image (or the named ones). */
  async buildAll(opts: { names?: string[]; base: string; force?: boolean; bootstrapIfMissing: boolean; progress: ProgressFn }): Promise<BuildResult[]> {
    const images = opts.names?.length ? opts.names.map((n) => catalogImage(n) ?? unknownImage(n)) : CATALOG;
    const base = await this.resolveBase(opts.base, opts);
    const out: BuildResult[] = [];
    for (const img of images) out.push(await this.build(img, { base, progress: opts.progress, ...(opts.force ? { force: true } : {}) }));
    return out;
  }

  /** Warden's images with their presence, size and hash. */
  async list(): Promise<ImageRow[]> {
    const rows: ImageRow[] = [];
    for (const img of [{ ref: OFFLINE_BASE, description: 'Offline Debian base from debootstrap (warden images bootstrap).' }, ...CATALOG]) {
      const i = await this.imageId(img.ref);
      rows.push({
        ref: img.ref,
        id: i?.id.replace('sha256:', '').slice(0, 12) ?? '',
        sizeBytes: i?.size ?? 0,
        createdAt: i?.created ?? '',
        ...(i?.labels[IMAGE_HASH_LABEL] ? { hash: i.labels[IMAGE_HASH_LABEL] } : {}),
        present: i !== undefined,
        description: img.description,
      });
    }
    return rows;
  }

  /**
   * The offline path: `debootstrap --variant=minbase bookworm` into a scratch directory, then import it
   * as warden-base:bookworm through the Engine API. Needs root and Debian's debootstrap.
   */
  async bootstrap(opts: { progress: ProgressFn; suite?: string; mirror?: string; force?: boolean }): Promise<string> {
    if (!opts.force && (await this.imageId(OFFLINE_BASE))) {
      opts.progress(`${OFFLINE_BASE} already exists`);
      return OFFLINE_BASE;
    }
    if (process.getuid?.() !== 0) throw new WardenError('BOOTSTRAP_FAILED', 'debootstrap needs root; run `sudo warden images bootstrap`');
    const debootstrap = await findExecutable('debootstrap');
    if (!debootstrap) throw new WardenError('BOOTSTRAP_FAILED', 'debootstrap is not installed; install it with `apt-get install -y debootstrap`');
    const dir = join(wardenHome(), 'cache', `rootfs-${process.pid}-${Date.now()}`);
    await mkdir(dir, { recursive: true });
    const t0 = Date.now();
    try {
      const suite = opts.suite ?? 'bookworm';
      const args = ['--variant=minbase', suite, dir, ...((opts.mirror ?? this.env.debianMirror) ? [(opts.mirror ?? this.env.debianMirror)!] : [])];
      opts.progress(`debootstrap ${args.join(' ')}`);
      await run(debootstrap, args, (line) => {
        if (/^I: (Retrieving|Validating|Extracting|Installing|Configuring|Base system)/.test(line) && !/^I: (Retrieving|Validating|Extracting) \S+$/.test(line)) opts.progress(`  ${line}`);
        else this.log.debug(line);
      });
      opts.progress(`importing ${dir} as ${OFFLINE_BASE}`);
      const tar = spawn('tar', ['-C', dir, '-c', '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
      const stream = await this.docker.importImage(tar.stdout as unknown as string, { repo: 'warden-base', tag: 'bookworm', changes: ['LABEL warden.image=base', 'CMD ["/bin/bash"]'] } as object);
      await new Promise<void>((resolve, reject) => this.docker.modem.followProgress(stream, (err) => (err ? reject(err) : resolve())));
      if (!(await this.imageId(OFFLINE_BASE))) throw new Error('the import finished but the image is missing');
      opts.progress(`${OFFLINE_BASE} ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      return OFFLINE_BASE;
    } catch (err) {
      throw err instanceof WardenError ? err : new WardenError('BOOTSTRAP_FAILED', `building the offline base failed: ${(err as Error).message}`, { cause: err });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}

/** The build context as a tar: the Dockerfile's folder plus extra files under their context names. */
async function packContext(dir: string, extra: ContextFile[]): Promise<Readable> {
  const pack = tarPack();
  const files = [...(await contextFiles(dir)), ...extra];
  void (async () => {
    for (const f of files) {
      const mode = f.content ? 0o644 : (await stat(f.path)).mode & 0o777;
      const body = f.content ?? readFileSync(f.path);
      await new Promise<void>((resolve, reject) => pack.entry({ name: f.name, mode, size: body.length }, body, (err) => (err ? reject(err) : resolve())));
    }
    pack.finalize();
  })().catch((err: unknown) => pack.destroy(err as Error));
  return pack as unknown as Readable;
}

function unknownImage(name: string): never {
  throw new WardenError('INVALID_ARGUMENT', `unknown image '${name}'; known: ${CATALOG.map((i) => i.name).join(', ')}`);
}

async function findExecutable(name: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin'])) {
    const p = join(dir, name);
    try {
      await access(p);
      return p;
    } catch {
      /* next */
    }
  }
  return undefined;
}

function run(cmd: string, args: string[], onLine: (l: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let buf = '';
    const tail: string[] = [];
    const feed = (d: Buffer): void => {
      buf += d.toString('utf8');
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      for (const l of lines) {
        tail.push(l);
        if (tail.length > 20) tail.shift();
        onLine(l);
      }
    };
    child.stdout.on('data', feed);
    child.stderr.on('data', feed);
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} exited ${code}:\n${tail.join('\n')}`))));
  });
}
