import Docker from 'dockerode';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EGRESS_NETWORK } from '../src/runtime/docker/egress.js';
import type { Sandbox } from '../src/sandbox/sandbox.js';
import { cli } from './support/cli.js';
import { runId, sandboxPool, testWarden } from './support/fixture.js';
import { TEST_RUN_LABEL } from './support/labels.js';
import { wardenImage } from '../src/images/catalog.js';
import { engineOf } from './support/engine.js';

// "The internet" here is a fake upstream in a container of ours on the egress network, under a
// real-looking name (a network alias). Nothing leaves this machine.
const UPSTREAM = 'api.fake-upstream.test';
const OTHER = 'other.fake-upstream.test';
const docker = new Docker();
const warden = testWarden(`test-${runId()}-egress`);
const pool = sandboxPool(warden);
let a: Sandbox;
let b: Sandbox;
let upstream: Docker.Container;
let upstreamIp = '';
let canary: Server;

const HTTP_SERVER = (port: number, text: string) =>
  `my $s = IO::Socket::INET->new(LocalPort => ${port}, Listen => 16, ReuseAddr => 1) or die; while (my $c = $s->accept) { my $r = <$c>; my ($p) = $r =~ m{^\\S+ (\\S+)}; print $c "HTTP/1.0 200 OK\\r\\nContent-Type: text/plain\\r\\n\\r\\n${text} path=$p\\n"; close $c }`;

const sh = async (sb: Sandbox, script: string) => sb.exec(['sh', '-c', script], { timeoutMs: 30_000 });

beforeAll(async () => {
  a = await pool.create({ network: 'allowlist', egress: { allow: [`${UPSTREAM}:8080`] } });
  b = await pool.create({ network: 'allowlist', egress: { presets: ['github'] } });
  upstream = await docker.createContainer({
    Image: wardenImage('sandbox'),
    name: `warden-test-upstream-${runId()}`,
    Entrypoint: ['perl', '-MIO::Socket::INET', '-e', HTTP_SERVER(8080, 'hello from upstream')],
    Labels: { [TEST_RUN_LABEL]: runId() },
    HostConfig: { NetworkMode: EGRESS_NETWORK },
    NetworkingConfig: { EndpointsConfig: { [EGRESS_NETWORK]: { Aliases: [UPSTREAM, OTHER] } } },
  });
  await upstream.start();
  upstreamIp = (await upstream.inspect()).NetworkSettings.Networks[EGRESS_NETWORK]!.IPAddress;
  canary = createServer((_req, res) => res.end('host canary')).listen(0, '0.0.0.0');
  await once(canary, 'listening');
});
afterAll(async () => {
  canary?.close();
  await upstream?.remove({ force: true }).catch(() => undefined);
  await pool.cleanup();
});

