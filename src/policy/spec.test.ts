import { describe, expect, it } from 'vitest';
import { ValidationError } from '../errors.js';
import { parseSpec } from './spec.js';
import { compilePlan, tmpfsSize, type PlanContext } from './compile.js';
import { parseRecord } from './record.js';
import { wardenImage } from '../images/catalog.js';

const ctx: PlanContext = { id: 'sbx-1', owner: { link: 'link0', owner: 'me@host' }, instance: 'default', createdAt: '2026-01-01T00:00:00Z', user: { uid: 1000, gid: 1000 }, labels: { 'warden.test-run': 'x' }, egress: { secrets: {} } };

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

describe('compilePlan', () => {
  it('writes the record (env by names only), the selection labels and confined resources', () => {
    const p = compilePlan(parseSpec({ workspace: '/w', env: { TOKEN: 'secret' }, resources: { memory: '1g', cpus: 1.5, pids: 100 }, key: 'proj', labels: { team: 'a' } }), ctx);
    expect(p).toMatchObject({ id: 'sbx-1', name: 'k-proj', key: 'proj', lifetime: 'ephemeral', labels: { team: 'a', 'warden.test-run': 'x' } });
    expect(p.record).toMatchObject({ version: 1, id: 'sbx-1', owner: 'me@host', instance: 'default', key: 'proj', lifetime: 'ephemeral', createdAt: '2026-01-01T00:00:00Z', user: { uid: 1000, gid: 1000 } });
    expect(p.record.policyHash).toMatch(/^[0-9a-f]{16}$/);
    expect(p.record.spec.env).toEqual(['TOKEN']);
    expect(JSON.stringify(p.record)).not.toContain('secret');
    expect(p.env.TOKEN).toBe('secret'); // the value lives only in the unit's environment
    expect(parseRecord(JSON.stringify(p.record))).toEqual(p.record);
    expect(p.resources).toMatchObject({ memoryBytes: 1024 ** 3, nanoCpus: 1.5e9, pids: 100 });
    expect(p.egress).toEqual({ mode: 'none' });
    expect(p.hardening).toMatchObject({ containerUser: '0:0', workloadUser: { uid: 1000, gid: 1000 }, init: 'guard' });
    expect(p.workspace).toEqual({ kind: 'host', path: '/w' });
    expect(p.mounts).toEqual([]);
  });

  it('names a unit by its spec name, else its key, else its id', () => {
    expect(compilePlan(parseSpec({ name: 'web' }), ctx).name).toBe('web');
    expect(compilePlan(parseSpec({ key: 'a b' }), ctx).name).toBe(`kb-${Buffer.from('a b').toString('base64url')}`);
    expect(compilePlan(parseSpec({}), ctx).name).toBe('sbx-1');
    expect(compilePlan(parseSpec({}), { ...ctx, name: 'pool-react-vite-sbx-1' }).name).toBe('pool-react-vite-sbx-1');
  });

  it('gives a workspace-less sandbox a private tmpfs workspace, a volume one its volume', () => {
    expect(compilePlan(parseSpec({}), ctx).workspace).toMatchObject({ kind: 'tmpfs' });
    expect(compilePlan(parseSpec({ workspaceVolume: true }), ctx).workspace).toEqual({ kind: 'volume', seedFromImage: true });
  });

  it('makes the guard (PID 1) end the sandbox at maxRuntime, tied to its owner when ephemeral', () => {
    expect(compilePlan(parseSpec({}), ctx).init).toEqual(['/.warden/warden-guard', 'init', '--tied']);
    expect(compilePlan(parseSpec({ maxRuntime: '90.5s', lifetime: 'persistent' }), ctx).init).toEqual(['/.warden/warden-guard', 'init', '--max-runtime', '91']);
    expect(compilePlan(parseSpec({ workspace: '/w', resources: { disk: '1m' } }), ctx).init).toEqual(['/.warden/warden-guard', 'init', '--tied', '--disk-quota', '1024', '--disk-interval', '2', '--workspace', '/workspace']);
  });

  it('never sizes a tmpfs above half the memory cap (ENOSPC, not an OOM kill)', () => {
    const p = compilePlan(parseSpec({ resources: { memory: '96m' } }), ctx);
    expect([p.resources.tmpBytes, p.resources.homeBytes, p.workspace.kind === 'tmpfs' ? p.workspace.sizeBytes : 0]).toEqual([48 * 1024 ** 2, 48 * 1024 ** 2, 48 * 1024 ** 2]);
    expect(tmpfsSize(16 * 1024 ** 2, 2 * 1024 ** 3)).toBe(16 * 1024 ** 2);
  });

  it('changes the policy hash when the policy changes, not when env does', () => {
    const h = (s: object) => compilePlan(parseSpec(s), ctx).record.policyHash;
    expect(h({ env: { A: '1' } })).toBe(h({ env: { A: '2' } }));
    expect(h({ resources: { memory: '1g' } })).not.toBe(h({ resources: { memory: '2g' } }));
  });

  it('tells an allowlisted sandbox where its proxy is and gives the proxy its policy; the spec env wins', () => {
    const p = compilePlan(parseSpec({ network: 'allowlist', egress: { allow: ['api.example.com'], presets: ['npm'] }, env: { HTTP_PROXY: 'mine' } }), ctx);
    expect(p.egress).toMatchObject({ mode: 'allowlist', allow: ['api.example.com'], presets: ['npm'], credentials: [] });
    expect(p.env).toMatchObject({ HTTPS_PROXY: 'http://warden-proxy:3128', HTTP_PROXY: 'mine', NO_PROXY: expect.stringContaining('warden-proxy') });
  });

  it('names the missing secret of a keyless credential before anything is made', () => {
    expect(() => compilePlan(parseSpec({ network: 'allowlist', egress: { credentials: ['github'] } }), ctx)).toThrow(/WARDEN_GITHUB_TOKEN/);
    const p = compilePlan(parseSpec({ network: 'allowlist', egress: { credentials: ['github'] } }), { ...ctx, egress: { secrets: { WARDEN_GITHUB_TOKEN: 't0k' } } });
    expect(JSON.stringify(p.env)).not.toContain('t0k');
    expect(p.env.GIT_CONFIG_VALUE_0).toBe('https://github.com/');
  });

  it('publishes ports only with a network, asks for gVisor by isolation, and marks pool members', () => {
    expect(compilePlan(parseSpec({ network: 'open', ports: [3000, { container: 4000, host: 4001 }] }), ctx).preview).toEqual([
      { containerPort: 3000, hostIp: '127.0.0.1' },
      { containerPort: 4000, hostIp: '127.0.0.1', hostPort: 4001 },
    ]);
    expect(compilePlan(parseSpec({ runtime: 'runsc' }), ctx).isolation).toBe('gvisor');
    const member = compilePlan(parseSpec({}), { ...ctx, pool: { id: 'pool-1', signature: 'sig' } });
    expect(member.pool).toEqual({ id: 'pool-1', signature: 'sig' });
    expect(member.record.poolSignature).toBe('sig');
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
