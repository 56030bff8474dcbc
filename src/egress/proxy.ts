import { Agent as HttpAgent, createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, type Socket } from 'node:net';
import type { CredentialRoute } from './credentials.js';
import { decide, type EgressRule } from './policy.js';
import { connectRelay } from './relay.js';

/** One line of the egress audit: every request the proxy sees. Never holds query strings or secrets. */
export interface EgressRecord {
  time: string;
  method: string;
  host: string;
  port: number;
  path: string;
  status: number;
  bytesOut: number;
  bytesIn: number;
  allowed: boolean;
  rule: string;
}

export interface ProxyConfig {
  rules: EgressRule[];
  /** How the proxy resolves these names (as `docker run --add-host`). */
  addHosts?: Record<string, string>;
  /** Connect timeout to upstreams, ms. */
  connectTimeoutMs?: number;
  /** Keyless credential routes: `/<provider>/...` forwarded with the real key injected. */
  routes?: CredentialRoute[];
}

const HOP_BY_HOP = ['proxy-connection', 'proxy-authorization', 'connection', 'keep-alive', 'te', 'trailer', 'transfer-encoding', 'upgrade'];

function denyBody(host: string, port: number, rule: string): string {
  return `warden egress: denied ${host}:${port}: ${rule}. Add it with --allow ${host}${port === 443 || port === 80 ? '' : `:${port}`} (or a preset) if the sandbox needs it.\n`;
}

/**
 * The egress proxy: HTTP forwarding and CONNECT tunnels, only to what the rules allow; 403 with the
 * reason otherwise. Every request goes to `audit`. It runs in its own container next to the sandbox
 * (see egress/main.ts); this function is plain Node so it can be tested on loopback.
 */
/** Stream buffers: 16 KiB (Node's default) makes every 64 KiB socket read hit backpressure; bulk transfers need more. */
const BUFFER_BYTES = 1024 * 1024;
/** Spread into socket/request options: Node honours `highWaterMark` there, its typings do not list it. */
const BIG_BUFFERS = { highWaterMark: BUFFER_BYTES } as object;

