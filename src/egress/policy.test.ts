import { describe, expect, it } from 'vitest';
import { buildRules, decide, parseRule } from './policy.js';

describe('egress patterns', () => {
  it('parses hosts, wildcards, ports and IPs', () => {
    expect(parseRule('API.Anthropic.com')).toMatchObject({ host: 'api.anthropic.com', wildcard: false });
    expect(parseRule('*.github.com:443')).toMatchObject({ host: 'github.com', wildcard: true, ports: [443] });
    expect(parseRule('10.1.2.3:8080')).toMatchObject({ host: '10.1.2.3', ports: [8080] });
  });
  it('refuses what would allow too much, saying why', () => {
    expect(() => parseRule('*')).toThrow(/every host/);
    expect(() => parseRule('*.com')).toThrow(/almost everything under \.com/);
    expect(() => parseRule('bad_host!')).toThrow(/not a host name pattern/);
    expect(() => parseRule('a.com:70000')).toThrow(/out of range/);
    expect(() => parseRule('*.1.2.3.4')).toThrow(/not a host name pattern|IP/);
  });
  it('names unknown presets and the known ones', () => {
    expect(() => buildRules(['nope'], [])).toThrow(/unknown egress preset 'nope'; known: claude, gemini/);
  });
});

describe('decide', () => {
  const rules = buildRules(['github'], ['api.example.com', 'files.example.org:8443']);
  it('allows listed hosts on their ports and names the rule', () => {
    expect(decide(rules, 'api.github.com', 443)).toEqual({ allowed: true, rule: 'preset:github *.github.com' });
    expect(decide(rules, 'github.com', 443).allowed).toBe(true);
    expect(decide(rules, 'API.EXAMPLE.COM.', 80).allowed).toBe(true);
    expect(decide(rules, 'files.example.org', 8443).allowed).toBe(true);
  });
  it('denies other hosts, lookalikes and other ports, saying which policy', () => {
    expect(decide(rules, 'evil.com', 443)).toEqual({ allowed: false, rule: "evil.com is not in the sandbox's egress allowlist" });
    expect(decide(rules, 'notgithub.com', 443).allowed).toBe(false);
    expect(decide(rules, 'github.com.evil.com', 443).allowed).toBe(false);
    expect(decide(rules, 'api.example.com', 22)).toMatchObject({ allowed: false, rule: expect.stringMatching(/port 22 not allowed for api.example.com/) });
  });
});
