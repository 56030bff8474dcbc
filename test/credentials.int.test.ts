import Docker from 'dockerode';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/log.js';
import { EGRESS_NETWORK, findProxy } from '../src/runtime/docker/egress.js';
import { Warden } from '../src/sandbox/warden.js';
import type { Sandbox } from '../src/sandbox/sandbox.js';
import { runId, sandboxPool } from './support/fixture.js';
import { TEST_RUN_LABEL } from './support/labels.js';
import { wardenImage } from '../src/images/catalog.js';
import { engineOf } from './support/engine.js';

// A fake model provider over HTTPS (a test CA the proxy trusts) in a container on the egress
// network under a real-looking name, and a fake gateway on this host reached as host.docker.internal.
const FAKE = 'api.fake-provider.test';
const SECRET = `sk-ant-real-${runId()}`;
const GH_TOKEN = `ghp_real_${runId()}`;
const OPENAI_KEY = `sk-openai-real-${runId()}`;
const docker = new Docker();
let certs = '';
let upstream: Docker.Container;
let hostGateway: Server;
const hostSeen: Array<Record<string, unknown>> = [];
let warden: Warden;
let pool: ReturnType<typeof sandboxPool>;
let sb: Sandbox;

const ECHO_SERVER = `
const https = require('https'); const fs = require('fs');
https.createServer({ key: fs.readFileSync('/certs/server.key'), cert: fs.readFileSync('/certs/server.crt') }, (req, res) => {
  const seen = { path: req.url, headers: req.headers };
  console.log(JSON.stringify(seen));
  res.setHeader('content-type', 'application/json'); res.end(JSON.stringify(seen));
}).listen(443, () => console.log('listening'));`;

beforeAll(async () => {
  certs = await mkdtemp(join(tmpdir(), 'warden-ca-'));
  const ossl = (...args: string[]) => execFileSync('openssl', args, { cwd: certs, stdio: 'ignore' });
  ossl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=Warden Test CA');
  ossl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', `/CN=${FAKE}`);
  await writeFile(join(certs, 'san.ext'), `subjectAltName=DNS:${FAKE}\n`);
  ossl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '1', '-extfile', 'san.ext');
  for (const f of ['ca.pem', 'server.key', 'server.crt']) await chmod(join(certs, f), 0o644);
  await chmod(certs, 0o755);

  hostGateway = createServer((req, res) => {
    hostSeen.push({ path: req.url, authorization: req.headers.authorization });
    res.end('{"ok":true}');
  }).listen(0, '0.0.0.0');
  await once(hostGateway, 'listening');

  warden = new Warden({
    owner: `test-${runId()}-keyless`,
    labels: { [TEST_RUN_LABEL]: runId() },
    logger: createLogger('error'),
    egress: {
      caFile: join(certs, 'ca.pem'),
      secrets: {
        WARDEN_ANTHROPIC_API_KEY: SECRET,
        WARDEN_ANTHROPIC_BASE_URL: `https://${FAKE}`,
        WARDEN_GITHUB_TOKEN: GH_TOKEN,
        WARDEN_GITHUB_BASE_URL: `https://${FAKE}/gh`,
        WARDEN_OPENAI_API_KEY: OPENAI_KEY,
        WARDEN_OPENAI_BASE_URL: `http://host.docker.internal:${(hostGateway.address() as AddressInfo).port}`,
      },
    },
  });
  pool = sandboxPool(warden);
  sb = await pool.create({ network: 'allowlist', egress: { credentials: ['anthropic', 'github', 'openai'] } });
  upstream = await docker.createContainer({
    Image: wardenImage('egress'),
    name: `warden-test-provider-${runId()}`,
    Entrypoint: ['node', '-e', ECHO_SERVER],
    User: '0:0',
    Labels: { [TEST_RUN_LABEL]: runId() },
    HostConfig: { NetworkMode: EGRESS_NETWORK, Binds: [`${certs}:/certs:ro`] },
    NetworkingConfig: { EndpointsConfig: { [EGRESS_NETWORK]: { Aliases: [FAKE] } } },
  });
  await upstream.start();
  // the fake provider answers once its Node has started (0.5-2 s on a loaded machine): wait for it, not a fixed time
  for (let i = 0; i < 300 && !String(await upstream.logs({ stdout: true, stderr: false })).includes('listening'); i++) await new Promise((r) => setTimeout(r, 50));
});
afterAll(async () => {
  hostGateway?.close();
  await upstream?.remove({ force: true }).catch(() => undefined);
  await pool?.cleanup();
  if (certs) await rm(certs, { recursive: true, force: true });
});

