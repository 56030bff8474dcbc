/**
 * The ARM facade for Microsoft.ContainerInstance: routing (case-insensitive paths, as ARM's are), the
 * front-door checks in ARM's order (token, api-version, subscription, RBAC, resource group), request
 * validation and the long-running-operation protocol (Azure-AsyncOperation + Location polling).
 */
import { randomUUID } from 'node:crypto';
import { ArmError } from './arm-error.js';
import { API_VERSIONS, type StandinConfig } from './config.js';
import type { ExecSessions } from './exec.js';
import type { GroupBody, GroupRef, Groups } from './groups.js';
import { objectId, verifyToken, wwwAuthenticate, type TokenClaims } from './identity.js';
import { validateModel } from './schema.js';

export interface ArmRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}
export interface ArmResponse {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

interface Operation {
  id: string;
  status: 'Running' | 'Succeeded' | 'Failed';
  startTime: string;
  endTime?: string;
  error?: { code: string; message: string };
  /** For Location polling: what the finished operation answers (200 with the resource, or 204). */
  result?: () => Promise<ArmResponse>;
}

const NS = 'Microsoft.ContainerInstance';
const NAME_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const AUDIENCES = ['https://management.core.windows.net/', 'https://management.core.windows.net', 'https://management.azure.com/', 'https://management.azure.com'];

export class Arm {
  private readonly ops = new Map<string, Operation>();

  constructor(
    private readonly cfg: StandinConfig,
    private readonly groups: Groups,
    private readonly execs: ExecSessions,
  ) {}

  async handle(req: ArmRequest): Promise<ArmResponse> {
    try {
      return await this.route(req);
    } catch (err) {
      if (err instanceof ArmError) return { status: err.status, body: err.body(), headers: err.headers };
      return { status: 500, body: { error: { code: 'InternalServerError', message: `The stand-in failed: ${(err as Error).message}` } } };
    }
  }

  private authenticate(req: ArmRequest): TokenClaims {
    const h = req.headers.authorization;
    const auth = Array.isArray(h) ? h[0] : h;
    if (!auth) {
      throw new ArmError(401, 'AuthenticationFailed', "Authentication failed. The 'Authorization' header is missing.", undefined, wwwAuthenticate(this.cfg, 'invalid_token', "The authentication failed because of missing 'Authorization' header."));
    }
    const m = /^Bearer\s+(\S+)$/i.exec(auth);
    if (!m) {
      throw new ArmError(401, 'AuthenticationFailed', "Authentication failed. The 'Authorization' header is provided in an invalid format.", undefined, wwwAuthenticate(this.cfg, 'invalid_token', "The 'Authorization' header is invalid."));
    }
    const claims = verifyToken(m[1]!, this.cfg);
    if (!AUDIENCES.includes(claims.aud)) {
      throw new ArmError(401, 'InvalidAuthenticationTokenAudience', `The access token has been obtained for wrong audience or resource '${claims.aud}'. It should exactly match with one of the allowed audiences ${AUDIENCES.map((a) => `'${a}'`).join(',')}.`, undefined, wwwAuthenticate(this.cfg, 'invalid_token', 'The access token has been obtained for wrong audience.'));
    }
    return claims;
  }

  private apiVersion(req: ArmRequest, location?: string): string {
    const v = req.query.get('api-version');
    if (!v) throw new ArmError(400, 'MissingApiVersionParameter', 'The api-version query parameter (?api-version=) is required for all requests.');
    if (!API_VERSIONS.includes(v)) {
      throw new ArmError(
        400,
        'NoRegisteredProviderFound',
        `No registered resource provider found for location '${location ?? this.cfg.locations[0]}' and API version '${v}' for type 'containerGroups'. The supported api-versions are '${API_VERSIONS.join(', ')}'. The supported locations are '${this.cfg.locations.join(', ')}'.`,
      );
    }
    return v;
  }

  private subscription(sub: string, claims: TokenClaims): StandinConfig['subscriptions'][number] {
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(sub)) {
      throw new ArmError(400, 'InvalidSubscriptionId', `The provided subscription identifier '${sub}' is malformed or invalid.`);
    }
    const s = this.cfg.subscriptions.find((x) => x.id.toLowerCase() === sub.toLowerCase());
    if (!s) throw new ArmError(404, 'SubscriptionNotFound', `The subscription '${sub}' could not be found.`);
    if (s.tenantId !== claims.tid) {
      throw new ArmError(401, 'InvalidAuthenticationTokenTenant', `The access token is from the wrong issuer '${claims.iss}'. It must match the tenant 'https://sts.windows.net/${s.tenantId}/' associated with this subscription. Please use the authority (URL) 'https://${this.cfg.publicHost}/${s.tenantId}' to get the token.`);
    }
    return s;
  }

