import { copyFile, mkdir, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { loadSecrets, PLACEHOLDER, PROVIDERS } from '../egress/credentials.js';
import { EGRESS_PROXY_URL } from '../egress/env.js';
import { WardenError } from '../errors.js';
import type { AuthMode } from './config.js';
import { GEMINI_OAUTH_SETTINGS } from './gemini-profile.js';
import type { AgentProfile } from './profile.js';

/** How a run authenticates: what the sandbox's egress allows, the CLI's endpoint and key. */
export interface ResolvedAuth {
  mode: AuthMode;
  /** The model API's base URL as the sandbox reaches it. */
  baseUrl: string;
  /** The key the CLI sees: a placeholder (keyless), the real key (env), none (files). */
  apiKey?: string;
  egress: { credentials: Array<'anthropic' | 'openai' | 'gemini'>; allow: string[]; presets: string[] };
  /** Credentials files to copy into the state dir (files mode). */
  files: Array<{ from: string; to: string }>;
  warnings: string[];
}

/** Secrets from the environment (both spellings), WARDEN_SECRETS_FILE and the config's `secrets`. */
export function agentSecrets(configSecrets: Record<string, string> = {}, env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  return loadSecrets({ ...configSecrets, ...env });
}

/** A base URL as an egress allow pattern (host:port). */
export function allowPatternOf(base: string): string {
  const u = new URL(base);
  return `${u.hostname}:${u.port || (u.protocol === 'https:' ? '443' : '80')}`;
}

/** Decide endpoint, key and egress for one run. Errors name the missing variable or file. */
export function resolveAuth(profile: AgentProfile, mode: AuthMode, secrets: Record<string, string>, hostHome: string): ResolvedAuth {
  const def = PROVIDERS[profile.provider];
  const upstream = (secrets[def.baseEnv] ?? def.defaultBase).replace(/\/+$/, '');
  const secret = secrets[def.secretEnv];
  const missing = (): WardenError =>
    new WardenError(
      'AGENT_AUTH_MISSING',
      `${profile.name} (auth '${mode}') needs an API key: set ${def.plainEnv} or ${def.secretEnv} in Warden's environment, its secrets file (WARDEN_SECRETS_FILE) or the agents config's secrets; or use auth 'files' for a subscription login`,
    );
  switch (mode) {
    case 'keyless':
      if (!secret) throw missing();
      return { mode, baseUrl: `${EGRESS_PROXY_URL}/${profile.provider}`, apiKey: PLACEHOLDER, egress: { credentials: [profile.provider], allow: [], presets: [] }, files: [], warnings: [] };
    case 'env':
      if (!secret) throw missing();
      return {
        mode,
        baseUrl: upstream,
        apiKey: secret,
        egress: { credentials: [], allow: [allowPatternOf(upstream)], presets: [] },
        files: [],
        warnings: [`${profile.name}: auth 'env' passes the real ${def.plainEnv} into the sandbox; the agent can read it`],
      };
    case 'files':
      return {
        mode,
        baseUrl: upstream,
        egress: { credentials: [], allow: secrets[def.baseEnv] ? [allowPatternOf(upstream)] : [], presets: [profile.preset] },
        files: profile.credentialFiles.map((f) => ({ from: join(hostHome, f.host), to: f.state, ...(f.optional ? { optional: true } : {}) })),
        warnings: [`${profile.name}: auth 'files' copies your CLI login (${profile.credentialFiles.map((f) => `~/${f.host}`).join(', ')}) into the sandbox; the agent can read it`],
      };
  }
}

/** Copy the credentials files into the host state dir (files mode); a missing required file is an error. */
export async function installCredentialFiles(profile: AgentProfile, auth: ResolvedAuth, stateDir: string): Promise<void> {
  if (auth.mode !== 'files') return;
  for (const f of auth.files as Array<{ from: string; to: string; optional?: boolean }>) {
    const present = await stat(f.from).then((s) => s.isFile(), () => false);
    if (!present) {
      if (f.optional) continue;
      throw new WardenError('AGENT_AUTH_MISSING', `${profile.name} (auth 'files') needs ${f.from}, which does not exist; log in with the ${profile.name} CLI on this host first, or use auth 'keyless' with an API key`);
    }
    const to = join(stateDir, f.to);
    await mkdir(dirname(to), { recursive: true });
    await copyFile(f.from, to);
  }
  if (profile.name === 'gemini') await writeFile(join(stateDir, 'warden-system-settings.json'), GEMINI_OAUTH_SETTINGS);
}