describe('network allowlist', () => {
  it('reaches an allowed host through the proxy, by HTTP and by CONNECT', async () => {
    const r = await sh(a, `curl -s -m 10 http://${UPSTREAM}:8080/hello?token=abc; curl -s -m 10 -p http://${UPSTREAM}:8080/tunnelled`);
    expect(r.stdout).toBe('hello from upstream path=/hello?token=abc\nhello from upstream path=/tunnelled\n');
  });

  it('denies everything else with 403 and a body naming the policy, and logs it', async () => {
    const r = await sh(a, `curl -s -m 10 -w ' [%{http_code}]' http://${OTHER}:8080/; echo; curl -s -m 10 -w ' [%{http_code}]' http://${UPSTREAM}:9999/; echo; curl -s -m 10 https://${OTHER}/ >/dev/null; echo "https exit $?"`);
    expect(r.stdout).toContain(`warden egress: denied ${OTHER}:8080: ${OTHER} is not in the sandbox's egress allowlist. Add it with --allow ${OTHER}:8080 (or a preset) if the sandbox needs it.\n [403]`);
    expect(r.stdout).toMatch(/port 9999 not allowed for api\.fake-upstream\.test:8080 [^\n]*\n \[403\]/);
    expect(r.stdout).toMatch(/https exit 56/); // CONNECT refused with 403
    const log = await a.egressLog();
    expect(log.filter((l) => l.allowed).map((l) => `${l.method} ${l.host}:${l.port}${l.path}`)).toEqual(
      expect.arrayContaining([`GET ${UPSTREAM}:8080/hello`, `CONNECT ${UPSTREAM}:8080`]),
    );
    expect(log.filter((l) => !l.allowed).map((l) => `${l.method} ${l.host}:${l.port} ${l.status}`)).toEqual(
      expect.arrayContaining([`GET ${OTHER}:8080 403`, `GET ${UPSTREAM}:9999 403`, `CONNECT ${OTHER}:443 403`]),
    );
    expect(JSON.stringify(log)).not.toContain('token=abc'); // no query strings in the audit
    const cliLog = JSON.parse((await cli(['egress', a.id, '--json'])).stdout) as unknown[];
    expect(cliLog.length).toBe(log.length);
  });

  it('a program that ignores the proxy has no route: not to the upstream IP, not by DNS', async () => {
    const t0 = Date.now();
    const r = await sh(a, `curl -s -m 3 --noproxy '*' http://${upstreamIp}:8080/ ; echo "direct exit $?"; getent hosts ${UPSTREAM} || echo "no dns for ${UPSTREAM}"`);
    expect(Date.now() - t0).toBeLessThan(15_000); // lookups fail fast instead of hanging
    expect(r.stdout).toMatch(/^direct exit (7|28)$/m);
    expect(r.stdout).toContain(`no dns for ${UPSTREAM}`);
    expect((await sh(a, 'getent hosts warden-proxy')).stdout).toMatch(/^10\.\d+\.\d+\.\d+\s+warden-proxy/);
  });

  it('cannot reach services of the host on its network gateway', async () => {
    const net = await engineOf(warden).inspectNetwork(`warden-net-${a.id}`);
    expect(net).toMatchObject({ internal: true, noHostAddress: true });
    const port = (canary.address() as AddressInfo).port;
    // the sandbox's own idea of its gateway, from its routing table (the engine records none: the host has no address there)
    const r = await a.exec(['bash', '-c', `gw=$(awk '$2=="00000000"{print $3}' /proc/net/route | head -1); ip=$(printf '%d.%d.%d.%d' 0x\${gw:6:2} 0x\${gw:4:2} 0x\${gw:2:2} 0x\${gw:0:2}); echo "gateway $ip"; curl -s -m 3 --noproxy '*' http://$ip:${port}/ ; echo "exit $?"`]);
    expect(r.stdout).toMatch(/^gateway 10\.\d+\.\d+\.\d+$/m);
    expect(r.stdout).not.toContain('host canary');
    expect(r.stdout).toMatch(/exit (7|28)/);
    // the canary does answer where it may: on loopback, from this test process
    expect(await fetch(`http://127.0.0.1:${port}/`).then((x) => x.text())).toBe('host canary');
  });

  it('two sandboxes cannot reach each other', async () => {
    const server = await b.spawn(['perl', '-MIO::Socket::INET', '-e', HTTP_SERVER(8081, 'b')]);
    server.stdout.resume();
    server.stderr.resume();
    await new Promise((r) => setTimeout(r, 500));
    expect((await sh(b, `curl -s -m 3 --noproxy '*' http://127.0.0.1:8081/`)).stdout).toBe('b path=/\n'); // it is listening
    const bIp = (await engineOf(warden).inspect(b.containerId))!.networks!.find((n) => n.name.startsWith('warden-net-'))!.ip;
    const r = await sh(a, `curl -s -m 3 --noproxy '*' http://${bIp}:8081/ ; echo "exit $?"`);
    expect(r.stdout).toMatch(/^exit (7|28)$/m);
  });

  it('the proxy survived every request above (resets, denials, tunnels)', async () => {
    const { findProxy } = await import('../src/runtime/docker/egress.js');
    expect((await findProxy(engineOf(warden), a.id))?.state).toBe('running');
    expect((await sh(a, `curl -s -m 10 http://${UPSTREAM}:8080/still`)).stdout).toBe('hello from upstream path=/still\n');
  });

  it('removing the sandbox removes its proxy and network', async () => {
    const c = await warden.create({ network: 'allowlist' });
    const net = `warden-net-${c.id}`;
    expect(await engineOf(warden).inspectNetwork(net)).toBeDefined();
    await c.remove({ force: true });
    expect(await engineOf(warden).inspectNetwork(net)).toBeUndefined();
    expect(await engineOf(warden).list({ 'warden.id': c.id })).toEqual([]);
  });

  it('warden run --allow from the CLI', async () => {
    const r = await cli(['run', '--allow', `${UPSTREAM}:8080`, '--', 'curl', '-s', '-m', '10', `http://${UPSTREAM}:8080/cli`]);
    expect(r).toMatchObject({ code: 0, stdout: 'hello from upstream path=/cli\n' });
    const bad = await cli(['run', '--allow', '*.com', '--', 'true']);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toMatch(/'\*\.com' would allow almost everything/);
  });
});