  private authorize(claims: TokenClaims, action: string, scope: string): void {
    const client = this.cfg.clients.find((c) => c.clientId === claims.appid && c.tenantId === claims.tid);
    const ok = client?.roleAssignments.some((ra) => {
      const s = ra.scope.toLowerCase().replace(/\/+$/, '');
      const target = scope.toLowerCase();
      return (target === s || target.startsWith(`${s}/`)) && ra.actions.some((a) => a === '*' || a.toLowerCase() === action.toLowerCase() || (a.endsWith('/*') && action.toLowerCase().startsWith(a.slice(0, -1).toLowerCase())));
    });
    if (!ok) {
      throw new ArmError(403, 'AuthorizationFailed', `The client '${claims.appid}' with object id '${objectId(claims.appid)}' does not have authorization to perform action '${action}' over scope '${scope}' or the scope is invalid. If access was recently granted, please refresh your credentials.`);
    }
  }

  private resourceGroup(sub: StandinConfig['subscriptions'][number], rg: string): { name: string; location: string } {
    const found = sub.resourceGroups.find((r) => r.name.toLowerCase() === rg.toLowerCase());
    if (!found) throw new ArmError(404, 'ResourceGroupNotFound', `Resource group '${rg}' could not be found.`);
    return found;
  }

  private async route(req: ArmRequest): Promise<ArmResponse> {
    const claims = this.authenticate(req);
    const path = req.path.replace(/\/+$/, '');
    const ci = (re: string): RegExpExecArray | null => new RegExp(`^${re}$`, 'i').exec(path);
    let m: RegExpExecArray | null;

    if ((m = ci(`/subscriptions/([^/]+)/providers/${NS}/locations/([^/]+)/(operations|operationResults)/([^/]+)`))) {
      this.subscription(m[1]!, claims);
      const op = this.ops.get(m[4]!);
      if (!op) throw new ArmError(404, 'OperationNotFound', `The operation '${m[4]}' could not be found.`);
      if (m[3]!.toLowerCase() === 'operations') {
        return { status: 200, body: { id: `/subscriptions/${m[1]}/providers/${NS}/locations/${m[2]}/operations/${op.id}`, name: op.id, status: op.status, startTime: op.startTime, ...(op.endTime ? { endTime: op.endTime } : {}), ...(op.error ? { error: op.error } : {}) }, headers: this.retryAfter(op) };
      }
      if (op.status === 'Running') return { status: 202, headers: { Location: this.opUrl(m[1]!, m[2]!, op.id, 'operationResults', req), ...this.retryAfter(op) } };
      if (op.status === 'Failed') throw new ArmError(400, op.error!.code, op.error!.message);
      return op.result ? op.result() : { status: 204 };
    }

    if ((m = ci(`/subscriptions/([^/]+)/providers/${NS}/containerGroups`))) {
      if (req.method !== 'GET') return this.methodNotAllowed(req);
      const sub = this.subscription(m[1]!, claims);
      this.apiVersion(req);
      this.authorize(claims, `${NS}/containerGroups/read`, `/subscriptions/${sub.id}`);
      return { status: 200, body: { value: await Promise.all(this.groups.list(sub.id).map((g) => this.groups.resource(g, false))) } };
    }

    if ((m = ci(`/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers/${NS}/containerGroups`))) {
      if (req.method !== 'GET') return this.methodNotAllowed(req);
      const sub = this.subscription(m[1]!, claims);
      this.apiVersion(req);
      this.authorize(claims, `${NS}/containerGroups/read`, `/subscriptions/${sub.id}/resourceGroups/${m[2]}`);
      const rg = this.resourceGroup(sub, m[2]!);
      return { status: 200, body: { value: await Promise.all(this.groups.list(sub.id, rg.name).map((g) => this.groups.resource(g, false))) } };
    }

    m = ci(`/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers/${NS}/containerGroups/([^/]+)(?:/(restart|stop|start)|/containers/([^/]+)/(logs|exec))?`);
    if (!m) {
      const t = ci(`/subscriptions/[^/]+/(?:resourceGroups/[^/]+/)?providers/${NS}/([^/]+).*`);
      if (t) throw new ArmError(400, 'InvalidResourceType', `The resource type '${t[1]}' could not be found in the namespace '${NS}' for api version '${req.query.get('api-version') ?? ''}'.`);
      throw new ArmError(404, 'NotFound', `No HTTP resource was found that matches the request URI '${req.path}'.`);
    }
    const sub = this.subscription(m[1]!, claims);
    const ref: GroupRef = { sub: sub.id, rg: m[2]!, name: m[3]! };
    const scope = `/subscriptions/${sub.id}/resourceGroups/${m[2]}/providers/${NS}/containerGroups/${m[3]}`;
    const action = m[4]?.toLowerCase();
    const child = m[6]?.toLowerCase();

    if (child) {
      const wanted = child === 'logs' ? 'GET' : 'POST';
      if (req.method !== wanted) return this.methodNotAllowed(req);
      this.apiVersion(req);
      this.authorize(claims, child === 'logs' ? `${NS}/containerGroups/containers/logs/read` : `${NS}/containerGroups/containers/exec/action`, scope);
      const rg = this.resourceGroup(sub, ref.rg);
      const g = this.groups.get(ref);
      if (!g) throw this.groups.notFound(ref, rg.name);
      const cid = this.groups.containerId(g, m[5]!);
      if (child === 'logs') {
        const tailRaw = req.query.get('tail');
        const tail = tailRaw === null ? undefined : Number(tailRaw);
        if (tail !== undefined && (!Number.isInteger(tail) || tail < 0)) throw new ArmError(400, 'InvalidParameter', `The value '${tailRaw}' is not valid for parameter 'tail'.`);
        return { status: 200, body: { content: await this.groups.logs(g, m[5]!, tail, req.query.get('timestamps') === 'true') } };
      }
      const body = this.json(req);
      validateModel('ContainerExecRequest', body);
      const b = body as { command?: string; terminalSize?: { rows?: number; cols?: number } };
      if (!b.command) throw new ArmError(400, 'InvalidRequestContent', "The request content was invalid and could not be deserialized: 'Required property 'command' not found in JSON. Path ''.'.", 'command');
      if (g.stopped || !(await this.groups.running(cid))) {
        throw new ArmError(409, 'ContainerGroupNotRunning', `The container '${m[5]}' in container group '${ref.name}' is not running. Start the container group before executing a command.`);
      }
      return { status: 200, body: this.execs.create(cid, b.command, b.terminalSize?.rows ?? 24, b.terminalSize?.cols ?? 80) };
    }

    if (action) {
      if (req.method !== 'POST') return this.methodNotAllowed(req);
      this.apiVersion(req);
      this.authorize(claims, `${NS}/containerGroups/${action}/action`, scope);
      const rg = this.resourceGroup(sub, ref.rg);
      const g = this.groups.get(ref);
      if (!g) throw this.groups.notFound(ref, rg.name);
      if (action === 'stop') {
        await this.groups.stop(g);
        return { status: 204 };
      }
      if (action === 'restart') {
        await this.groups.restart(g);
        return { status: 204 };
      }
      const op = this.newOp();
      if (!this.groups.start(g, (err) => this.finish(op, err))) return { status: 204 };
      return { status: 202, headers: this.lroHeaders(sub.id, g.body.location, op, req, true) };
    }

    switch (req.method) {
      case 'GET': {
        this.apiVersion(req);
        this.authorize(claims, `${NS}/containerGroups/read`, scope);
        const rg = this.resourceGroup(sub, ref.rg);
        const g = this.groups.get(ref);
        if (!g) throw this.groups.notFound(ref, rg.name);
        return { status: 200, body: await this.groups.resource(g, true) };
      }
      case 'PUT': {
        const body = this.json(req);
        const location = typeof (body as { location?: unknown }).location === 'string' ? (body as { location: string }).location : undefined;
        this.apiVersion(req, location);
        this.authorize(claims, `${NS}/containerGroups/write`, scope);
        const rg = this.resourceGroup(sub, ref.rg);
        validateModel('ContainerGroup', body);
        const group = this.semantics(ref, body as GroupBody);
        const op = this.newOp();
        const { created, group: g } = await this.groups.createOrUpdate(ref, rg.name, group, (err) => this.finish(op, err));
        op.result = async () => ({ status: 200, body: await this.groups.resource(g, true) });
        return { status: created ? 201 : 200, body: await this.groups.resource(g, true), headers: this.lroHeaders(sub.id, group.location, op, req, false) };
      }
      case 'PATCH': {
        this.apiVersion(req);
        this.authorize(claims, `${NS}/containerGroups/write`, scope);
        const rg = this.resourceGroup(sub, ref.rg);
        const g = this.groups.get(ref);
        if (!g) throw this.groups.notFound(ref, rg.name);
        const body = this.json(req);
        validateModel('Resource', body);
        const tags = (body as { tags?: Record<string, string> }).tags;
        if (tags) g.body.tags = tags;
        return { status: 200, body: await this.groups.resource(g, true) };
      }
      case 'DELETE': {
        this.apiVersion(req);
        this.authorize(claims, `${NS}/containerGroups/delete`, scope);
        this.resourceGroup(sub, ref.rg);
        const g = this.groups.get(ref);
        if (!g) return { status: 204 };
        const op = this.newOp();
        const snapshot = await this.groups.resource(g, false);
        (snapshot.properties as Record<string, unknown>).provisioningState = 'Deleting';
        void this.groups.delete(g).then(
          () => this.finish(op),
          (err: Error) => this.finish(op, err instanceof ArmError ? { code: err.code, message: err.message } : { code: 'DeleteFailed', message: err.message }),
        );
        return { status: 202, headers: this.lroHeaders(sub.id, g.body.location, op, req, true) };
      }
      default:
        return this.methodNotAllowed(req);
    }
  }

