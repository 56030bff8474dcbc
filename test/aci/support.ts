import { ContainerInstanceManagementClient, type ContainerGroup } from '@azure/arm-containerinstance';
import { ClientSecretCredential } from '@azure/identity';
import { inject } from 'vitest';
import type { AciStandin } from './global-setup.js';

export const standin = (): AciStandin => inject('aciStandin');

/** A credential exactly as a deployment would make it, with the authority pointed at the stand-in. */
export function credential(who: { clientId: string; clientSecret: string } = standin()): ClientSecretCredential {
  const s = standin();
  return new ClientSecretCredential(s.tenantId, who.clientId, who.clientSecret, { authorityHost: s.endpoint, disableInstanceDiscovery: true });
}

/** The real SDK client against the stand-in (ARM's audience, as against Azure). */
export function aciClient(cred = credential()): ContainerInstanceManagementClient {
  const s = standin();
  return new ContainerInstanceManagementClient(cred, s.subscriptionId, { endpoint: s.endpoint, credentialScopes: ['https://management.azure.com/.default'] });
}

let n = 0;
/** A group name unique to this run and test file. */
export function groupName(tag: string): string {
  return `w-${standin().runId}-${tag}-${process.pid % 1000}-${n++}`.toLowerCase();
}

/** A one-container group of the sandbox image on the emulated registry. */
export function sandboxGroup(opts: { command?: string[]; restartPolicy?: 'Always' | 'OnFailure' | 'Never'; env?: Record<string, string>; ports?: number[] } = {}): ContainerGroup {
  const s = standin();
  return {
    location: s.location,
    osType: 'Linux',
    restartPolicy: opts.restartPolicy ?? 'Never',
    imageRegistryCredentials: [{ server: s.registry, username: 'warden', password: 'registry-password' }],
    containers: [
      {
        name: 'sandbox',
        image: s.sandboxImage,
        command: opts.command ?? ['sleep', 'infinity'],
        resources: { requests: { cpu: 0.5, memoryInGB: 0.5 } },
        environmentVariables: Object.entries(opts.env ?? {}).map(([name, value]) => ({ name, value })),
        ports: (opts.ports ?? []).map((port) => ({ port, protocol: 'TCP' })),
      },
    ],
    ...(opts.ports?.length ? { ipAddress: { type: 'Public', ports: opts.ports.map((port) => ({ port, protocol: 'TCP' })) } } : {}),
  };
}

/** Raw HTTPS to the stand-in's ARM with a real token (for what the SDK would refuse to send). */
export async function rawArm(method: string, path: string, body?: string, opts: { token?: string | null; apiVersion?: string | null } = {}): Promise<{ status: number; json: any; headers: Headers }> {
  const s = standin();
  const token = opts.token === undefined ? (await credential().getToken('https://management.azure.com/.default'))!.token : opts.token;
  const url = new URL(`${s.endpoint}${path}`);
  const v = opts.apiVersion === undefined ? '2023-05-01' : opts.apiVersion;
  if (v !== null) url.searchParams.set('api-version', v);
  const res = await fetch(url, { method, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body } : {}) });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined, headers: res.headers };
}

export function groupPath(name: string, rg = standin().resourceGroup): string {
  return `/subscriptions/${standin().subscriptionId}/resourceGroups/${rg}/providers/Microsoft.ContainerInstance/containerGroups/${name}`;
}

/** Every Docker container the stand-in runs for a group (by its label). */
export async function engineObjects(name: string): Promise<string[]> {
  const { default: Docker } = await import('dockerode');
  const s = standin();
  const all = await new Docker().listContainers({ all: true, filters: { label: [`aci.standin=${s.runId}`] } });
  return all.filter((c) => c.Labels['aci.group']?.endsWith(`/containerGroups/${name}`)).map((c) => c.Id);
}

/** Reads a stream to its end. */
export async function collect(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c as string));
  return Buffer.concat(chunks);
}

/**
 * Polls `read` until `done` holds (state with no event to await: a container's log lines, a process
 * gone); fails with the last value after `timeoutMs`.
 */
export async function eventually<T>(read: () => Promise<T>, done: (v: T) => boolean, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (done(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last value: ${JSON.stringify(v)?.slice(0, 300)}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}