export function createEgressProxy(config: ProxyConfig, audit: (r: EgressRecord) => void): Server {
  const resolve = (host: string): string => config.addHosts?.[host.toLowerCase()] ?? host;
  // upstream connections are kept alive across requests, as a direct client would
  const agent = new HttpAgent({ keepAlive: true, maxSockets: 64 });
  const record = (r: Omit<EgressRecord, 'time'>): void => audit({ time: new Date().toISOString(), ...r });

  const server = createServer({ highWaterMark: BUFFER_BYTES }, (req: IncomingMessage, res: ServerResponse) => {
    req.on('error', () => req.destroy());
    res.on('error', () => res.destroy());
    const route = (req.url ?? '').startsWith('/') ? config.routes?.find((r) => req.url === r.prefix || req.url!.startsWith(`${r.prefix}/`)) : undefined;
    if (route) {
      forwardRoute(route, req, res);
      return;
    }
    let url: URL;
    try {
      url = new URL(req.url ?? '');
      if (url.protocol !== 'http:') throw new Error('not http');
    } catch {
      res.writeHead(400, { 'content-type': 'text/plain' }).end('warden egress: this is a proxy; send absolute http:// URLs, or CONNECT for https\n');
      record({ method: req.method ?? '?', host: '', port: 0, path: (req.url ?? '').split('?')[0] ?? '', status: 400, bytesOut: 0, bytesIn: 0, allowed: false, rule: 'not a proxy request' });
      return;
    }
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const port = Number(url.port || 80);
    const path = url.pathname;
    const d = decide(config.rules, host, port);
    if (!d.allowed) {
      const body = denyBody(host, port, d.rule);
      res.writeHead(403, { 'content-type': 'text/plain', 'x-warden-egress': 'denied' }).end(body);
      record({ method: req.method ?? 'GET', host, port, path, status: 403, bytesOut: 0, bytesIn: body.length, allowed: false, rule: d.rule });
      return;
    }
    const headers = { ...req.headers };
    for (const h of HOP_BY_HOP) delete headers[h];
    let bytesOut = 0;
    let bytesIn = 0;
    req.on('data', (c: Buffer) => (bytesOut += c.length));
    const up = httpRequest({ agent, ...BIG_BUFFERS, host: resolve(host), port, method: req.method, path: `${url.pathname}${url.search}`, headers: { ...headers, host: url.host }, timeout: config.connectTimeoutMs ?? 30_000 }, (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.on('data', (c: Buffer) => (bytesIn += c.length));
      upRes.pipe(res);
      upRes.on('end', () => record({ method: req.method ?? 'GET', host, port, path, status: upRes.statusCode ?? 0, bytesOut, bytesIn, allowed: true, rule: d.rule }));
    });
    up.on('timeout', () => up.destroy(new Error('upstream timed out')));
    up.on('error', (err) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' }).end(`warden egress: upstream ${host}:${port} failed: ${err.message}\n`);
      else res.destroy();
      record({ method: req.method ?? 'GET', host, port, path, status: 502, bytesOut, bytesIn, allowed: true, rule: d.rule });
    });
    req.pipe(up);
  });

  /** A credential route: the sandbox's auth headers are dropped and the real ones injected; never logged. */
  const forwardRoute = (route: CredentialRoute, req: IncomingMessage, res: ServerResponse): void => {
    const target = new URL(`${route.upstream}${req.url!.slice(route.prefix.length) || '/'}`);
    const headers: Record<string, string | string[] | undefined> = { ...req.headers };
    for (const h of [...HOP_BY_HOP, ...route.strip]) delete headers[h];
    Object.assign(headers, route.inject, { host: target.host });
    const port = Number(target.port || (target.protocol === 'https:' ? 443 : 80));
    const base = { method: req.method ?? 'GET', host: target.hostname, port, path: target.pathname, allowed: true, rule: `credential:${route.provider}` };
    let bytesOut = 0;
    let bytesIn = 0;
    req.on('data', (c: Buffer) => (bytesOut += c.length));
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
    const up = send(
      { host: resolve(target.hostname), servername: target.hostname, port, method: req.method, path: `${target.pathname}${target.search}`, headers, timeout: config.connectTimeoutMs ?? 30_000 },
      (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.on('data', (c: Buffer) => (bytesIn += c.length));
        upRes.pipe(res);
        upRes.on('end', () => record({ ...base, status: upRes.statusCode ?? 0, bytesOut, bytesIn }));
      },
    );
    up.on('timeout', () => up.destroy(new Error('upstream timed out')));
    up.on('error', (err) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' }).end(`warden egress: ${route.provider} upstream ${target.host} failed: ${err.message}\n`);
      else res.destroy();
      record({ ...base, status: 502, bytesOut, bytesIn });
    });
    req.pipe(up);
  };

  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    client.on('error', () => client.destroy()); // a client that resets must not take the proxy down
    const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(req.url ?? '');
    const host = m?.[1] ?? '';
    const port = Number(m?.[2] ?? 0);
    const d = m ? decide(config.rules, host, port) : { allowed: false, rule: 'malformed CONNECT target' };
    if (!d.allowed) {
      const body = denyBody(host, port, d.rule);
      client.end(`HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\nx-warden-egress: denied\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
      record({ method: 'CONNECT', host, port, path: '', status: 403, bytesOut: 0, bytesIn: 0, allowed: false, rule: d.rule });
      return;
    }
    let bytesOut = head.length;
    let bytesIn = 0;
    let status = 200;
    // upstream -> client reads into pooled buffers (relay.ts); client -> upstream is an ordinary pipe
    const upstream = connectRelay({ host: resolve(host), port, timeout: config.connectTimeoutMs ?? 30_000, ...BIG_BUFFERS }, client, (n) => (bytesIn += n));
    upstream.once('connect', () => {
      upstream.setTimeout(0);
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) upstream.write(head);
      client.on('data', (c: Buffer) => (bytesOut += c.length));
      client.pipe(upstream);
    });
    upstream.on('end', () => client.end());
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      record({ method: 'CONNECT', host, port, path: '', status, bytesOut, bytesIn, allowed: true, rule: d.rule });
    };
    upstream.on('timeout', () => upstream.destroy(new Error('connect timed out')));
    upstream.on('error', (err) => {
      if (bytesIn === 0 && !client.destroyed) {
        status = 502;
        client.end(`HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\nwarden egress: upstream ${host}:${port} failed: ${err.message}\n`);
      } else client.destroy();
      finish();
    });
    client.on('error', () => upstream.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => {
      client.end();
      finish();
    });
  });
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
    else socket.destroy();
  });
  server.on('close', () => agent.destroy());
  return server;
}

/** True for an IP literal (the proxy does not resolve those). */
export const isIpLiteral = (h: string): boolean => isIP(h) !== 0;
