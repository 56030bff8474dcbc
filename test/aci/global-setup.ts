import { compileDist } from '../support/compile.js';
import Docker from 'dockerode';
import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { DockerImageStore } from '../../src/runtime/docker/images.js';
import { createLogger } from '../../src/log.js';
import { TEST_RUN_LABEL } from '../support/labels.js';
import { buildAciImages, SANDBOX_IMAGE, STANDIN_IMAGE } from './images.js';

/** What the ACI tests need to reach the stand-in, as a real deployment would have for Azure. */
export interface AciStandin {
  runId: string;
  /** ARM endpoint and Entra authority host (the same server). */
  endpoint: string;
  tenantId: string;
  clientId: string;
  clientSecret: string;
  /** A registered app with no role assignment. */
  noAccess: { clientId: string; clientSecret: string };
  subscriptionId: string;
  resourceGroup: string;
  location: string;
  registry: string;
  /** The sandbox image's ACI variant (with /.warden) as a reference on the emulated registry. */
  sandboxImage: string;
  network: string;
  caFile: string;
}

const REGISTRY = 'wardentest.azurecr.io';

/**
 * `npm run test:aci`: builds the images (cached), makes a CA and the stand-in's certificate, a test
 * network in WARDEN_SUBNET_POOL, and starts the stand-in on it; NODE_EXTRA_CA_CERTS makes the test
 * workers trust it (the Azure SDK refuses bearer tokens over plain HTTP). Teardown removes every
 * container and network labelled with this run (the stand-in labels the groups it runs too).
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const { info, teardown } = await startStandin();
  project.provide('aciStandin', info);
  project.provide('runId', info.runId);
  return teardown;
}

/**
 * Starts the stand-in (building what it needs) and points this process's environment at it exactly
 * as a deployment would point Warden at Azure (WARDEN_ACI_* settings, a service principal through
 * AZURE_*, the authority and ARM endpoints), so test workers and the processes they spawn make the
 * runtime through the production path: createAciRuntime() with DefaultAzureCredential.
 */
export async function startStandin(): Promise<{ info: AciStandin; teardown: () => Promise<void> }> {
  const runId = `t${randomBytes(4).toString('hex')}`;
  const docker = new Docker();
  await docker.ping().catch((err: unknown) => {
    throw new Error(`no Docker engine answers (${(err as Error).message})`);
  });
  const dir = await mkdtemp(join(tmpdir(), 'aci-test-'));
  const labels = { [TEST_RUN_LABEL]: runId };
  const teardown = async (): Promise<void> => {
    const filters = { label: [`${TEST_RUN_LABEL}=${runId}`] };
    const containers = await docker.listContainers({ all: true, filters });
    await Promise.all(containers.map((c) => docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined)));
    const networks = await docker.listNetworks({ filters });
    await Promise.all(networks.map((n) => docker.getNetwork(n.Id).remove().catch(() => undefined)));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    // the egress image (the stand-in's base) is built from dist/egress
    compileDist({ nice: true });
    const builder = new DockerImageStore(docker, createLogger('warn'));
    const progress = (l: string): void => console.log(`[images] ${l}`);
    const base = await builder.resolveBase('auto', { bootstrapIfMissing: true, progress });
    await builder.buildAll({ names: ['guest', 'sandbox', 'egress'], base, bootstrapIfMissing: true, progress });
    await buildAciImages(docker, builder, base, REGISTRY, progress);

    const { network, ip } = await createNetwork(docker, runId, labels);
    const ca = makeCertificates(dir, ip);
    const tenantId = randomUUID();
    const clientId = randomUUID();
    const clientSecret = randomBytes(24).toString('base64url');
    const noAccess = { clientId: randomUUID(), clientSecret: randomBytes(24).toString('base64url') };
    const subscriptionId = randomUUID();
    const resourceGroup = 'warden-test';
    const location = 'eastus';
    const config = {
      publicHost: ip,
      listenPort: 443,
      tlsCertFile: '/certs/server.crt',
      tlsKeyFile: '/certs/server.key',
      clients: [
        { tenantId, clientId, clientSecret, roleAssignments: [
            { scope: `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}`, actions: ['Microsoft.ContainerInstance/containerGroups/*'] },
            // listing across the subscription (the abandoned-group sweep) needs read at subscription scope
            { scope: `/subscriptions/${subscriptionId}`, actions: ['Microsoft.ContainerInstance/containerGroups/read'] },
          ],
        },
        { tenantId, ...noAccess, roleAssignments: [] },
      ],
      subscriptions: [{ id: subscriptionId, tenantId, resourceGroups: [{ name: resourceGroup, location }, { name: 'other-rg', location: 'westeurope' }] }],
      network,
      labels,
      instance: runId,
      registry: REGISTRY,
      infraImage: STANDIN_IMAGE,
      retryAfterSeconds: 1,
      stopGraceSeconds: 2,
    };
    const standin = await docker.createContainer({
      name: `warden-aci-standin-${runId}`,
      Image: STANDIN_IMAGE,
      Env: [`STANDIN_CONFIG=${JSON.stringify(config)}`],
      Labels: labels,
      HostConfig: { Init: true, Binds: ['/var/run/docker.sock:/var/run/docker.sock', `${dir}/certs:/certs:ro`], NetworkMode: network },
      NetworkingConfig: { EndpointsConfig: { [network]: { IPAMConfig: { IPv4Address: ip } } } },
    });
    await standin.start();
    process.env.NODE_EXTRA_CA_CERTS = ca; // read by each test worker at its start (and by waitHealthy)
    await waitHealthy(standin, `https://${ip}/healthz`);
    const info: AciStandin = {
      runId,
      endpoint: `https://${ip}`,
      tenantId,
      clientId,
      clientSecret,
      noAccess,
      subscriptionId,
      resourceGroup,
      location,
      registry: REGISTRY,
      sandboxImage: `${REGISTRY}/${SANDBOX_IMAGE}`,
      network,
      caFile: ca,
    };
    Object.assign(process.env, standinEnv(info));
    return { info, teardown };
  } catch (err) {
    await teardown();
    throw err;
  }
}

