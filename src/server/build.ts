import type { Socket } from 'node:net';
import fastifyStatic from '@fastify/static';
import fastifySwagger from '@fastify/swagger';
import fastifyWebsocket from '@fastify/websocket';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from 'fastify';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { createReadStream, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../log.js';
import type { Warden } from '../sandbox/warden.js';
import type { WardenStore } from '../store/store.js';
import { EventBus } from './bus.js';
import type { ServerContext } from './context.js';
import { ExecManager } from './exec-manager.js';
import { errorBody, errorHandler } from './http-errors.js';
import { parseJsonBody } from './json-body.js';
import { finishOpenApi } from './openapi.js';
import { createMetrics } from './metrics.js';
import { Reconciler } from './reconcile.js';
import { agentRoutes } from './routes/agents.js';
import { execRoutes } from './routes/exec.js';
import { fileRoutes } from './routes/files.js';
import { detachAllPtys, ptyRoutes } from './routes/pty.js';
import { logRoutes } from './routes/logs.js';
import { agentSessionRoutes, closeAgentSessions } from './routes/agent-sessions.js';
import { sandboxRoutes } from './routes/sandboxes.js';
import { systemRoutes } from './routes/system.js';
import { tokenRoutes } from './routes/tokens.js';
import { Sampler } from './sampler.js';
import { authorize, resolvePrincipal, setPrincipal } from './auth.js';
import { bearer } from './token.js';

/** The dashboard's static files (no data in them: everything they show comes from the token-guarded API). */
export const DASHBOARD_DIR = fileURLToPath(new URL('../../dashboard/', import.meta.url));

export interface BuildServerOptions {
  warden: Warden;
  store: WardenStore;
  token: string;
  log: Logger;
  /** Labels every panic is narrowed to (the instance's WARDEN_LABELS, e.g. a tenant); default: none, i.e. everything. */
  panicScope?: Record<string, string>;
  /** Host paths given through the API must lie under it (see checkApiPaths). */
  workspaceRoot?: string;
  /** Secrets for agent runs (default: the environment and WARDEN_SECRETS_FILE). */
  agentSecrets?: Record<string, string>;
  /** How often running sandboxes are sampled (ms, default 5000; 0 = never). */
  sampleIntervalMs?: number;
  /** How often the store is reconciled with the engine (ms, default 10000; 0 = never). */
  reconcileIntervalMs?: number;
  version?: string;
}

export interface WardenServer {
  app: FastifyInstance;
  ctx: ServerContext;
  /** Reconcile with the engine, then start the periodic loops. Call before listen(). */
  start(): Promise<void>;
  /** Stop the loops, kill running execs, close HTTP (the caller decides what happens to sandboxes). */
  close(): Promise<void>;
}

/**
 * The token a browser sends on a WebSocket (which cannot carry an Authorization header): the subprotocol
 * `bearer.<base64url(token)>`, offered next to `warden`.
 */
export function subprotocolToken(header: string | string[] | undefined): string | undefined {
  const offered = (Array.isArray(header) ? header.join(',') : header ?? '').split(',').map((s) => s.trim());
  const b = offered.find((p) => p.startsWith('bearer.'));
  return b ? Buffer.from(b.slice('bearer.'.length), 'base64url').toString('utf8') : undefined;
}

/** Paths answered without a token: the liveness probe and the dashboard's static shell. */
const PUBLIC = [/^\/healthz$/, /^\/$/, /^\/dashboard\/[\w.-]+$/, /^\/dashboard\/vendor\/[\w.-]+$/, /^\/favicon\.ico$/];

/**
 * Third-party browser files the dashboard loads, served from this package's own dependencies (nothing from
 * a CDN): xterm.js and its fit addon, resolved through node's module resolution so an installed package
 * finds them wherever npm put them.
 */
const VENDOR: Record<string, { pkg: string; file: string; type: string }> = {
  'xterm.mjs': { pkg: '@xterm/xterm', file: 'lib/xterm.mjs', type: 'text/javascript' },
  'xterm.css': { pkg: '@xterm/xterm', file: 'css/xterm.css', type: 'text/css' },
  'addon-fit.mjs': { pkg: '@xterm/addon-fit', file: 'lib/addon-fit.mjs', type: 'text/javascript' },
};

function vendorPath(name: string): string | undefined {
  const v = VENDOR[name];
  if (!v) return undefined;
  try {
    return join(dirname(createRequire(import.meta.url).resolve(`${v.pkg}/package.json`)), v.file);
  } catch {
    return undefined;
  }
}

/**
 * Build the HTTP API and dashboard on a Warden and a store. Never listens by itself (tests use
 * `app.inject` or listen on port 0).
 */
export async function buildServer(opts: BuildServerOptions): Promise<WardenServer> {
  const bus = new EventBus();
  const metrics = createMetrics(opts.store);
  const execs = new ExecManager(opts.warden, opts.store, bus, metrics, opts.log);
  const reconciler = new Reconciler(opts.warden, opts.store, bus, opts.log);
  const sampler = new Sampler(opts.warden, opts.store, bus, opts.log);
  const ctx: ServerContext = { warden: opts.warden, store: opts.store, bus, execs, reconciler, metrics, log: opts.log, panicScope: opts.panicScope ?? {}, ...(opts.agentSecrets ? { agentSecrets: opts.agentSecrets } : {}), ...(opts.workspaceRoot ? { workspaceRoot: opts.workspaceRoot } : {}) };
  let ready = false;
  const timers: NodeJS.Timeout[] = [];

  const app = Fastify({
    loggerInstance: opts.log as unknown as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1024 * 1024,
    trustProxy: false,
    forceCloseConnections: true,
    routerOptions: { ignoreTrailingSlash: true },
    // what the router refuses before any route sees it (a path parameter over its 100 characters: no
    // id, name or token is that long; a path that is not valid percent-encoding) is answered in the
    // API's own error shape too, as a 400 naming the problem (fastify's default is its own body, and a
    // 414 for the length)
    frameworkErrors: (err, _req, reply): void => {
      const message =
        err.code === 'FST_ERR_MAX_PARAM_LENGTH'
          ? 'a path parameter is over 100 characters: sandbox ids, names, exec ids and token names are far shorter; check the id (`warden ps` lists them)'
          : 'the URL path is not valid percent-encoding; escape reserved characters (encodeURIComponent) in ids and names';
      void (reply as unknown as FastifyReply).code(400).type('application/json; charset=utf-8').send(errorBody('INVALID_ARGUMENT', message));
    },
    // what Node's HTTP parser refuses before any route sees it (a URL or headers over 16 KiB, a broken
    // request line) is answered in the API's own error shape, as a 400 naming the limit
    clientErrorHandler: (err: { code?: string }, socket: Socket): void => {
      if (!socket.writable) {
        socket.destroy();
        return;
      }
      const overflow = err.code === 'HPE_HEADER_OVERFLOW';
      const text = JSON.stringify(errorBody('INVALID_ARGUMENT', overflow ? 'the request line and headers are over 16 KiB; send long values in a JSON body (or shorten the path)' : `the request could not be parsed (${err.code ?? 'bad request'})`));
      socket.end(`HTTP/1.1 400 Bad Request\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`);
    },
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler(errorHandler(opts.log));
  app.setNotFoundHandler((req, reply) => void reply.code(404).send(errorBody('NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}; GET /openapi.json lists the routes`)));
  app.addContentTypeParser('application/x-tar', (_req, payload, done) => done(null, payload));
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, parseJsonBody(body as string));
    } catch (err) {
      done(err as Error, undefined);
    }
  });

  // every route's methods by path pattern, for the 405 answers below
  const routeTable: Array<{ method: string; re: RegExp; parametric: boolean }> = [];
  app.addHook('onRoute', (r) => {
    const re = new RegExp(`^${r.url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:[^/]+/g, '[^/]+')}/?$`);
    for (const m of [r.method].flat()) routeTable.push({ method: m, re, parametric: r.url.includes(':') });
  });
  /** The methods of the path's route, as the router picks it (a static path wins over a parametric one). */
  const methodsOf = (path: string): string[] => {
    const hits = routeTable.filter((r) => r.re.test(path));
    const best = hits.some((r) => !r.parametric) ? hits.filter((r) => !r.parametric) : hits;
    return [...new Set(best.map((r) => r.method))];
  };
  app.addHook('onRequest', async (req, reply) => {
    const path = req.url.split('?')[0] ?? '';
    if (!req.routeOptions.url) {
      // no route for this method: 405 with Allow when the path has others (before any body parsing), else 404
      const allow = methodsOf(path);
      if (allow.length) {
        await reply.code(405).header('allow', allow.join(', ')).send(errorBody('METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${path}; use ${allow.join(', ')}`));
        return;
      }
      await reply.code(404).send(errorBody('NOT_FOUND', `no route ${req.method} ${path}; GET /openapi.json lists the routes`));
      return;
    }
    if (PUBLIC.some((re) => re.test(path))) return;
    const principal = resolvePrincipal(bearer(req.headers.authorization) ?? (req.headers.upgrade ? subprotocolToken(req.headers['sec-websocket-protocol']) : undefined), opts.token, opts.store);
    if (principal) {
      setPrincipal(req, principal);
      try {
        authorize(principal, req.method, req.routeOptions.url ?? path);
      } catch (err) {
        const body = errorBody('FORBIDDEN', (err as Error).message);
        if (req.headers.upgrade) {
          reply.hijack();
          const text = JSON.stringify(body);
          req.raw.socket.end(`HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`);
          return;
        }
        await reply.code(403).send(body);
      }
      return;
    }
    {
      const body = JSON.stringify(errorBody('UNAUTHORIZED', 'missing or wrong bearer token: send "Authorization: Bearer <token>"'));
      if (req.headers.upgrade) {
        // a refused WebSocket upgrade: answer on the raw socket and close it (no upgraded connection may linger)
        reply.hijack();
        req.raw.socket.end(`HTTP/1.1 401 Unauthorized\r\nwww-authenticate: Bearer realm="warden"\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
        return;
      }
      await reply
        .code(401)
        .header('www-authenticate', 'Bearer realm="warden"')
        .send(errorBody('UNAUTHORIZED', 'missing or wrong bearer token: send "Authorization: Bearer <token>" (the token is in WARDEN_TOKEN or <data dir>/token)'));
    }
  });
  app.addHook('onResponse', async (req, reply) => {
    metrics.httpDuration.observe({ method: req.method, route: req.routeOptions.url ?? 'unknown', status: String(reply.statusCode) }, reply.elapsedTime / 1000);
  });

  await app.register(fastifySwagger, {
    openapi: {
      info: { title: 'Warden API', version: opts.version ?? '0.1.0', description: 'Hardened sandboxes for AI coding agents: create, run, watch, stop for certain.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
  });
  // `warden` is the subprotocol browsers offer next to their token (see subprotocolToken)
  await app.register(fastifyWebsocket, { options: { maxPayload: 8 * 1024 * 1024, handleProtocols: (offered: Set<string>) => (offered.has('warden') ? 'warden' : false) } });
  if (existsSync(DASHBOARD_DIR)) {
    await app.register(fastifyStatic, { root: DASHBOARD_DIR, prefix: '/dashboard/', index: false });
    app.get('/', { schema: { hide: true } }, (_req, reply) => reply.sendFile('index.html'));
    app.get('/dashboard/vendor/:file', { schema: { hide: true } }, async (req, reply) => {
      const name = (req.params as { file: string }).file;
      const path = vendorPath(name);
      if (!path) return reply.code(404).send(errorBody('NOT_FOUND', `no dashboard vendor file ${name}`));
      return reply.type(VENDOR[name]!.type).header('cache-control', 'public, max-age=3600').send(createReadStream(path));
    });
  }

  app.get('/healthz', { schema: { tags: ['system'], summary: 'Liveness (no token needed)' } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: { tags: ['system'], summary: 'Ready: the engine answers and state was reconciled' } }, async (_req, reply) => {
    const engine = await opts.warden.runtime.info().then(() => true, () => false);
    const ok = ready && engine;
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ready' : 'not-ready', engine, reconciled: ready });
  });
  app.get('/metrics', { schema: { tags: ['system'], summary: 'Prometheus metrics' } }, async (_req, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));
  app.get('/openapi.json', { schema: { hide: true } }, async () => finishOpenApi(app.swagger() as unknown as Record<string, unknown>));

  await app.register(
    async (api) => {
      sandboxRoutes(api, ctx);
      execRoutes(api, ctx);
      fileRoutes(api, ctx);
      systemRoutes(api, ctx);
      agentRoutes(api, ctx);
      tokenRoutes(api, ctx);
      ptyRoutes(api, ctx);
      logRoutes(api, ctx);
      agentSessionRoutes(api, ctx);
    },
    { prefix: '/api/v1' },
  );

  const loop = (ms: number | undefined, fallback: number, fn: () => Promise<unknown>): void => {
    const every = ms ?? fallback;
    if (every <= 0) return;
    const t = setInterval(() => void fn().catch((err: unknown) => opts.log.warn({ err }, 'background loop failed')), every);
    t.unref();
    timers.push(t);
  };

  return {
    app,
    ctx,
    async start() {
      const abandoned = opts.store.execs.abandonOpen() + opts.store.agentRuns.abandonOpen();
      const { live: _live, ...report } = await reconciler.sync();
      opts.log.info({ ...report, abandonedExecs: abandoned }, 'server state reconciled');
      ready = true;
      loop(opts.reconcileIntervalMs, 10_000, () => reconciler.sync());
      loop(opts.sampleIntervalMs, 5_000, () => sampler.round());
    },
    async close() {
      ready = false;
      timers.forEach(clearInterval);
      await execs.killAll();
      await closeAgentSessions();
      await detachAllPtys();
      await app.close();
    },
  };
}
