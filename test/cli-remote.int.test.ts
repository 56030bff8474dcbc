import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from './support/cli.js';
import { runId } from './support/fixture.js';
import { startTestServer, type TestServer } from './support/server.js';
import { wardenImage } from '../src/images/catalog.js';

// The same CLI commands against a Warden server (WARDEN_URL + WARDEN_TOKEN) instead of the engine.
let s: TestServer;
let dir: string;
const remote = () => ({ WARDEN_URL: s.url, WARDEN_TOKEN: s.token });

beforeAll(async () => {
  s = await startTestServer({ owner: `test-${runId()}-remote` });
  dir = await mkdtemp(join(tmpdir(), 'warden-remote-cli-'));
}, 60_000);
afterAll(async () => {
  await s?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('CLI against a server (WARDEN_URL)', () => {
  it('create, ps, exec (exit code, stdin, streams apart), cp both ways, stats, top, stop, rm: the server does the work and records it', async () => {
    const created = await cli(['create', '--json', '--key', `remote-${runId()}`], { env: remote() });
    expect(created.code, created.stderr).toBe(0);
    const sb = JSON.parse(created.stdout);
    // the server made it (its owner), and recorded the CLI as the actor
    expect(sb.owner).toBe(`test-${runId()}-remote`);
    const ps = await cli(['ps'], { env: remote() });
    expect(ps.stdout.split('\n')[0]).toMatch(/^ID\s+NAME\s+STATE\s+IMAGE\s+LIFETIME\s+AGE\s+KEY\s+PORTS$/);
    expect(ps.stdout).toMatch(new RegExp(`${sb.id}\\s+\\S+\\s+running\\s+${wardenImage('sandbox')}\\s+persistent`));

    const ex = await cli(['exec', sb.id, '--', 'sh', '-c', 'echo out; echo err >&2; exit 3'], { env: remote() });
    expect(ex).toMatchObject({ code: 3, stdout: 'out\n', stderr: 'err\n' });
    const piped = await cli(['exec', '-i', sb.id, '--', 'sh', '-c', 'tr a-z A-Z'], { env: remote(), input: 'from stdin\n' });
    expect(piped).toMatchObject({ code: 0, stdout: 'FROM STDIN\n' });
    const timed = await cli(['exec', '--timeout', '1s', sb.id, '--', 'sleep', '30'], { env: remote() });
    expect(timed.code).toBe(124);

    await writeFile(join(dir, 'up.txt'), 'uploaded through the server\n');
    expect((await cli(['cp', join(dir, 'up.txt'), `${sb.id}:/workspace/up.txt`], { env: remote() })).code).toBe(0);
    expect((await cli(['exec', sb.id, '--', 'cat', '/workspace/up.txt'], { env: remote() })).stdout).toBe('uploaded through the server\n');
    expect((await cli(['cp', `${sb.id}:/workspace/up.txt`, join(dir, 'down.txt')], { env: remote() })).code).toBe(0);
    expect(await readFile(join(dir, 'down.txt'), 'utf8')).toBe('uploaded through the server\n');

    const stats = await cli(['stats', '--json', sb.id], { env: remote() });
    expect(JSON.parse(stats.stdout).state).toBe('running');
    expect((await cli(['top', sb.id], { env: remote() })).stdout).toMatch(/init\s+\/\.warden\/warden-guard init/); // the guard is PID 1

    expect((await cli(['stop', '-t', '2s', sb.id], { env: remote() })).code).toBe(0);
    expect((await s.call('GET', `/api/v1/sandboxes/${sb.id}`)).body.sandbox.state).toBe('exited');
    expect((await cli(['rm', sb.id], { env: remote() })).code).toBe(0);
    const actions = (await s.call('GET', `/api/v1/sandboxes/${sb.id}/actions`)).body.actions.map((a: any) => a.actor);
    expect(actions.every((a: string) => a.startsWith('cli:'))).toBe(true);
    expect((await s.call('GET', `/api/v1/sandboxes/${sb.id}`)).body.sandbox.state).toBe('removed');
  }, 120_000);

  it('exec output is byte-exact through the server (binary, and UTF-8 split across chunks)', async () => {
    const created = await cli(['create', '--json'], { env: remote() });
    const sb = JSON.parse(created.stdout);
    // 256 KiB of random bytes (invalid UTF-8 almost everywhere) and the same bytes copied out as a file
    const ex = await cli(['exec', sb.id, '--', 'sh', '-c', 'head -c 262144 /dev/urandom | tee /tmp/r.bin'], { env: remote() });
    expect(ex.code, ex.stderr).toBe(0);
    expect((await cli(['cp', `${sb.id}:/tmp/r.bin`, join(dir, 'r.bin')], { env: remote() })).code).toBe(0);
    const file = await readFile(join(dir, 'r.bin'));
    expect(file.length).toBe(262144);
    expect(ex.stdoutBytes.equals(file)).toBe(true);
    // text still arrives as text: a multi-byte character written one byte at a time
    const text = await cli(['exec', sb.id, '--', 'sh', '-c', "printf '\\342'; sleep 0.2; printf '\\202\\254\\n'"], { env: remote() });
    expect(text.stdout).toBe('€\n');
    await cli(['rm', '-f', sb.id], { env: remote() });
  }, 60_000);

  it('says what is wrong when the server is unreachable, the token is wrong, or the sandbox is unknown', async () => {
    const down = await cli(['ps'], { env: { WARDEN_URL: 'http://127.0.0.1:1', WARDEN_TOKEN: 'x'.repeat(20) } });
    expect(down.code).toBe(125);
    expect(down.stderr).toMatch(/no Warden server answers at http:\/\/127\.0\.0\.1:1.*SERVER_UNREACHABLE/);
    const bad = await cli(['ps'], { env: { WARDEN_URL: s.url, WARDEN_TOKEN: 'wrong-token-wrong-token' } });
    expect(bad.code).toBe(125);
    expect(bad.stderr).toMatch(/refused the token.*UNAUTHORIZED/);
    const none = await cli(['ps'], { env: { WARDEN_URL: s.url, WARDEN_TOKEN: '' } });
    expect(none.stderr).toMatch(/no token: set WARDEN_TOKEN/);
    const unknown = await cli(['exec', 'sbx-nope', '--', 'true'], { env: remote() });
    expect(unknown.code).toBe(125);
    expect(unknown.stderr).toMatch(/SANDBOX_NOT_FOUND/);
  }, 60_000);
});
