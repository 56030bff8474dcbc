import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadSecrets, PLACEHOLDER } from '../egress/credentials.js';
import { agentSecrets, installCredentialFiles, resolveAuth } from './auth.js';
import { parseAgentsConfig } from './config.js';
import { PROFILES } from './profiles.js';
import { stateKeyFor } from './state.js';

describe('secrets: plain provider names', () => {
  it('ANTHROPIC_API_KEY etc. are honoured; WARDEN_* wins; the environment wins over the file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'warden-secrets-'));
    try {
      const file = join(dir, 'secrets');
      await writeFile(file, 'OPENAI_API_KEY=from-file\nGEMINI_API_KEY=gem-file\nWARDEN_GITHUB_TOKEN=gh-file\n');
      const s = loadSecrets({ WARDEN_SECRETS_FILE: file, ANTHROPIC_API_KEY: 'plain', WARDEN_ANTHROPIC_API_KEY: 'warden', GEMINI_API_KEY: 'gem-env', GITHUB_TOKEN: 'gh-env' });
      expect(s).toMatchObject({ WARDEN_ANTHROPIC_API_KEY: 'warden', WARDEN_OPENAI_API_KEY: 'from-file', WARDEN_GEMINI_API_KEY: 'gem-env', WARDEN_GITHUB_TOKEN: 'gh-env' });
      expect(Object.keys(s)).not.toContain('OPENAI_API_KEY');
      expect(loadSecrets({ ANTHROPIC_API_KEY: 'plain' }).WARDEN_ANTHROPIC_API_KEY).toBe('plain');
      expect(agentSecrets({ OPENAI_API_KEY: 'cfg', WARDEN_OPENAI_BASE_URL: 'http://x' }, {})).toMatchObject({ WARDEN_OPENAI_API_KEY: 'cfg' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('auth modes', () => {
  const secrets = { WARDEN_ANTHROPIC_API_KEY: 'sk-real', WARDEN_ANTHROPIC_BASE_URL: 'http://gw.corp:8080/' };
  it('keyless: the proxy route and a placeholder; the real key stays out', () => {
    const a = resolveAuth(PROFILES.claude, 'keyless', secrets, '/home/u');
    expect(a).toMatchObject({ baseUrl: 'http://warden-proxy:3128/anthropic', apiKey: PLACEHOLDER, egress: { credentials: ['anthropic'] } });
    expect(JSON.stringify(PROFILES.claude.env({ prompt: 'p', baseUrl: a.baseUrl, auth: 'keyless' }, a.apiKey))).not.toContain('sk-real');
  });
  it('env: the real key and the upstream allowed on the proxy, with a warning', () => {
    const a = resolveAuth(PROFILES.claude, 'env', secrets, '/home/u');
    expect(a).toMatchObject({ baseUrl: 'http://gw.corp:8080', apiKey: 'sk-real', egress: { allow: ['gw.corp:8080'] } });
    expect(a.warnings[0]).toMatch(/agent can read it/);
  });
  it('a missing key names the variables to set', () => {
    expect(() => resolveAuth(PROFILES.codex, 'keyless', {}, '/h')).toThrow(/set OPENAI_API_KEY or WARDEN_OPENAI_API_KEY/);
  });
  it('files: the CLI login is copied into the state dir; a missing one says how to fix it', async () => {
    const home = await mkdtemp(join(tmpdir(), 'warden-home-'));
    const state = await mkdtemp(join(tmpdir(), 'warden-state-'));
    try {
      const a = resolveAuth(PROFILES.codex, 'files', {}, home);
      expect(a.egress.presets).toEqual(['codex']);
      await expect(installCredentialFiles(PROFILES.codex, a, state)).rejects.toThrow(/\.codex\/auth\.json, which does not exist; log in/);
      await import('node:fs/promises').then((fs) => fs.mkdir(join(home, '.codex')));
      await writeFile(join(home, '.codex', 'auth.json'), '{"token":"t"}');
      await installCredentialFiles(PROFILES.codex, a, state);
      expect(await readFile(join(state, 'auth.json'), 'utf8')).toBe('{"token":"t"}');
    } finally {
      await rm(home, { recursive: true, force: true });
      await rm(state, { recursive: true, force: true });
    }
  });
});

describe('profiles and config', () => {
  it('argv of each CLI in its no-questions-asked mode, with model and resume', () => {
    const base = { prompt: 'do it', baseUrl: 'http://warden-proxy:3128/openai', auth: 'keyless' as const, model: 'm1', resume: 'S1' };
    expect(PROFILES.claude.argv({ ...base, maxTurns: 3 })).toEqual(['claude', '-p', 'do it', '--output-format', 'stream-json', '--verbose', '--dangerously-skip-permissions', '--model', 'm1', '--resume', 'S1', '--max-turns', '3']);
    const codex = PROFILES.codex.argv(base);
    expect(codex.slice(0, 4)).toEqual(['codex', 'exec', '--json', '--dangerously-bypass-approvals-and-sandbox']);
    expect(codex).toContain('model_providers.warden={name="warden",base_url="http://warden-proxy:3128/openai/v1",env_key="OPENAI_API_KEY",wire_api="responses"}');
    expect(codex.slice(-3)).toEqual(['resume', 'S1', 'do it']);
    expect(PROFILES.gemini.argv(base)).toEqual(['gemini', '-p', 'do it', '--output-format', 'stream-json', '--yolo', '-m', 'm1', '--resume', 'S1']);
  });
  it('invalid config is an error naming the field, never a silent default', () => {
    expect(() => parseAgentsConfig({ agents: { claude: { auth: 'password' } } })).toThrow(/agents\.claude\.auth/);
    expect(() => parseAgentsConfig({ agents: { cursor: {} } })).toThrow();
    expect(parseAgentsConfig({}).git).toMatchObject({ mountGitconfig: false, token: 'none' });
  });
  it('state keys: derived from the workspace, validated when given', () => {
    expect(stateKeyFor({ workspace: '/a' })).toBe(stateKeyFor({ workspace: '/a' }));
    expect(stateKeyFor({ workspace: '/a' })).not.toBe(stateKeyFor({ workspace: '/b' }));
    expect(() => stateKeyFor({ stateKey: '../x' })).toThrow(/stateKey/);
  });
});
