import { describe, expect, it } from 'vitest';
import { parseAciSettings } from '../../config/aci.js';
import { guardInit } from '../../guest/argv.js';
import { sandboxHardening } from '../../policy/hardening.js';
import type { SandboxPlan } from '../sandbox-runtime.js';
import { aciCpu, aciInit, aciMemoryGb, groupBody, groupName, groupToUnit, unitState } from './mapping.js';
import { readRecordTags, recordTags, TAG } from './tags.js';
import { execArgv } from './exec.js';
import { aciVariantRef, registryRef } from '../../images/aci.js';

const settings = parseAciSettings({ subscriptionId: '00000000-1111-2222-3333-444444444444', resourceGroup: 'warden-rg', location: 'westeurope', registry: 'myacr.azurecr.io', registryUsername: 'puller', registryPassword: 'secret' });
const NOW = Date.parse('2026-01-01T00:00:00.000Z');

function plan(over: Partial<SandboxPlan> = {}): SandboxPlan {
  const id = 'sbx-golden';
  return {
    id,
    name: 'warden-k-project-42',
    key: 'project-42',
    image: 'warden-sandbox:latest',
    labels: { project: 'p42' },
    record: { version: 1, id, spec: { image: 'warden-sandbox:latest', network: 'open', env: ['HOME', 'API_KEY'] }, owner: 'me@host', instance: 'default', key: 'project-42', lifetime: 'ephemeral', createdAt: '2026-01-01T00:00:00.000Z', policyHash: 'abc', user: { uid: 1000, gid: 1000 } },
    owner: { link: 'aci-1-abcdef', owner: 'me@host' },
    lifetime: 'ephemeral',
    hardening: sandboxHardening({ uid: 1000, gid: 1000 }),
    init: guardInit({ maxRuntimeMs: 3_600_000, tied: true, diskIntervalS: 2, workspace: '/workspace' }),
    env: { HOME: '/home/agent', API_KEY: 'sk-secret' },
    workdir: '/workspace',
    resources: { memoryBytes: 1.5 * 1024 ** 3, nanoCpus: 1.5e9, pids: 256, tmpBytes: 1 << 26, homeBytes: 1 << 26, diskBytes: 2 * 1024 ** 3 },
    workspace: { kind: 'tmpfs', sizeBytes: 1 << 26 },
    mounts: [],
    egress: { mode: 'open' },
    preview: [{ containerPort: 3000, hostIp: '127.0.0.1' }],
    ...over,
  };
}

/** The group body with the record chunks decoded (readable in review). */
function readable(body: ReturnType<typeof groupBody>): unknown {
  const tags = Object.fromEntries(Object.entries(body.tags ?? {}).filter(([k]) => !k.startsWith(TAG.record)));
  return { ...body, tags: { ...tags, 'warden.r.*': readRecordTags(body.tags) } };
}