describe('keyless credentials', () => {
  it('the model API call carries the real key upstream while the sandbox holds a placeholder', async () => {
    const r = await sb.exec(['sh', '-c', 'curl -s -m 10 -H "x-api-key: $ANTHROPIC_API_KEY" -H "anthropic-version: 2023-06-01" "$ANTHROPIC_BASE_URL/v1/messages?beta=true" -d "{}"']);
    const seen = JSON.parse(r.stdout) as { path: string; headers: Record<string, string> };
    expect(seen.path).toBe('/v1/messages?beta=true');
    expect(seen.headers['x-api-key']).toBe(SECRET); // injected by the proxy over HTTPS (test CA)
    expect(seen.headers.host).toBe(FAKE);
    expect(seen.headers['anthropic-version']).toBe('2023-06-01');
  });

  it('git over HTTPS gets the token injected for github.com', async () => {
    await sb.exec(['sh', '-c', 'git ls-remote https://github.com/acme/widgets.git 2>&1 || true'], { timeoutMs: 30_000 });
    const logs = (await upstream.logs({ stdout: true, stderr: false })).toString('utf8');
    const line = logs.split('\n').find((l) => l.includes('/gh/acme/widgets.git/info/refs'));
    expect(line).toBeDefined();
    const auth = (JSON.parse(line!.slice(line!.indexOf('{'))) as { headers: Record<string, string> }).headers.authorization!;
    expect(Buffer.from(auth.replace(/^Basic /, ''), 'base64').toString()).toBe(`x-access-token:${GH_TOKEN}`);
  });

  it('an upstream named host.docker.internal is the engine host, wherever the proxy runs', async () => {
    const r = await sb.exec(['sh', '-c', 'curl -s -m 10 -H "authorization: Bearer $OPENAI_API_KEY" "$OPENAI_BASE_URL/responses"']);
    expect(r.stdout).toBe('{"ok":true}');
    expect(hostSeen.at(-1)).toEqual({ path: '/v1/responses', authorization: `Bearer ${OPENAI_KEY}` });
  });

  it('no secret is visible in the sandbox (env, files, processes), its labels, or the audit', async () => {
    const inside = await sb.exec(['sh', '-c', 'env; cat /proc/*/environ 2>/dev/null | tr "\\0" "\\n"; ps auxww; grep -rs . /home/agent /tmp /workspace 2>/dev/null | head -100; echo "$ANTHROPIC_API_KEY"']); // as the workload user: the workload can never be root (ROOT_REFUSED without allowRoot)
    for (const s of [SECRET, GH_TOKEN, OPENAI_KEY]) {
      expect(inside.stdout).not.toContain(s);
      expect(JSON.stringify(sb.info.labels)).not.toContain(s);
    }
    expect(inside.stdout).toContain('warden-placeholder-key');
    const audit = await sb.egressLog();
    expect(audit.map((a) => a.rule)).toEqual(expect.arrayContaining(['credential:anthropic', 'credential:github', 'credential:openai']));
    const proxy = await findProxy(engineOf(warden), sb.id);
    const proxyLog = await engineOf(warden).logs(proxy!.id, 10_000);
    for (const s of [SECRET, GH_TOKEN, OPENAI_KEY]) expect(proxyLog + JSON.stringify(audit) + JSON.stringify(proxy!.labels)).not.toContain(s);
  });

  it('asking for a credential Warden has no secret for says which variable to set, and makes nothing', async () => {
    const bare = new Warden({ owner: `test-${runId()}-nosecret`, labels: { [TEST_RUN_LABEL]: runId() }, logger: createLogger('error'), egress: { secrets: {} } });
    await expect(bare.create({ network: 'allowlist', egress: { credentials: ['gemini'] } })).rejects.toThrow(/no secret for it: set WARDEN_GEMINI_API_KEY/);
    expect(await bare.list({ owner: `test-${runId()}-nosecret` })).toEqual([]);
  });
});
