import { describe, expect, it } from 'vitest';
import { compilePlan, type PlanContext } from '../../policy/compile.js';
import { companionHardening } from '../../policy/hardening.js';
import { parseSpec, type SandboxSpecInput } from '../../policy/spec.js';
import type { ContainerSpec } from './engine-types.js';
import { toCreateOptions } from './mapping.js';
import { sandboxContainerSpec, type SandboxPlacement } from './sandbox-container.js';

/**
 * Golden tests of the whole engine create body: any change to confinement (capabilities, seccomp,
 * user, init, mounts, limits) shows up as a diff of these files. Update them on purpose with
 * `npx vitest run src/runtime/docker/mapping.test.ts -u` and review the diff.
 */
const ctx: PlanContext = {
  id: 'sbx-golden',
  owner: { link: 'link0', owner: 'me@host' },
  instance: 'default',
  createdAt: '2026-01-01T00:00:00.000Z',
  user: { uid: 1000, gid: 1000 },
  labels: {},
  egress: { secrets: {} },
};
const at: SandboxPlacement = { containerName: 'warden-sbx-golden', guestVolume: 'warden-guest-0123456789abcdef' };

/** spec -> plan (the core) -> the sandbox container (the Docker backend). */
const containerOf = (input: SandboxSpecInput, placement: Partial<SandboxPlacement> = {}): ContainerSpec => sandboxContainerSpec(compilePlan(parseSpec(input), ctx), { ...at, ...placement });

/** The spec label embeds the image tag of this run (WARDEN_IMAGE_TAG): golden files hold the default. */
const stable = (o: unknown): string => JSON.stringify(o, null, 2).replace(/warden-(sandbox|egress|guest):[A-Za-z0-9_.-]+/g, 'warden-$1:TAG') + '\n';

describe('Docker mapping (golden create bodies)', () => {
  it('a default sandbox', async () => {
    await expect(stable(toCreateOptions(containerOf({ image: 'warden-sandbox:latest' })))).toMatchFileSnapshot('./__golden__/sandbox-default.json');
  });

  it('a host-workspace sandbox with caps, a mount, max runtime and an image health check', async () => {
    const spec = containerOf(
      {
        image: 'warden-sandbox:latest',
        workspace: '/srv/p',
        mounts: [{ source: '/srv/data', target: '/data' }],
        resources: { memory: '256m', cpus: 0.5, pids: 64, disk: '1g' },
        maxRuntime: '1h',
        lifetime: 'persistent',
        network: 'open',
        ports: [3000],
      },
      { openNetwork: 'net-open-id' },
    );
    const body = toCreateOptions(spec, { Test: ['CMD-SHELL', 'curl -fs localhost:3000'], Interval: 10e9, Retries: 3 });
    await expect(stable(body)).toMatchFileSnapshot('./__golden__/sandbox-workspace.json');
  });

  it('a companion (egress proxy)', async () => {
    const spec: ContainerSpec = {
      name: 'warden-egress-sbx-golden',
      image: 'warden-egress:latest',
      cmd: ['node', '/app/main.js'],
      env: {},
      labels: { 'warden.role': 'egress-proxy' },
      hardening: companionHardening('65534:65534'),
      workdir: '/',
      mounts: [],
      tmpfs: [{ target: '/tmp', sizeBytes: 16 * 1024 * 1024, mode: '1777' }],
      memoryBytes: 256 * 1024 * 1024,
      nanoCpus: 1e9,
      pidsLimit: 64,
      network: { name: 'warden-net-sbx-golden', aliases: ['warden-proxy'] },
      ports: [],
      tiedToOwner: true,
    };
    await expect(stable(toCreateOptions(spec))).toMatchFileSnapshot('./__golden__/companion-proxy.json');
  });

  it('never gives the workload what the guard holds: the guard is PID 1 as root, the workload user is explicit', () => {
    const body = toCreateOptions(containerOf({}));
    expect(body.User).toBe('0:0');
    expect(body.HostConfig?.Init).toBe(false);
    expect(body.HostConfig?.CapDrop).toEqual(['ALL']);
    expect(body.HostConfig?.CapAdd).toEqual(['KILL', 'SETUID', 'SETGID', 'DAC_READ_SEARCH']);
    expect(body.Entrypoint).toEqual(['/.warden/warden-guard']);
    expect(body.HostConfig?.Ulimits).toEqual([{ Name: 'core', Soft: 0, Hard: 0 }]);
    // an image health check would run as root: without a guard prefix it is switched off
    const noPrefix = { ...containerOf({}), healthcheckPrefix: undefined } as ContainerSpec;
    expect(toCreateOptions(noPrefix, { Test: ['CMD', 'true'] }).Healthcheck).toEqual({ Test: ['NONE'] });
  });

  it('an allowlisted sandbox: its own network under the alias its forwarder uses, fail-fast DNS, the proxy in its env, no published ports', async () => {
    const spec = containerOf({ image: 'warden-sandbox:latest', network: 'allowlist', egress: { allow: ['api.example.com'] }, ports: [3001], key: 'conv-1' }, { egress: { network: 'warden-net-sbx-golden', proxyUrl: 'http://warden-proxy:3128' } });
    await expect(stable(toCreateOptions(spec))).toMatchFileSnapshot('./__golden__/sandbox-allowlist.json');
    expect(spec.network).toEqual({ name: 'warden-net-sbx-golden', aliases: ['warden-sandbox'] });
    expect(spec.ports).toEqual([]);
  });
});
