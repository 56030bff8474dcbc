import Docker from 'dockerode';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { wardenImage } from '../../src/images/catalog.js';
import { untilLogsSay } from './container-logs.js';
import { createLogger } from '../../src/log.js';
import { LABEL } from '../../src/policy/labels.js';
import { EGRESS_NETWORK, ROLE } from '../../src/runtime/docker/egress.js';
import { DockerEngine } from '../../src/runtime/docker/engine.js';
import { sharedNetworkId } from '../../src/runtime/docker/shared-network.js';
import { runId } from './fixture.js';
import { TEST_RUN_LABEL } from './labels.js';

/** The real registry's name: the fake answers under it, with a certificate from a throwaway test CA. */
export const NPM_REGISTRY = 'registry.npmjs.org';

/** A package the test builds itself: its files go under `package/` in the tarball. */
export interface FakePackage {
  name: string;
  version: string;
  /** File name -> content; package.json is written from name, version and `main`. */
  files: Record<string, string>;
  main?: string;
}

export interface FakeRegistryRequest {
  method: string;
  host: string;
  path: string;
  status: number;
}

export interface FakeNpmRegistry {
  /** Its address on Warden's egress network: map NPM_REGISTRY to it with the spec's `egress.addHosts`. */
  ip: string;
  /** The test CA (PEM) that signed its certificate: npm in the sandbox must trust it (npm_config_cafile). */
  caPem: string;
  /** What reached it, from its log. */
  requests: () => Promise<FakeRegistryRequest[]>;
  /** Remove the container and the CA, keys and tarballs on this host. */
  stop: () => Promise<void>;
}

/** Build `name-version.tgz` (files under package/, as npm pack makes it) and its packument. */
async function buildPackage(dir: string, pkg: FakePackage): Promise<{ routes: Record<string, [string, string]> }> {
  const src = join(dir, 'src', pkg.name, 'package');
  await mkdir(src, { recursive: true });
  const manifest = { name: pkg.name, version: pkg.version, main: pkg.main ?? 'index.js', license: 'MIT', description: 'built by the Warden tests' };
  await writeFile(join(src, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  for (const [file, content] of Object.entries(pkg.files)) await writeFile(join(src, file), content);
  const base = pkg.name.replace(/^@[^/]+\//, '');
  const tgz = `${base}-${pkg.version}.tgz`;
  execFileSync('tar', ['-czf', join(dir, 'registry', tgz), '--owner=0', '--group=0', '-C', dirname(src), 'package']);
  const bytes = await readFile(join(dir, 'registry', tgz));
  const tarballPath = `/${pkg.name}/-/${tgz}`;
  const packument = {
    _id: pkg.name,
    name: pkg.name,
    'dist-tags': { latest: pkg.version },
    versions: {
      [pkg.version]: {
        ...manifest,
        _id: `${pkg.name}@${pkg.version}`,
        dist: {
          tarball: `https://${NPM_REGISTRY}${tarballPath}`,
          integrity: `sha512-${createHash('sha512').update(bytes).digest('base64')}`,
          shasum: createHash('sha1').update(bytes).digest('hex'),
        },
      },
    },
  };
  const json = `${base}.json`;
  await writeFile(join(dir, 'registry', json), JSON.stringify(packument));
  return { routes: { [`/${pkg.name}`]: [json, 'application/json'], [tarballPath]: [tgz, 'application/octet-stream'] } };
}

/** A throwaway CA and a certificate for NPM_REGISTRY signed by it (openssl on this host). */
async function makeCerts(dir: string): Promise<void> {
  const ossl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  ossl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=Warden Test CA (fake npm registry)');
  ossl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', `/CN=${NPM_REGISTRY}`);
  await writeFile(join(dir, 'san.ext'), `subjectAltName=DNS:${NPM_REGISTRY}\n`);
  ossl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '1', '-extfile', 'san.ext');
}

/**
 * A fake npm registry under the real name: test/support/fake-npm-registry.mjs in a container of the
 * egress image (it has Node; nothing is pulled) on Warden's egress network, labelled with the test
 * run, serving HTTPS for registry.npmjs.org with a certificate from a CA made here, and the packages
 * given. It gets no network alias: the name would then resolve to it for every proxy on the shared
 * egress network (other runs' too). A sandbox reaches it by `egress.addHosts: { [NPM_REGISTRY]: ip }`,
 * which only its own proxy resolves.
 */
export async function startFakeNpmRegistry(docker: Docker, packages: FakePackage[]): Promise<FakeNpmRegistry> {
  const dir = await mkdtemp(join(tmpdir(), 'warden-npm-registry-'));
  let container: Docker.Container | undefined;
  const stop = async (): Promise<void> => {
    await container?.remove({ force: true }).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await mkdir(join(dir, 'certs'));
    await mkdir(join(dir, 'registry'));
    await makeCerts(join(dir, 'certs'));
    const routes: Record<string, [string, string]> = {};
    for (const p of packages) Object.assign(routes, (await buildPackage(dir, p)).routes);
    await writeFile(join(dir, 'registry', 'routes.json'), JSON.stringify(routes));
    // the server runs as nobody: the throwaway key must be readable by it
    for (const f of ['certs/server.key', 'certs/server.crt']) await chmod(join(dir, f), 0o644);
    execFileSync('chmod', ['-R', 'a+rX', dir]);

    // the same race-safe lookup Warden uses (parallel files may be first to need the network)
    const egressNet = await sharedNetworkId(new DockerEngine(docker, createLogger('silent')), { name: EGRESS_NETWORK, internal: false, labels: { [LABEL.role]: ROLE.egressNetwork } });
    const script = fileURLToPath(new URL('./fake-npm-registry.mjs', import.meta.url));
    container = await docker.createContainer({
      Image: wardenImage('egress'),
      name: `warden-test-npm-registry-${runId()}`,
      Entrypoint: ['node', '/fake/fake-npm-registry.mjs'],
      User: '65534:65534',
      Labels: { [TEST_RUN_LABEL]: runId() },
      HostConfig: {
        NetworkMode: egressNet,
        Binds: [`${script}:/fake/fake-npm-registry.mjs:ro`, `${join(dir, 'certs')}:/certs:ro`, `${join(dir, 'registry')}:/registry:ro`],
        // 443 without root or capabilities
        Sysctls: { 'net.ipv4.ip_unprivileged_port_start': '0' },
        CapDrop: ['ALL'],
        SecurityOpt: ['no-new-privileges'],
        ReadonlyRootfs: true,
        Init: true,
        Memory: 128 * 1024 * 1024,
      },
    });
    await container.start();
    await untilLogsSay(container, '"listening"', 'the fake npm registry', 30_000);
    const ip = (await container.inspect()).NetworkSettings.Networks[EGRESS_NETWORK]?.IPAddress;
    if (!ip) throw new Error(`the fake npm registry has no address on ${EGRESS_NETWORK}`);
    const c = container;
    return {
      ip,
      caPem: await readFile(join(dir, 'certs', 'ca.pem'), 'utf8'),
      requests: async () =>
        (await c.logs({ stdout: true, stderr: false }))
          .toString('utf8')
          .split('\n')
          .map((l) => l.slice(l.indexOf('{')))
          .filter((l) => l.startsWith('{"fake"'))
          .map((l) => (JSON.parse(l) as { fake: FakeRegistryRequest }).fake),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
