import { describe, expect, it } from 'vitest';
import { sandboxHardening } from '../policy/hardening.js';
import { assertCapabilities, execCapabilities, requiredCapabilities } from './capabilities.js';
import type { SandboxPlan } from './sandbox-runtime.js';

function plan(over: Partial<SandboxPlan> = {}): SandboxPlan {
  return {
    id: 'sbx-1',
    name: 'one',
    image: 'warden-sandbox:latest',
    labels: {},
    record: { version: 1, id: 'sbx-1', spec: {}, owner: 'me', instance: 'default', lifetime: 'ephemeral', createdAt: '2026-01-01T00:00:00.000Z', policyHash: 'x', user: { uid: 1000, gid: 1000 } },
    owner: { link: 'l', owner: 'me' },
    lifetime: 'ephemeral',
    hardening: sandboxHardening({ uid: 1000, gid: 1000 }),
    init: [],
    env: {},
    workdir: '/workspace',
    resources: { memoryBytes: 1 << 30, nanoCpus: 1e9, pids: 256, tmpBytes: 1 << 26, homeBytes: 1 << 26 },
    workspace: { kind: 'tmpfs', sizeBytes: 1 << 26 },
    mounts: [],
    egress: { mode: 'none' },
    preview: [],
    ...over,
  };
}

describe('required capabilities of a plan (no engine)', () => {
  it('names what each part of a plan needs', () => {
    expect(requiredCapabilities(plan()).map((n) => n.capability)).toEqual(['egressNone']);
    const all = requiredCapabilities(
      plan({
        workspace: { kind: 'host', path: '/srv/w' },
        mounts: [{ source: '/etc/x', target: '/x', readOnly: true }],
        egress: { mode: 'allowlist', presets: [], allow: [], credentials: [], addHosts: {}, secrets: {} },
        preview: [{ containerPort: 3000, hostIp: '127.0.0.1' }],
        isolation: 'gvisor',
        resources: { memoryBytes: 1, nanoCpus: 1, pids: 1, tmpBytes: 1, homeBytes: 1, diskBytes: 5 },
      }),
    ).map((n) => n.capability);
    expect(all).toEqual(['hostMounts', 'hostMounts', 'egressAllowlist', 'preview', 'gvisor', 'diskQuota']);
    expect(requiredCapabilities(plan({ workspace: { kind: 'volume', seedFromImage: true }, egress: { mode: 'open' } })).map((n) => n.capability)).toEqual(['workspaceVolume', 'egressOpen']);
    expect(execCapabilities({ tty: { cols: 80, rows: 24 } })).toEqual([{ capability: 'tty', because: 'a terminal (tty)' }]);
    expect(execCapabilities({})).toEqual([]);
  });

  it('refuses with UNSUPPORTED_ON_RUNTIME naming the capability, the cause and the hint', () => {
    const check = (): void => assertCapabilities('aci', new Set(['egressOpen']), requiredCapabilities(plan()), { egressNone: "use network: 'open'" });
    expect(check).toThrow(expect.objectContaining({ code: 'UNSUPPORTED_ON_RUNTIME', details: { runtime: 'aci', capability: 'egressNone' } }));
    expect(check).toThrow("the 'aci' runtime cannot do network: 'none': it lacks the capability 'egressNone'; use network: 'open'");
    expect(() => assertCapabilities('aci', new Set(['egressNone']), requiredCapabilities(plan()))).not.toThrow();
  });
});
