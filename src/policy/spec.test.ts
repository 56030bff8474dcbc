import { describe, expect, it } from 'vitest';
import { ValidationError } from '../errors.js';
import { parseSpec } from './spec.js';
import { compileSpec, tmpfsSize } from './compile.js';
import { LABEL } from './labels.js';
import { wardenImage } from '../images/catalog.js';

const ctx = { id: 'sbx-1', containerName: 'warden-sbx-1', owner: 'me@host', createdAt: '2026-01-01T00:00:00Z', user: { uid: 1000, gid: 1000 }, extraLabels: { 'warden.test-run': 'x' }, guestVolume: 'warden-guest-test' };

describe('sandbox spec', () => {
  it('applies secure defaults', () => {
    const s = parseSpec({});
    expect(s).toMatchObject({ image: wardenImage('sandbox'), network: 'none', lifetime: 'ephemeral', workdir: '/workspace' });
    expect(s.resources).toEqual({ memory: 2 * 1024 ** 3, cpus: 2, pids: 512, tmpSize: 512 * 1024 ** 2, homeSize: 256 * 1024 ** 2 });
  });

  it('names each bad field and the fix', () => {
    try {
      parseSpec({ resources: { memory: '12x' }, maxRuntime: 'soon' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ValidationError);
      const msg = (err as Error).message;
      expect(msg).toContain("resources.memory: '12x' is not a memory size; use a number with a unit, e.g. 512m or 2g");
      expect(msg).toContain("maxRuntime: 'soon' is not a duration");
    }
  });

  it('refuses ports without a network, saying how to fix it', () => {
    expect(() => parseSpec({ ports: [3001] })).toThrow("ports: publishing ports needs network: 'open'");
  });

  it('validates egress patterns and presets, and wants network allowlist for them', () => {
    expect(() => parseSpec({ network: 'allowlist', egress: { allow: ['*.com'] } })).toThrow(/egress: '\*\.com' would allow almost everything/);
    expect(() => parseSpec({ network: 'allowlist', egress: { presets: ['bogus'] } })).toThrow(/unknown egress preset 'bogus'/);
    expect(() => parseSpec({ egress: { allow: ['api.example.com'] } })).toThrow(/needs network: 'allowlist'/);
    expect(parseSpec({ network: 'allowlist', egress: { presets: ['claude'], allow: ['*.github.com:443'] } }).egress.allow).toEqual(['*.github.com:443']);
  });

  it('refuses unknown fields instead of ignoring them', () => {
    expect(() => parseSpec({ privileged: true })).toThrow(/privileged/);
    expect(() => parseSpec({ resources: { swap: '1g' } })).toThrow(/swap/);
  });

  it('reserves warden.* labels and mount targets that Warden owns', () => {
    expect(() => parseSpec({ labels: { 'warden.managed': 'false' } })).toThrow(/reserved/);
    expect(() => parseSpec({ mounts: [{ source: '/srv', target: '/workspace' }] })).toThrow(/already mounted/);
    expect(() => parseSpec({ mounts: [{ source: '/srv', target: '/proc/x' }] })).toThrow(/\/proc/);
  });

  it('mounts extra paths read-only unless asked', () => {
    expect(parseSpec({ mounts: [{ source: '/srv', target: '/data' }] }).mounts[0]?.readOnly).toBe(true);
  });
});

describe('compileSpec', () => {
  it('labels everything, confines resources and keeps env values out of labels', () => {
    const c = compileSpec(parseSpec({ workspace: '/w', env: { TOKEN: 'secret' }, resources: { memory: '1g', cpus: 1.5, pids: 100 }, key: 'proj' }), ctx);
    expect(c.labels).toMatchObject({ [LABEL.managed]: 'true', [LABEL.id]: 'sbx-1', [LABEL.owner]: 'me@host', [LABEL.key]: 'proj', [LABEL.lifetime]: 'ephemeral', 'warden.test-run': 'x' });
    expect(c.labels[LABEL.policyHash]).toMatch(/^[0-9a-f]{16}$/);
    expect(JSON.stringify(c.labels)).not.toContain('secret');
    expect(c).toMatchObject({ memoryBytes: 1024 ** 3, nanoCpus: 1.5e9, pidsLimit: 100, network: 'none' });
    expect(c.hardening).toMatchObject({ containerUser: '0:0', workloadUser: { uid: 1000, gid: 1000 }, init: 'guard' });
    expect(c.mounts).toEqual([
      { source: '/w', target: '/workspace', readOnly: false },
      { source: 'warden-guest-test', target: '/.warden', readOnly: true, volume: { labels: {}, noCopy: true } },
    ]);
    expect(c.tmpfs.map((t) => t.target)).toEqual(['/tmp', '/home/agent']);
  });

  it('gives a workspace-less sandbox a private tmpfs /workspace', () => {
    expect(compileSpec(parseSpec({}), ctx).tmpfs.map((t) => t.target)).toContain('/workspace');
  });

  it('makes the guard (PID 1) end the sandbox at maxRuntime, tied to its owner when ephemeral', () => {
    expect(compileSpec(parseSpec({}), ctx).cmd).toEqual(['/.warden/warden-guard', 'init', '--tied']);
    expect(compileSpec(parseSpec({ maxRuntime: '90.5s', lifetime: 'persistent' }), ctx).cmd).toEqual(['/.warden/warden-guard', 'init', '--max-runtime', '91']);
    expect(compileSpec(parseSpec({ workspace: '/w', resources: { disk: '1m' } }), ctx).cmd).toEqual(['/.warden/warden-guard', 'init', '--tied', '--disk-quota', '1024', '--disk-interval', '2', '--workspace', '/workspace']);
  });

  it('never sizes a tmpfs above half the memory cap (ENOSPC, not an OOM kill)', () => {
    const c = compileSpec(parseSpec({ resources: { memory: '96m' } }), ctx);
    expect(c.tmpfs.map((t) => t.sizeBytes)).toEqual([48 * 1024 ** 2, 48 * 1024 ** 2, 48 * 1024 ** 2]);
    expect(tmpfsSize(16 * 1024 ** 2, 2 * 1024 ** 3)).toBe(16 * 1024 ** 2);
  });

  it('changes the policy hash when the policy changes, not when env does', () => {
    const h = (s: object) => compileSpec(parseSpec(s), ctx).labels[LABEL.policyHash];
    expect(h({ env: { A: '1' } })).toBe(h({ env: { A: '2' } }));
    expect(h({ resources: { memory: '1g' } })).not.toBe(h({ resources: { memory: '2g' } }));
  });
});

describe('image references', () => {
  it('follow the engine grammar: lowercase repositories, registries with a dot or port, tags, digests', async () => {
    const { IMAGE_RE } = await import('./spec.js');
    for (const ok of ['warden-sandbox:latest', 'registry.example.com/team/app:1.2', 'localhost:5000/x', 'a/b/c:1', 'my_img__x', `x@sha256:${'a'.repeat(64)}`]) expect(IMAGE_RE.test(ok), ok).toBe(true);
    // the engine refuses these only after Warden began making things (the fuzzer found 'Foo' as a 5xx)
    for (const bad of ['Foo', 'foo/Bar', '../x', 'x//y', 'a:b:c', '-x', 'x/', 'a..b', '.x']) expect(IMAGE_RE.test(bad), bad).toBe(false);
  });
});
