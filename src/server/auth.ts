import type { FastifyRequest } from 'fastify';
import { WardenError } from '../errors.js';
import type { Role, TokenRecord } from '../store/tokens.js';
import type { WardenStore } from '../store/store.js';
import { tokenMatches } from './token.js';

/** Who a request acts as: the server's own token (admin, unscoped) or a named token from the store. */
export interface Principal {
  name: string;
  role: Role;
  /** Only sandboxes carrying every one of these labels exist for it; what it creates gets them. */
  labels: Record<string, string>;
}

/** The server's own token (WARDEN_TOKEN / token file): the administrator, bound to no labels. */
export const ROOT_PRINCIPAL: Principal = { name: 'admin', role: 'admin', labels: {} };

/** The principal of a bearer token, or undefined when it is neither the server's token nor a stored one. */
export function resolvePrincipal(presented: string | undefined, rootToken: string, store: WardenStore): Principal | undefined {
  if (!presented) return undefined;
  if (tokenMatches(presented, rootToken)) return ROOT_PRINCIPAL;
  const rec: TokenRecord | undefined = store.tokens.verify(presented);
  return rec ? { name: rec.name, role: rec.role, labels: rec.labels } : undefined;
}

const READS = new Set(['GET', 'HEAD']);

/**
 * What each role may do, decided by method and route in one place: read-only tokens read (GETs, never
 * a WebSocket route: exec and terminals run commands), operators do everything but panic and token management,
 * admins everything. Throws FORBIDDEN naming the role needed.
 */
export function authorize(p: Principal, method: string, route: string): void {
  const adminOnly = route === '/api/v1/panic' || route.startsWith('/api/v1/tokens');
  if (adminOnly && p.role !== 'admin') throw new WardenError('FORBIDDEN', `token '${p.name}' (${p.role}) may not ${method} ${route}: that needs an admin token`);
  if (p.role === 'read-only' && (!READS.has(method) || route.endsWith('/ws'))) {
    throw new WardenError('FORBIDDEN', `token '${p.name}' is read-only: ${method} ${route} needs an operator or admin token`);
  }
}

/** Whether a sandbox (by its labels) is visible to the principal. */
export function inScope(p: Principal, labels: Record<string, string> | undefined): boolean {
  return Object.entries(p.labels).every(([k, v]) => labels?.[k] === v);
}

/** The request's principal, set by the auth hook (a route that reaches here without one is a bug: refused). */
export function principalOf(req: FastifyRequest): Principal {
  const p = (req as FastifyRequest & { principal?: Principal }).principal;
  if (!p) throw new WardenError('UNAUTHORIZED', 'this request carries no token');
  return p;
}

export function setPrincipal(req: FastifyRequest, p: Principal): void {
  (req as FastifyRequest & { principal?: Principal }).principal = p;
}
