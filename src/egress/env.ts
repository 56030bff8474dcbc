import { credentialEnv, type Provider } from './credentials.js';

/**
 * Where an allowlisted sandbox reaches its egress proxy, on every backend: the name `warden-proxy`,
 * port 3128 (Docker: a network alias on the sandbox's own network; Kubernetes or ACI: whatever makes
 * that name reach the unit's proxy). Part of the runtime contract: agents bake this URL into their
 * configuration, and the sandbox's environment names it.
 */
export const EGRESS_PROXY_HOST = 'warden-proxy';
export const EGRESS_PROXY_PORT = 3128;
export const EGRESS_PROXY_URL = `http://${EGRESS_PROXY_HOST}:${EGRESS_PROXY_PORT}`;

/**
 * What an allowlisted sandbox's programs are told about its egress proxy, wherever a backend puts the
 * proxy (Docker: `http://warden-proxy:3128` on the sandbox's own network): the proxy variables in both
 * spellings (tools differ) and the credential routes' URLs and placeholders (never a secret).
 */
export function egressEnv(proxyUrl: string, credentials: readonly string[]): Record<string, string> {
  return { ...proxyEnv(proxyUrl), ...credentialEnv(credentials as Provider[], proxyUrl) };
}

/** The proxy variables; the proxy's own routes (keyless credentials) are plain HTTP to it, not proxied. */
export function proxyEnv(url: string): Record<string, string> {
  const noProxy = `localhost,127.0.0.1,::1,${new URL(url).hostname}`;
  return { HTTP_PROXY: url, HTTPS_PROXY: url, http_proxy: url, https_proxy: url, NO_PROXY: noProxy, no_proxy: noProxy };
}
