import { readFileSync } from 'node:fs';
import { WardenError } from '../errors.js';

/**
 * Keyless credentials: the proxy holds the real keys and injects them; the sandbox only ever sees a
 * placeholder. Each provider is a route on the proxy (`http://warden-proxy:3128/<provider>/...`)
 * forwarded to its upstream base URL (configurable: corporate gateways, a fake upstream in tests).
 */
export type Provider = 'anthropic' | 'openai' | 'gemini' | 'github';
export const PROVIDER_NAMES: Provider[] = ['anthropic', 'openai', 'gemini', 'github'];

export const PLACEHOLDER = 'warden-placeholder-key';

interface ProviderDef {
  secretEnv: string;
  /** The provider's own name for the secret (ANTHROPIC_API_KEY, ...), honoured when secretEnv is unset. */
  plainEnv: string;
  baseEnv: string;
  defaultBase: string;
  /** Headers the sandbox may have sent that the proxy drops before injecting the real ones. */
  strip: string[];
  inject: (secret: string) => Record<string, string>;
  /** Environment that points the sandbox's tools at the route. */
  sandboxEnv: (route: string) => Record<string, string>;
}

export const PROVIDERS: Record<Provider, ProviderDef> = {
  anthropic: {
    secretEnv: 'WARDEN_ANTHROPIC_API_KEY',
    plainEnv: 'ANTHROPIC_API_KEY',
    baseEnv: 'WARDEN_ANTHROPIC_BASE_URL',
    defaultBase: 'https://api.anthropic.com',
    strip: ['x-api-key', 'authorization'],
    // OAuth tokens (subscription logins) go as a bearer token, API keys as x-api-key
    inject: (s): Record<string, string> => (s.startsWith('sk-ant-oat') ? { authorization: `Bearer ${s}` } : { 'x-api-key': s }),
    sandboxEnv: (r) => ({ ANTHROPIC_BASE_URL: r, ANTHROPIC_API_KEY: PLACEHOLDER }),
  },
  openai: {
    secretEnv: 'WARDEN_OPENAI_API_KEY',
    plainEnv: 'OPENAI_API_KEY',
    baseEnv: 'WARDEN_OPENAI_BASE_URL',
    defaultBase: 'https://api.openai.com',
    strip: ['authorization'],
    inject: (s) => ({ authorization: `Bearer ${s}` }),
    sandboxEnv: (r) => ({ OPENAI_BASE_URL: `${r}/v1`, OPENAI_API_KEY: PLACEHOLDER }),
  },
  gemini: {
    secretEnv: 'WARDEN_GEMINI_API_KEY',
    plainEnv: 'GEMINI_API_KEY',
    baseEnv: 'WARDEN_GEMINI_BASE_URL',
    defaultBase: 'https://generativelanguage.googleapis.com',
    strip: ['x-goog-api-key', 'authorization'],
    inject: (s) => ({ 'x-goog-api-key': s }),
    sandboxEnv: (r) => ({ GOOGLE_GEMINI_BASE_URL: r, GEMINI_API_KEY: PLACEHOLDER }),
  },
  github: {
    secretEnv: 'WARDEN_GITHUB_TOKEN',
    plainEnv: 'GITHUB_TOKEN',
    baseEnv: 'WARDEN_GITHUB_BASE_URL',
    defaultBase: 'https://github.com',
    strip: ['authorization'],
    inject: (s) => ({ authorization: `Basic ${Buffer.from(`x-access-token:${s}`).toString('base64')}` }),
    // git reads config from the environment: https://github.com/... goes through the proxy's route
    sandboxEnv: (r) => ({ GIT_CONFIG_COUNT: '1', GIT_CONFIG_KEY_0: `url.${r}/.insteadOf`, GIT_CONFIG_VALUE_0: 'https://github.com/' }),
  },
};

/** A route the proxy serves: requests under `prefix` go to `upstream` with `inject` headers. */
export interface CredentialRoute {
  provider: Provider;
  prefix: string;
  upstream: string;
  strip: string[];
  inject: Record<string, string>;
}

/**
 * Secrets from the environment, or from WARDEN_SECRETS_FILE (KEY=VALUE lines; never logged). Each key is
 * read under Warden's name (WARDEN_ANTHROPIC_API_KEY) or, when that is unset, the provider's own
 * (ANTHROPIC_API_KEY, OPENAI_API_KEY, GEMINI_API_KEY, GITHUB_TOKEN); the environment wins over the file.
 */
export function loadSecrets(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  const file = env.WARDEN_SECRETS_FILE;
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new WardenError('INVALID_ARGUMENT', `WARDEN_SECRETS_FILE ${file} cannot be read: ${(err as Error).message}`);
    }
    for (const line of text.split('\n')) {
      const m = /^\s*([A-Z0-9_]+)\s*=\s*(.*?)\s*$/.exec(line);
      if (m && !line.trimStart().startsWith('#')) out[m[1]!] = m[2]!.replace(/^(['"])(.*)\1$/, '$2');
    }
  }
  for (const p of PROVIDER_NAMES) {
    const { secretEnv, plainEnv, baseEnv } = PROVIDERS[p];
    const secret = env[secretEnv] || env[plainEnv] || out[secretEnv] || out[plainEnv];
    delete out[plainEnv];
    if (secret) out[secretEnv] = secret;
    if (env[baseEnv]) out[baseEnv] = env[baseEnv]!;
  }
  return out;
}

/** Routes for the providers a sandbox asked for; an error names the missing secret and where to put it. */
export function credentialRoutes(providers: Provider[], secrets: Record<string, string>): CredentialRoute[] {
  return providers.map((p) => {
    const def = PROVIDERS[p];
    const secret = secrets[def.secretEnv];
    if (!secret) throw new WardenError('INVALID_SPEC', `egress.credentials asks for ${p}, but Warden has no secret for it: set ${def.secretEnv} or ${def.plainEnv} (or put it in WARDEN_SECRETS_FILE)`);
    const upstream = (secrets[def.baseEnv] ?? def.defaultBase).replace(/\/+$/, '');
    try {
      new URL(upstream);
    } catch {
      throw new WardenError('INVALID_SPEC', `${def.baseEnv} '${upstream}' is not a URL`);
    }
    return { provider: p, prefix: `/${p}`, upstream, strip: def.strip, inject: def.inject(secret) };
  });
}

/** What the sandbox sees for its credentials: route URLs and placeholders, never a secret. */
export function credentialEnv(providers: Provider[], proxyUrl: string): Record<string, string> {
  return Object.assign({}, ...providers.map((p) => PROVIDERS[p].sandboxEnv(`${proxyUrl}/${p}`))) as Record<string, string>;
}
