import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.js';
import { envFromFlags, specFromFlags } from '../../src/cli/spec-flags.js';
import { parseSpec } from '../../src/policy/spec.js';

/**
 * The CLI's parsing (flags -> spec, one schema) and its exit codes, run in-process with
 * WARDEN_RUNTIME=memory: no engine.
 */
describe('CLI flags -> spec', () => {
  it('maps every sandbox flag onto the spec the schema validates', () => {
    const spec = specFromFlags({
      image: 'warden-sandbox:latest',
      name: 'n1',
      key: 'k1',
      env: ['A=1', 'B=x=y'],
      memory: '512m',
      cpus: '1.5',
      pids: '100',
      tmpSize: '64m',
      label: ['team=a'],
      allow: ['example.com'],
      preset: ['npm'],
      addHost: ['svc:host-gateway'],
      port: ['3000'],
      mount: ['/srv/data:/data', '/srv/out:/out:rw'],
      lifetime: 'persistent',
      maxRuntime: '2h',
    });
    expect(spec).toMatchObject({
      image: 'warden-sandbox:latest',
      name: 'n1',
      key: 'k1',
      env: { A: '1', B: 'x=y' },
      resources: { memory: '512m', cpus: 1.5, pids: 100, tmpSize: '64m' },
      labels: { team: 'a' },
      network: 'allowlist',
      egress: { allow: ['example.com'], presets: ['npm'], addHosts: { svc: 'host-gateway' } },
      ports: [3000],
      mounts: [
        { source: '/srv/data', target: '/data', readOnly: true },
        { source: '/srv/out', target: '/out', readOnly: false },
      ],
      lifetime: 'persistent',
      maxRuntime: '2h',
    });
    const parsed = parseSpec(spec);
    expect(parsed.resources.memory).toBe(512 * 1024 ** 2);
    expect(parsed.maxRuntime).toBe(2 * 3_600_000);
  });

  it('credentials imply an allowlist and split on commas', () => {
    expect(specFromFlags({ credentials: ['anthropic,github', 'openai'] })).toMatchObject({ network: 'allowlist', egress: { credentials: ['anthropic', 'github', 'openai'] } });
  });

  it.each([
    [{ env: ['NOEQ'] }, /--env 'NOEQ' must be KEY=VALUE/],
    [{ env: ['=v'] }, /--env '=v'/],
    [{ label: ['nolabel'] }, /--label 'nolabel' must be KEY=VALUE/],
    [{ cpus: 'many' }, /--cpus 'many' is not a number/],
    [{ port: ['http'] }, /--port 'http' is not a number/],
    [{ mount: ['/only'] }, /--mount '\/only' must be SRC:DST/],
    [{ mount: ['/a:/b:rx'] }, /--mount '\/a:\/b:rx'/],
    [{ addHost: ['nohost'], allow: ['x.com'] }, /--add-host 'nohost'/],
  ])('refuses %j with a message naming the flag', (flags, msg) => {
    expect(() => specFromFlags(flags)).toThrow(msg);
  });

  it('env flags keep later values and empty values', () => {
    expect(envFromFlags(['A=1', 'A=2', 'E='])).toEqual({ A: '2', E: '' });
    expect(envFromFlags(undefined)).toEqual({});
  });
});

describe('warden CLI in-process over the memory runtime', () => {
  let out = '';
  let err = '';
  const saved = { ...process.env };
  beforeEach(() => {
    out = '';
    err = '';
    process.env.WARDEN_RUNTIME = 'memory';
    delete process.env.WARDEN_URL;
    vi.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => ((out += c.toString()), true));
    vi.spyOn(process.stderr, 'write').mockImplementation((c: string | Uint8Array) => ((err += c.toString()), true));
  });
  afterEach(() => {
    vi.restoreAllMocks();
    process.env = { ...saved };
  });

  it('--version answers 0 and prints a version', async () => {
    expect(await main(['--version'])).toBe(0);
    expect(out).toMatch(/\d+\.\d+\.\d+/);
  });

  it('run passes the command\'s exit code and output through', async () => {
    expect(await main(['run', '--', 'sh', '-c', 'echo from-inside; exit 7'])).toBe(7);
    expect(out).toContain('from-inside');
  });

  it('an invalid flag value is exit 125 with the field named', async () => {
    expect(await main(['run', '--memory', 'lots', '--', 'true'])).toBe(125);
    expect(err).toContain('resources.memory');
  });

  it('a flag the runtime cannot honour is exit 125 naming the capability', async () => {
    expect(await main(['run', '--network', 'open', '--', 'true'])).toBe(125);
    expect(err).toContain('egressOpen');
  });

  it('an unknown command or option is exit 125', async () => {
    expect(await main(['no-such-command'])).toBe(125);
    expect(await main(['run', '--no-such-flag', '--', 'true'])).toBe(125);
  });

  it('an unknown WARDEN_RUNTIME is refused naming the variable', async () => {
    process.env.WARDEN_RUNTIME = 'teleport';
    expect(await main(['ps'])).toBe(125);
    expect(err).toContain('WARDEN_RUNTIME');
  });
});
