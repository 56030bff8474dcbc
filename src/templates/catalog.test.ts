import { describe, expect, it } from 'vitest';
import { parseSpec } from '../policy/spec.js';
import { idleForMs, parseIdlePolicy } from '../sandbox/idle.js';
import { getTemplate, withTemplate } from './catalog.js';
import { wardenImage } from '../images/catalog.js';

describe('templates', () => {
  const rv = getTemplate('react-vite');

  it("gives react-vite seed 3's caps, the npm allowlist, port 3001 and a workspace volume", () => {
    const spec = parseSpec(withTemplate({ key: 'conv-1' }, rv));
    expect(spec).toMatchObject({ image: wardenImage('react-vite'), template: 'react-vite', key: 'conv-1', network: 'allowlist', ports: [3001], workspaceVolume: true });
    expect(spec.resources.memory).toBe(512 * 1024 ** 2);
    expect(spec.resources.cpus).toBe(0.5);
    expect(spec.egress.presets).toEqual(['npm']);
  });

  it("lets the caller's fields win, merging resources and egress and keeping the template's port", () => {
    const spec = parseSpec(withTemplate({ resources: { memory: '1g' }, egress: { presets: ['github'] }, ports: [4000] }, rv));
    expect(spec.resources.memory).toBe(1024 ** 3);
    expect(spec.resources.cpus).toBe(0.5);
    expect(spec.egress.presets).toEqual(['npm', 'github']);
    expect(spec.ports).toEqual([4000, 3001]);
  });

  it('treats fields given as undefined as not given (an HTTP body or CLI flags may carry them)', () => {
    const spec = parseSpec(withTemplate({ key: 'k', network: undefined, image: undefined }, rv));
    expect(spec.network).toBe('allowlist');
    expect(spec.image).toBe(wardenImage('react-vite'));
  });

  it('names the known templates when one is unknown', () => {
    expect(() => getTemplate('vue')).toThrow("template: unknown template 'vue'; known: react-vite");
  });

  it('refuses published ports on network none, privileged ports on allowlist, and a host workspace with a volume', () => {
    expect(() => parseSpec({ network: 'none', ports: [3001] })).toThrow(/publishing ports needs network: 'open' or 'allowlist'/);
    expect(() => parseSpec({ network: 'allowlist', ports: [80] })).toThrow(/ports\.0: port 80: an allowlist sandbox publishes ports >= 1024 only/);
    expect(() => parseSpec({ workspace: '/srv/x', workspaceVolume: true })).toThrow(/a host workspace and a workspace volume exclude each other/);
    expect(parseSpec({ network: 'allowlist', ports: [3001] }).ports).toEqual([3001]);
  });
});

describe('idle policy', () => {
  const now = Date.parse('2026-01-01T12:00:00Z');

  it('measures idleness from the latest of start, SDK activity and preview traffic', () => {
    expect(idleForMs({ startedAt: '2026-01-01T11:00:00Z' }, now)).toBe(3_600_000);
    expect(idleForMs({ startedAt: '2026-01-01T11:00:00Z', sdkAt: now - 60_000 }, now)).toBe(60_000);
    expect(idleForMs({ startedAt: '2026-01-01T11:00:00Z', sdkAt: now - 60_000, preview: { at: now - 5_000, open: 0 } }, now)).toBe(5_000);
  });

  it('treats an open preview connection (a watching browser) as activity', () => {
    expect(idleForMs({ startedAt: '2026-01-01T10:00:00Z', preview: { at: now - 3_600_000, open: 1 } }, now)).toBe(0);
  });

  it('validates the policy with units', () => {
    expect(parseIdlePolicy({ idleAfter: '10m' }).idleAfter).toBe(600_000);
    expect(() => parseIdlePolicy({ idleAfter: 'soon' })).toThrow(/idleAfter: 'soon' is not a duration/);
  });
});