  /** What ACI itself checks beyond the model: names, enums, sizes, uniqueness, what the stand-in cannot emulate. */
  private semantics(ref: GroupRef, body: GroupBody): GroupBody {
    if (!NAME_RE.test(ref.name) || ref.name.length > 63 || ref.name.includes('--')) {
      throw new ArmError(400, 'InvalidContainerGroupName', `The container group name '${ref.name}' is invalid. The container group name must contain no more than 63 characters and must match the regex '[a-z0-9]([-a-z0-9]*[a-z0-9])?' (e.g. 'my-name').`);
    }
    if (!body.location) throw new ArmError(400, 'LocationRequired', 'The location property is required for this definition.');
    if (!this.cfg.locations.includes(body.location.toLowerCase().replace(/\s+/g, ''))) {
      throw new ArmError(400, 'LocationNotAvailableForResourceType', `The provided location '${body.location}' is not available for resource type '${NS}/containerGroups'. List of available regions for the resource type is '${this.cfg.locations.join(',')}'.`);
    }
    const p = body.properties;
    if (p.osType !== 'Linux') {
      if (p.osType === 'Windows') throw new ArmError(400, 'StandInUnsupported', 'The ACI stand-in runs Linux container groups only (osType Windows is not emulated).');
      throw new ArmError(400, 'InvalidOsType', `The OS type '${p.osType}' is not supported. Supported values are 'Linux' and 'Windows'.`);
    }
    if (p.restartPolicy !== undefined && !['Always', 'OnFailure', 'Never'].includes(p.restartPolicy)) {
      throw new ArmError(400, 'InvalidRestartPolicy', `The restart policy '${p.restartPolicy}' is invalid. Supported values are 'Always', 'OnFailure' and 'Never'.`);
    }
    if (p.sku !== undefined && p.sku !== 'Standard') throw new ArmError(400, 'StandInUnsupported', `The ACI stand-in emulates the Standard SKU only (got '${p.sku}').`);
    for (const unsupported of ['subnetIds', 'volumes', 'diagnostics', 'dnsConfig', 'encryptionProperties', 'initContainers', 'extensions', 'confidentialComputeProperties', 'priority'] as const) {
      const v = p[unsupported];
      if (v !== undefined && !(Array.isArray(v) && v.length === 0)) throw new ArmError(400, 'StandInUnsupported', `The ACI stand-in does not emulate properties.${unsupported}; remove it or test against Azure.`);
    }
    if (p.containers.length === 0) throw new ArmError(400, 'NoContainersInContainerGroup', `The container group '${ref.name}' must have at least one container.`);
    const names = new Set<string>();
    let cpu = 0;
    let mem = 0;
    for (const c of p.containers) {
      if (!NAME_RE.test(c.name) || c.name.length > 63 || c.name.includes('--')) {
        throw new ArmError(400, 'InvalidContainerName', `The container name '${c.name}' in container group '${ref.name}' is invalid. The container name must contain no more than 63 characters and must match the regex '[a-z0-9]([-a-z0-9]*[a-z0-9])?' (e.g. 'my-name').`);
      }
      if (names.has(c.name)) throw new ArmError(400, 'DuplicateContainerNames', `The container group '${ref.name}' has duplicate container names '${c.name}'.`);
      names.add(c.name);
      const r = c.properties.resources?.requests;
      if (!r) throw new ArmError(400, 'InvalidRequestContent', `The request content was invalid and could not be deserialized: 'Required property 'resources' not found in JSON. Path 'properties.containers[${p.containers.indexOf(c)}].properties'.'.`);
      if (!(r.cpu > 0) || !(r.memoryInGB > 0)) throw new ArmError(400, 'InvalidResourceRequests', `The resource requests of container '${c.name}' must have a positive 'cpu' and 'memoryInGB'.`);
      cpu += r.cpu;
      mem += r.memoryInGB;
      for (const e of c.properties.environmentVariables ?? []) {
        if (!e.name) throw new ArmError(400, 'InvalidEnvironmentVariable', `An environment variable of container '${c.name}' has an empty name.`);
      }
      for (const port of c.properties.ports ?? []) {
        if (!Number.isInteger(port.port) || port.port < 1 || port.port > 65535) throw new ArmError(400, 'InvalidContainerPort', `The port '${port.port}' of container '${c.name}' is invalid.`);
      }
    }
    if (cpu > this.cfg.maxCpu || mem > this.cfg.maxMemoryInGB) {
      throw new ArmError(400, 'ServiceUnavailable', `The requested resource is not available in the location '${body.location}' at this moment. Please retry with a different resource request or at another location. Resource requested: '${cpu}' CPU '${mem}' GB memory 'Linux' OS`);
    }
    if ((p.imageRegistryCredentials?.length ?? 0) > p.containers.length) {
      throw new ArmError(400, 'MoreImageRegistryCredentialsThanContainers', `More image registry credentials provided than containers in container group '${ref.name}'.`);
    }
    const ip = p.ipAddress;
    if (ip) {
      if (ip.type !== 'Public' && ip.type !== 'Private') throw new ArmError(400, 'InvalidIpAddressType', `The IP address type '${ip.type}' is invalid. Supported values are 'Public' and 'Private'.`);
      if (ip.type === 'Private') throw new ArmError(400, 'StandInUnsupported', 'The ACI stand-in does not emulate virtual networks (ipAddress.type Private needs subnetIds).');
      const exposed = new Set(p.containers.flatMap((c) => (c.properties.ports ?? []).map((x) => x.port)));
      const missing = ip.ports.filter((x) => !exposed.has(x.port)).map((x) => x.port);
      if (missing.length) throw new ArmError(400, 'InvalidIpAddressPorts', `The ports '${missing.join(', ')}' of the IP address of container group '${ref.name}' are not exposed by any of its containers.`);
      if (ip.dnsNameLabel !== undefined && !/^[a-z][a-z0-9-]{1,61}[a-z0-9]$/.test(ip.dnsNameLabel)) throw new ArmError(400, 'InvalidDnsNameLabel', `The DNS name label '${ip.dnsNameLabel}' is invalid.`);
    }
    return body;
  }

