import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, request, type Server } from 'node:http';
import { connect, createServer as createTcpServer, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRules } from './policy.js';
import { createEgressProxy, type EgressRecord } from './proxy.js';

// Everything on loopback: a fake upstream (HTTP and raw TCP echo) and the proxy in front of it.
let upstream: Server;
let echo: ReturnType<typeof createTcpServer>;
let source: ReturnType<typeof createTcpServer>;
let proxy: Server;
// 64 MiB of random bytes (more than loopback socket buffers hold): a reused buffer or a lost chunk would change the hash
const PAYLOAD = randomBytes(64 * 1024 * 1024);
const audit: EgressRecord[] = [];
const port = (s: { address(): AddressInfo | string | null }): number => (s.address() as AddressInfo).port;

beforeAll(async () => {
  upstream = createServer((req, res) => res.end(`upstream saw ${req.method} ${req.url} host=${req.headers.host}`)).listen(0, '127.0.0.1');
  echo = createTcpServer((s) => s.pipe(s)).listen(0, '127.0.0.1');
  // sent in uneven pieces, so the proxy's reads are of all sizes (short reads while a write is pending)
  source = createTcpServer((s) => {
    let at = 0;
    const next = (): void => {
      if (at >= PAYLOAD.length) return void s.end();
      const n = 1 + ((at * 7919) % (256 * 1024));
      s.write(PAYLOAD.subarray(at, at + n), () => setImmediate(next));
      at += n;
    };
    next();
  }).listen(0, '127.0.0.1');
  await Promise.all([once(upstream, 'listening'), once(echo, 'listening'), once(source, 'listening')]);
  const rules = buildRules([], [`api.upstream.test:${port(upstream)}`, `tunnel.upstream.test:${port(echo)}`, `tunnel.upstream.test:${port(source)}`]);
  proxy = createEgressProxy({ rules, addHosts: { 'api.upstream.test': '127.0.0.1', 'tunnel.upstream.test': '127.0.0.1', 'denied.upstream.test': '127.0.0.1' } }, (r) => audit.push(r));
  proxy.listen(0, '127.0.0.1');
  await once(proxy, 'listening');
});
afterAll(() => {
  for (const s of [upstream, echo, source, proxy]) s.close();
});

function viaProxy(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: port(proxy), path: url, method: 'GET' }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

function tunnel(target: string): Promise<{ head: string; echoed?: string }> {
  return new Promise((resolve, reject) => {
    const s = connect(port(proxy), '127.0.0.1', () => s.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`));
    let buf = '';
    s.on('data', (d: Buffer) => {
      buf += d.toString();
      if (buf.startsWith('HTTP/1.1 200') && buf.includes('\r\n\r\n') && !buf.includes('ping')) s.write('ping');
      if (buf.includes('ping')) {
        s.end();
        resolve({ head: buf.split('\r\n')[0]!, echoed: buf.split('\r\n\r\n')[1] });
      }
    });
    s.on('end', () => resolve({ head: buf.split('\r\n')[0]!, echoed: buf.split('\r\n\r\n').slice(1).join('') }));
    s.on('error', reject);
  });
}

describe('egress proxy', () => {
  it('forwards allowed HTTP and records it without the query string', async () => {
    const r = await viaProxy(`http://api.upstream.test:${port(upstream)}/v1/models?key=secret`);
    expect(r).toEqual({ status: 200, body: `upstream saw GET /v1/models?key=secret host=api.upstream.test:${port(upstream)}` });
    const rec = audit.find((a) => a.host === 'api.upstream.test' && a.method === 'GET');
    expect(rec).toMatchObject({ path: '/v1/models', status: 200, allowed: true, rule: expect.stringContaining('user api.upstream.test') });
    expect(JSON.stringify(audit)).not.toContain('secret');
  });

  it('answers denied HTTP with 403 and the policy that denied it', async () => {
    const r = await viaProxy(`http://denied.upstream.test:${port(upstream)}/`);
    expect(r.status).toBe(403);
    expect(r.body).toMatch(/^warden egress: denied denied\.upstream\.test:\d+: denied\.upstream\.test is not in the sandbox's egress allowlist/);
    expect(audit.find((a) => a.host === 'denied.upstream.test')).toMatchObject({ status: 403, allowed: false });
  });

  it('tunnels allowed CONNECT and refuses the rest', async () => {
    const ok = await tunnel(`tunnel.upstream.test:${port(echo)}`);
    expect(ok.head).toBe('HTTP/1.1 200 Connection Established');
    expect(ok.echoed).toBe('ping');
    const no = await tunnel(`tunnel.upstream.test:${port(upstream)}`);
    expect(no.head).toBe('HTTP/1.1 403 Forbidden');
    expect(no.echoed).toMatch(/port \d+ not allowed for tunnel\.upstream\.test/);
    await new Promise((r) => setTimeout(r, 50));
    expect(audit.filter((a) => a.method === 'CONNECT').map((a) => `${a.status}:${a.allowed}`).sort()).toEqual(['200:true', '403:false']); // a tunnel is recorded when it closes
    expect(audit.find((a) => a.method === 'CONNECT' && a.allowed)?.bytesIn).toBe(4);
  });

  it('says what it is to a client that talks to it directly', async () => {
    const r = await viaProxy('/not-a-proxy-request');
    expect(r.status).toBe(400);
    expect(r.body).toMatch(/this is a proxy/);
  });

  it('delivers a tunnelled download byte for byte to a client that reads slowly (backpressure, pooled buffers)', async () => {
    const hash = createHash('sha256');
    let got = 0;
    await new Promise<void>((resolve, reject) => {
      const s = connect(port(proxy), '127.0.0.1', () => s.write(`CONNECT tunnel.upstream.test:${port(source)} HTTP/1.1\r\n\r\n`));
      let head = Buffer.alloc(0);
      let reads = 0;
      s.on('data', (d: Buffer) => {
        if (head !== null && !head.includes('\r\n\r\n')) {
          head = Buffer.concat([head, d]);
          const i = head.indexOf('\r\n\r\n');
          if (i < 0) return;
          expect(head.subarray(0, 12).toString()).toBe('HTTP/1.1 200');
          d = head.subarray(i + 4);
        }
        hash.update(d);
        got += d.length;
        // stall now and then so the proxy's writes back up and its reads must stop
        if (++reads % 8 === 0) {
          s.pause();
          setTimeout(() => s.resume(), reads === 8 ? 300 : 5);
        }
      });
      s.on('end', () => resolve());
      s.on('error', reject);
    });
    expect(got).toBe(PAYLOAD.length);
    expect(hash.digest('hex')).toBe(createHash('sha256').update(PAYLOAD).digest('hex'));
    await new Promise((r) => setTimeout(r, 50));
    expect(audit.find((a) => a.method === 'CONNECT' && a.port === port(source))).toMatchObject({ status: 200, bytesIn: PAYLOAD.length });
  });
});