/** The environment of a Warden process configured for the stand-in (the settings under test). */
export function standinEnv(s: AciStandin): Record<string, string> {
  return {
    WARDEN_ACI_SUBSCRIPTION_ID: s.subscriptionId,
    WARDEN_ACI_RESOURCE_GROUP: s.resourceGroup,
    WARDEN_ACI_LOCATION: s.location,
    WARDEN_ACI_REGISTRY: s.registry,
    WARDEN_ACI_REGISTRY_USERNAME: 'warden',
    WARDEN_ACI_REGISTRY_PASSWORD: 'registry-password',
    WARDEN_ACI_ARM_ENDPOINT: s.endpoint,
    WARDEN_ACI_AUTHORITY_HOST: s.endpoint,
    WARDEN_ACI_PUBLIC_PREVIEW: '1',
    // short enough for the dead-man tests to finish quickly, long enough for a loaded machine
    WARDEN_ACI_TIE_GRACE_SECONDS: '8',
    WARDEN_ACI_TIE_DEADMAN_SECONDS: '4',
    WARDEN_ACI_LEASE_SECONDS: '12',
    WARDEN_ACI_SWEEP_SECONDS: '0',
    AZURE_TENANT_ID: s.tenantId,
    AZURE_CLIENT_ID: s.clientId,
    AZURE_CLIENT_SECRET: s.clientSecret,
    // DefaultAzureCredential's environment source only: no probe of a managed-identity endpoint
    AZURE_TOKEN_CREDENTIALS: 'EnvironmentCredential',
    NODE_EXTRA_CA_CERTS: s.caFile,
  };
}

/** A bridge network for this run in a free /24 of WARDEN_SUBNET_POOL (its upper half; Warden's /28s start low). */
async function createNetwork(docker: Docker, runId: string, labels: Record<string, string>): Promise<{ network: string; ip: string }> {
  const pool = process.env.WARDEN_SUBNET_POOL ?? '10.213.0.0/16';
  const m = /^(\d+)\.(\d+)\.0\.0\/16$/.exec(pool);
  if (!m) throw new Error(`WARDEN_SUBNET_POOL must be a /16 like 10.218.0.0/16 for the ACI tests, got ${pool}`);
  const name = `warden-aci-test-${runId}`;
  let lastErr: unknown;
  for (let i = 0; i < 8; i++) {
    const third = 128 + Math.floor(Math.random() * 120);
    const subnet = `${m[1]}.${m[2]}.${third}.0/24`;
    try {
      await docker.createNetwork({ Name: name, Driver: 'bridge', Labels: labels, IPAM: { Config: [{ Subnet: subnet, Gateway: `${m[1]}.${m[2]}.${third}.1` }] } });
      return { network: name, ip: `${m[1]}.${m[2]}.${third}.2` };
    } catch (err) {
      lastErr = err; // overlapping pool: another run holds it; try another /24
    }
  }
  throw new Error(`no free /24 for the ACI test network in ${pool}: ${(lastErr as Error).message}`);
}

/** A CA and a server certificate for the stand-in's address (openssl, as Debian ships it). */
function makeCertificates(dir: string, ip: string): string {
  const certs = join(dir, 'certs');
  execFileSync('mkdir', ['-p', certs]);
  const run = (args: string[]): void => {
    execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  };
  run(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=Warden ACI stand-in test CA', '-keyout', join(dir, 'ca.key'), '-out', join(dir, 'ca.crt'), '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  run(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=aci-standin', '-keyout', join(certs, 'server.key'), '-out', join(dir, 'server.csr')]);
  const ext = join(dir, 'server.ext');
  execFileSync('sh', ['-c', `printf 'subjectAltName=IP:${ip},DNS:aci-standin\\nextendedKeyUsage=serverAuth\\nbasicConstraints=CA:FALSE\\n' > '${ext}'`]);
  run(['x509', '-req', '-in', join(dir, 'server.csr'), '-CA', join(dir, 'ca.crt'), '-CAkey', join(dir, 'ca.key'), '-CAcreateserial', '-days', '2', '-extfile', ext, '-out', join(certs, 'server.crt')]);
  execFileSync('chmod', ['0644', join(certs, 'server.key')]);
  return join(dir, 'ca.crt');
}

/** Polls the stand-in's health endpoint until it answers; fails at once if its container exits. */
async function waitHealthy(container: Docker.Container, url: string): Promise<void> {
  const { request } = await import('node:https');
  const { readFileSync } = await import('node:fs');
  const ca = readFileSync(process.env.NODE_EXTRA_CA_CERTS!);
  const deadline = Date.now() + 60_000;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const req = request(url, { ca, timeout: 2000 }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      });
      req.on('error', () => resolve(false));
      req.on('timeout', () => req.destroy());
      req.end();
    });
    if (ok) return;
    const state = (await container.inspect()).State;
    if (!state.Running) {
      const logs = (await container.logs({ stdout: true, stderr: true, tail: 30 })).toString();
      throw new Error(`the ACI stand-in exited (${state.ExitCode}):\n${logs}`);
    }
    if (Date.now() > deadline) throw new Error('the ACI stand-in did not answer within 60 s');
    await new Promise((r) => setTimeout(r, 100)); // the server's start has no event to await from here
  }
}

declare module 'vitest' {
  export interface ProvidedContext {
    aciStandin: AciStandin;
  }
}
