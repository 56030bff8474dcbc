/**
 * The Entra ID (Azure AD) endpoints `@azure/identity`'s ClientSecretCredential calls, with
 * `authorityHost` pointed here and instance discovery disabled: the tenant's OpenID configuration and
 * the v2 token endpoint (client-credentials grant). Tokens are JWTs signed with the stand-in's own key
 * (HS256; real Entra signs RS256 with published keys, which only matters to a verifier, and the only
 * verifier is this stand-in's ARM facade). Errors carry the AADSTS codes Entra uses.
 */
import { createHash, createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { StandinConfig, ClientConfig } from './config.js';
import { ArmError } from './arm-error.js';

const KEY = randomBytes(32);

export interface TokenClaims {
  aud: string;
  iss: string;
  tid: string;
  appid: string;
  oid: string;
  sub: string;
  iat: number;
  nbf: number;
  exp: number;
}

const b64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

function sign(claims: TokenClaims): string {
  const head = b64url(JSON.stringify({ typ: 'JWT', alg: 'HS256', kid: 'standin' }));
  const body = b64url(JSON.stringify(claims));
  const sig = createHmac('sha256', KEY).update(`${head}.${body}`).digest();
  return `${head}.${body}.${b64url(sig)}`;
}

/** A stable object id for a client (Entra gives each service principal one). */
export function objectId(clientId: string): string {
  const h = createHash('sha256').update(`oid:${clientId}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** Verifies signature and lifetime; returns the claims or throws the 401 ARM gives. */
export function verifyToken(token: string, cfg: StandinConfig): TokenClaims {
  const parts = token.split('.');
  const invalid = (): ArmError => new ArmError(401, 'InvalidAuthenticationToken', 'The access token is invalid.', undefined, wwwAuthenticate(cfg, 'invalid_token', 'The access token is invalid.'));
  if (parts.length !== 3) throw invalid();
  const expected = createHmac('sha256', KEY).update(`${parts[0]}.${parts[1]}`).digest();
  const got = Buffer.from(parts[2]!, 'base64url');
  if (got.length !== expected.length || !timingSafeEqual(got, expected)) throw invalid();
  let claims: TokenClaims;
  try {
    claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as TokenClaims;
  } catch {
    throw invalid();
  }
  const now = Math.floor(Date.now() / 1000);
  if (claims.exp <= now) {
    const iso = (s: number): string => new Date(s * 1000).toISOString().replace(/\.\d+Z$/, '');
    throw new ArmError(401, 'ExpiredAuthenticationToken', `The access token expiry UTC time '${iso(claims.exp)}' is earlier than current UTC time '${iso(now)}'.`, undefined, wwwAuthenticate(cfg, 'invalid_token', 'The access token has expired.'));
  }
  return claims;
}

export function wwwAuthenticate(cfg: StandinConfig, error: string, description: string): Record<string, string> {
  return { 'WWW-Authenticate': `Bearer authorization_uri="https://${cfg.publicHost}/${cfg.clients[0]?.tenantId ?? 'common'}", error="${error}", error_description="${description}"` };
}

function aadError(status: number, error: string, code: number, description: string): { status: number; body: unknown } {
  return {
    status,
    body: {
      error,
      error_description: `AADSTS${code}: ${description} Trace ID: ${randomUuid()} Correlation ID: ${randomUuid()} Timestamp: ${new Date().toISOString().replace('T', ' ').replace('Z', 'Z')}`,
      error_codes: [code],
      timestamp: new Date().toISOString(),
      trace_id: randomUuid(),
      correlation_id: randomUuid(),
    },
  };
}

function randomUuid(): string {
  return randomUUID(); // node:crypto's: the stand-in runs on Debian's Node 18, which has no global crypto
}

function tenantKnown(cfg: StandinConfig, tenant: string): boolean {
  return cfg.clients.some((c) => c.tenantId === tenant);
}

/** GET /{tenant}/v2.0/.well-known/openid-configuration */
export function openIdConfiguration(cfg: StandinConfig, tenant: string): { status: number; body: unknown } {
  if (!tenantKnown(cfg, tenant)) return aadError(400, 'invalid_tenant', 90002, `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`);
  const base = `https://${cfg.publicHost}/${tenant}`;
  return {
    status: 200,
    body: {
      token_endpoint: `${base}/oauth2/v2.0/token`,
      token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
      jwks_uri: `https://${cfg.publicHost}/${tenant}/discovery/v2.0/keys`,
      response_modes_supported: ['query', 'fragment', 'form_post'],
      subject_types_supported: ['pairwise'],
      id_token_signing_alg_values_supported: ['RS256'],
      response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
      scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
      issuer: `https://${cfg.publicHost}/${tenant}/v2.0`,
      request_uri_parameter_supported: false,
      userinfo_endpoint: `https://${cfg.publicHost}/oidc/userinfo`,
      authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
      device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
      http_logout_supported: true,
      frontchannel_logout_supported: true,
      end_session_endpoint: `${base}/oauth2/v2.0/logout`,
      claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'tid', 'ver'],
      tenant_region_scope: 'NA',
      cloud_instance_name: 'microsoftonline.com',
      cloud_graph_host_name: 'graph.windows.net',
      msgraph_host: 'graph.microsoft.com',
    },
  };
}

/** POST /{tenant}/oauth2/v2.0/token (form-encoded client-credentials grant). */
export function issueToken(cfg: StandinConfig, tenant: string, form: URLSearchParams): { status: number; body: unknown } {
  if (!tenantKnown(cfg, tenant)) return aadError(400, 'invalid_tenant', 90002, `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`);
  const grant = form.get('grant_type');
  if (grant !== 'client_credentials') return aadError(400, 'unsupported_grant_type', 70003, `The app requested an unsupported grant type '${grant ?? ''}'.`);
  const clientId = form.get('client_id') ?? '';
  const client: ClientConfig | undefined = cfg.clients.find((c) => c.tenantId === tenant && c.clientId === clientId);
  if (!client) return aadError(400, 'unauthorized_client', 700016, `Application with identifier '${clientId}' was not found in the directory '${tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`);
  const secret = form.get('client_secret');
  if (secret === null) return aadError(401, 'invalid_client', 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.");
  const a = Buffer.from(secret);
  const b = Buffer.from(client.clientSecret);
  if (a.length !== b.length || !timingSafeEqual(a, b)) {
    return aadError(401, 'invalid_client', 7000215, `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${clientId}'.`);
  }
  const scope = form.get('scope') ?? '';
  const m = /^(\S+)\/\.default$/.exec(scope.split(' ').find((s) => s.endsWith('/.default')) ?? '');
  if (!m) return aadError(400, 'invalid_scope', 1002012, `The provided value for scope ${scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`);
  const now = Math.floor(Date.now() / 1000);
  const lifetime = cfg.tokenLifetimeSeconds;
  const oid = objectId(clientId);
  const token = sign({ aud: m[1]!, iss: `https://sts.windows.net/${tenant}/`, tid: tenant, appid: clientId, oid, sub: oid, iat: now, nbf: now, exp: now + lifetime });
  return { status: 200, body: { token_type: 'Bearer', expires_in: lifetime, ext_expires_in: lifetime, access_token: token } };
}
