/**
 * The ACI stand-in: a local, faithful-where-it-matters imitation of the Azure endpoints Warden's ACI
 * backend calls (ARM's Microsoft.ContainerInstance/containerGroups and Entra ID's token endpoint),
 * over HTTPS, running each container group as real Docker containers through the engine socket.
 * Configured by STANDIN_CONFIG (JSON, see config.ts). What it emulates and what it does not:
 * docs/ACI.md, "The stand-in".
 */
import Docker from 'dockerode';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import { Arm } from './arm.js';
import { loadConfig } from './config.js';
import { ExecSessions } from './exec.js';
import { Groups } from './groups.js';
import { issueToken, openIdConfiguration } from './identity.js';

const MAX_BODY = 4 * 1024 * 1024; // ARM's request size limit

const cfg = loadConfig(process.env);
const docker = new Docker({ socketPath: process.env.DOCKER_SOCKET ?? '/var/run/docker.sock' });
const groups = new Groups(docker, cfg);
const execs = new ExecSessions(docker, cfg.publicHost, cfg.execSessionTtlSeconds);
const arm = new Arm(cfg, groups, execs);

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, {
    'x-ms-request-id': randomUUID(),
    'x-ms-correlation-request-id': randomUUID(),
    ...(text ? { 'Content-Type': 'application/json; charset=utf-8' } : {}),
    'Content-Length': String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY) return undefined;
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

const server = createServer({ cert: readFileSync(cfg.tlsCertFile), key: readFileSync(cfg.tlsKeyFile) }, (req, res) => {
  void (async () => {
    const url = new URL(req.url ?? '/', `https://${cfg.publicHost}`);
    const body = await readBody(req);
    if (body === undefined) {
      send(res, 413, { error: { code: 'RequestContentTooLarge', message: `The request content size exceeds the maximum size of ${MAX_BODY / 1024 / 1024} MB.` } });
      return;
    }
    if (url.pathname === '/healthz') return send(res, 200, { ok: true });
    let m: RegExpExecArray | null;
    if ((m = /^\/([^/]+)\/v2\.0\/\.well-known\/openid-configuration$/.exec(url.pathname)) && req.method === 'GET') {
      const r = openIdConfiguration(cfg, m[1]!);
      return send(res, r.status, r.body);
    }
    if ((m = /^\/([^/]+)\/discovery\/v2\.0\/keys$/.exec(url.pathname))) return send(res, 200, { keys: [] });
    if ((m = /^\/([^/]+)\/oauth2\/v2\.0\/token$/.exec(url.pathname)) && req.method === 'POST') {
      const r = issueToken(cfg, m[1]!, new URLSearchParams(body.toString('utf8')));
      return send(res, r.status, r.body);
    }
    if (/^\/subscriptions\//i.test(url.pathname)) {
      const r = await arm.handle({ method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, headers: req.headers, body });
      return send(res, r.status, r.body, r.headers);
    }
    send(res, 404, { error: { code: 'NotFound', message: `No HTTP resource was found that matches the request URI '${url.pathname}'.` } });
  })().catch((err: unknown) => send(res, 500, { error: { code: 'InternalServerError', message: (err as Error).message } }));
});

server.on('upgrade', (req, socket, head) => execs.upgrade(req, socket, head));
server.listen(cfg.listenPort, '0.0.0.0', () => {
  console.log(`aci-standin ${cfg.instance} listening on ${cfg.listenPort} as ${cfg.publicHost}`);
});

for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => process.exit(0));