  private json(req: ArmRequest): unknown {
    const text = req.body.toString('utf8');
    if (!text.trim()) throw new ArmError(400, 'InvalidRequestContent', "The request content was invalid and could not be deserialized: 'Unexpected end when deserializing object. Path '', line 1, position 0.'.");
    try {
      return JSON.parse(text) as unknown;
    } catch (err) {
      throw new ArmError(400, 'InvalidRequestContent', `The request content was invalid and could not be deserialized: '${(err as Error).message}'.`);
    }
  }

  private methodNotAllowed(req: ArmRequest): ArmResponse {
    return { status: 405, body: { error: { code: 'MethodNotAllowed', message: `The requested resource does not support http method '${req.method}'.` } } };
  }

  private newOp(): Operation {
    const op: Operation = { id: randomUUID(), status: 'Running', startTime: new Date().toISOString() };
    this.ops.set(op.id, op);
    return op;
  }

  private finish(op: Operation, err?: { code: string; message: string }): void {
    op.status = err ? 'Failed' : 'Succeeded';
    op.endTime = new Date().toISOString();
    if (err) op.error = err;
  }

  private retryAfter(op: Operation): Record<string, string> {
    return op.status === 'Running' && this.cfg.retryAfterSeconds > 0 ? { 'Retry-After': String(this.cfg.retryAfterSeconds) } : {};
  }

  private opUrl(sub: string, location: string, id: string, kind: 'operations' | 'operationResults', req: ArmRequest): string {
    return `https://${this.cfg.publicHost}/subscriptions/${sub}/providers/${NS}/locations/${location}/${kind}/${id}?api-version=${req.query.get('api-version') ?? ''}`;
  }

  private lroHeaders(sub: string, location: string, op: Operation, req: ArmRequest, withLocation: boolean): Record<string, string> {
    return {
      'Azure-AsyncOperation': this.opUrl(sub, location, op.id, 'operations', req),
      ...(withLocation ? { Location: this.opUrl(sub, location, op.id, 'operationResults', req) } : {}),
      ...this.retryAfter(op),
    };
  }
}