describe('ACI mapping (golden container group bodies, no engine)', () => {
  it('an ephemeral keyed sandbox with a preview port, max runtime and a disk cap', async () => {
    const body = groupBody(plan(), { ...settings, publicPreview: true }, NOW);
    await expect(`${JSON.stringify(readable(body), null, 2)}\n`).toMatchFileSnapshot('./__golden__/group-ephemeral.json');
  });

  it('a persistent sandbox pulling with a managed identity', async () => {
    const s = parseAciSettings({ ...settings, registryUsername: undefined, registryPassword: undefined, registryIdentity: '/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/ops/providers/Microsoft.ManagedIdentity/userAssignedIdentities/acr-pull' });
    const p = plan({ lifetime: 'persistent', key: undefined, name: 'plain', preview: [], init: guardInit({ tied: false, diskIntervalS: 2, workspace: '/workspace' }), resources: { memoryBytes: 512 * 1024 ** 2, nanoCpus: 0, pids: 64, tmpBytes: 1, homeBytes: 1 }, record: { ...plan().record, lifetime: 'persistent', key: undefined as never } });
    await expect(`${JSON.stringify(readable(groupBody(p, s, NOW)), null, 2)}\n`).toMatchFileSnapshot('./__golden__/group-persistent-identity.json');
  });

  it('names groups within ACI\'s rules, the same for the same instance and name only', () => {
    for (const n of ['warden-k-project-42', 'Weird Name!!', '--', 'x'.repeat(200), 'ünïcode', 'a--b']) {
      const g = groupName('default', n);
      expect(g, n).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
      expect(g.length, n).toBeLessThanOrEqual(63);
      expect(g, n).not.toContain('--');
      expect(groupName('default', n)).toBe(g);
      expect(groupName('other', n)).not.toBe(g);
    }
    expect(groupName('default', 'A')).not.toBe(groupName('default', 'a'));
  });

  it('asks ACI for whole hundredths of a CPU and tenths of a GB, never less than a tenth', () => {
    expect([aciCpu(0), aciCpu(1e9), aciCpu(1.5e9), aciCpu(0.333e9), aciCpu(1)]).toEqual([1, 1, 1.5, 0.34, 0.1]);
    expect([aciMemoryGb(1024 ** 3), aciMemoryGb(1.25 * 1024 ** 3), aciMemoryGb(1)]).toEqual([1, 1.3, 0.1]);
  });

  it('gives the guard the owner tie instead of the stdin link, and a disk quota for resources.disk', () => {
    const init = aciInit(plan(), 30);
    expect(init).not.toContain('--tied');
    expect(init.slice(-4)).toEqual(['--tie', '/run/warden/tie', '--tie-grace', '30']);
    expect(init.join(' ')).toContain('--max-runtime 3600 --disk-quota 2097152 --disk-interval 2 --workspace /workspace');
    expect(aciInit(plan({ lifetime: 'persistent', init: guardInit({ tied: false, diskIntervalS: 2, workspace: '/workspace' }), resources: { ...plan().resources, diskBytes: undefined } }), 30)).toEqual(['/.warden/warden-guard', 'init']);
  });

  it('refuses what ACI cannot give before anything is made', () => {
    expect(() => groupBody(plan({ resources: { ...plan().resources, nanoCpus: 8e9 } }), settings, NOW)).toThrow(expect.objectContaining({ code: 'INVALID_SPEC', message: expect.stringContaining('at most 4 CPUs and 16 GB') }));
    expect(() => groupBody(plan({ preview: [{ containerPort: 3000, hostIp: '127.0.0.1', hostPort: 8080 }] }), settings, NOW)).toThrow('host port 8080 cannot be chosen');
    const big = plan({ labels: Object.fromEntries(Array.from({ length: 3000 }, (_, i) => [`label-${i}`, `${i}`.repeat(20) + Math.random()])) });
    expect(() => groupBody(big, settings, NOW)).toThrow(expect.objectContaining({ code: 'INVALID_SPEC', message: expect.stringContaining("ACI keeps at most") }));
  });

  it('reads a unit back from its tags, and nothing from a group that is not Warden\'s', () => {
    const body = groupBody(plan(), { ...settings, publicPreview: true }, NOW);
    const g = { ...body, name: 'warden-x', id: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerInstance/containerGroups/warden-x', provisioningState: 'Succeeded', ipAddress: { ...body.ipAddress!, ip: '20.1.2.3' }, containers: [{ ...body.containers[0]!, instanceView: { currentState: { state: 'Running', startTime: new Date(NOW) } } }] };
    const u = groupToUnit(g as never)!;
    expect(u).toMatchObject({ id: 'sbx-golden', name: 'warden-k-project-42', key: 'project-42', state: 'running', labels: { project: 'p42' }, ports: [{ containerPort: 3000, url: 'http://20.1.2.3:3000', hostIp: '20.1.2.3', hostPort: 3000 }], startedAt: '2026-01-01T00:00:00.000Z' });
    expect(u.record).toEqual(plan().record);
    expect(groupToUnit({ ...g, tags: { [TAG.managed]: 'true' } } as never)).toBeUndefined();
    expect(groupToUnit({ ...g, tags: { ...g.tags, [`${TAG.record}0`]: 'garbage' } } as never)).toBeUndefined();
    expect(readRecordTags(recordTags({ record: plan().record, labels: {}, workdir: '/w' }, 0))).toBeUndefined(); // no warden.managed
  });

  it('maps ARM states to the contract\'s', () => {
    const s = (provisioningState: string, groupState?: string, container?: string): string =>
      unitState({ provisioningState, ...(groupState ? { instanceView: { state: groupState } } : {}), containers: container ? [{ name: 'sandbox', instanceView: { currentState: { state: container } } }] : [] } as never);
    expect([s('Pending'), s('Creating'), s('Deleting'), s('Failed'), s('Succeeded', 'Running', 'Running'), s('Succeeded', 'Stopped'), s('Succeeded', 'Succeeded', 'Terminated'), s('Succeeded', 'Running', 'Waiting')]).toEqual(['creating', 'creating', 'removing', 'failed', 'running', 'stopped', 'stopped', 'creating']);
  });

  it('reaches another exec user through the guard (ACI has no per-exec user)', () => {
    expect(execArgv({ cmd: ['id'], user: '0:0' })).toEqual(['id']);
    expect(execArgv({ cmd: ['id'], user: '1000:1001' })).toEqual(['/.warden/warden-guard', 'exec', '--uid', '1000', '--gid', '1001', '--', 'id']);
    expect(execArgv({ cmd: ['id'], user: '1000' }).slice(2, 6)).toEqual(['--uid', '1000', '--gid', '1000']);
    expect(() => execArgv({ cmd: ['id'], user: 'agent' })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => execArgv({ cmd: [], user: '0:0' })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });

  it('maps image names to the registry and to their ACI variants', () => {
    expect(registryRef('warden-sandbox:1.2', 'myacr.azurecr.io')).toBe('myacr.azurecr.io/warden-sandbox:1.2');
    expect(registryRef('other.azurecr.io/x:1', 'myacr.azurecr.io')).toBe('other.azurecr.io/x:1');
    expect(registryRef('localhost:5000/x', 'myacr.azurecr.io')).toBe('localhost:5000/x');
    expect(registryRef('library/debian:12', 'myacr.azurecr.io')).toBe('myacr.azurecr.io/library/debian:12');
    expect(aciVariantRef('warden-sandbox:t')).toBe('warden-aci-sandbox:t');
    expect(aciVariantRef('acme/tool')).toBe('acme/warden-aci-tool:latest');
  });
});
