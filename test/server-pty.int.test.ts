import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RemoteWarden } from '../src/client/remote.js';
import { startTestServer, type TestServer } from './support/server.js';
import { Screen } from './support/pty-screen.js';
import { TmuxTerminal } from './support/tmux.js';

let s: TestServer;
let sbId: string;
let remote: RemoteWarden;
const terms: TmuxTerminal[] = [];

beforeAll(async () => {
  s = await startTestServer();
  remote = new RemoteWarden({ url: s.url, token: s.token, actor: 'test' });
  sbId = (await remote.create({ lifetime: 'persistent' })).id;
});
afterAll(async () => {
  await Promise.all(terms.map((t) => t.close()));
  await remote.remove(sbId, { force: true }).catch(() => undefined);
  await s.close();
});

/** A raw WebSocket to the terminal route; `protocols` for the browser's way of sending the token. */
function socket(opts: { protocols?: string[]; headers?: Record<string, string> } = {}): WebSocket {
  return new WebSocket(`${s.url.replace('http', 'ws')}/api/v1/sandboxes/${sbId}/pty/ws`, opts.protocols ?? [], { headers: opts.headers ?? {} });
}

describe('WebSocket terminal route', () => {
  it('is in the OpenAPI description', async () => {
    const doc = (await s.call('GET', '/openapi.json')).body as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/api/v1/sandboxes/{id}/pty/ws', '/api/v1/sandboxes/{id}/ptys']));
  });

  it('RemoteWarden: a shell over the server, resize, detach, attach again by id, exit code; audited as an exec', async () => {
    // every step bounded and named: a hang says which step, with both screens (a full run once timed out here)
    const screens: Screen[] = [];
    const step = async <T,>(what: string, p: Promise<T>, ms = 20_000): Promise<T> => {
      let timer: NodeJS.Timeout | undefined;
      try {
        return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms; screens:\n${screens.map((x) => x.all.slice(-600)).join('\n---\n')}`)), ms)))]);
      } finally {
        clearTimeout(timer);
      }
    };
    const sb = await step('get', remote.get(sbId));
    const pty = await step('open', sb.pty({ cmd: ['bash', '--norc', '-i'], cols: 90, rows: 20 }));
    const screen = new Screen(pty);
    screens.push(screen);
    pty.write('echo "size $(tput cols)x$(tput lines)"\r');
    await screen.waitFor(/size 90x20/);
    await step('resize', pty.resize(70, 15));
    const mark = screen.mark();
    pty.write('echo "now $(tput cols)"\r');
    await screen.waitFor(/now 70/, mark);
    await step('detach', pty.detach());
    expect(await step('list', sb.ptys.list())).toContainEqual({ id: pty.id, state: 'running' });
    const again = await step('attach again', sb.ptys.connect(pty.id, { cols: 100, rows: 30 }));
    const s2 = new Screen(again);
    screens.push(s2);
    await s2.waitFor(/now 70/); // replayed
    again.write('exit 9\r');
    expect((await step('exit code after exit 9', again.wait())).exitCode).toBe(9);
    const execs = (await s.call('GET', `/api/v1/sandboxes/${sbId}/execs`)).body as { execs: Array<{ mode: string; exitCode?: number; command: string[] }> };
    expect(execs.execs.find((e) => e.mode === 'pty')).toMatchObject({ exitCode: 9, command: ['bash', '--norc', '-i'] });
  }, 150_000);

  it('a browser-style connection sends the token as a subprotocol; without a token it is refused', async () => {
    const ws = socket({ protocols: ['warden', `bearer.${Buffer.from(s.token).toString('base64url')}`] });
    const out: Buffer[] = [];
    const msgs: Array<Record<string, unknown>> = [];
    await new Promise<void>((resolve, reject) => {
      ws.on('error', reject);
      ws.on('open', () => ws.send(JSON.stringify({ type: 'start', cmd: ['sh', '-c', 'read line; echo "got:$line"; exit 4'], cols: 80, rows: 24 })));
      ws.on('message', (raw: Buffer, binary: boolean) => {
        if (binary) return void out.push(raw);
        const m = JSON.parse(raw.toString()) as Record<string, unknown>;
        msgs.push(m);
        if (m.type === 'ready') ws.send(Buffer.from('hello\r'), { binary: true });
      });
      ws.on('close', () => resolve());
    });
    expect(ws.protocol).toBe('warden');
    expect(Buffer.concat(out).toString()).toMatch(/got:hello/);
    expect(msgs.at(-1)).toMatchObject({ type: 'exit', exitCode: 4 });

    const refused = socket({ protocols: ['warden', `bearer.${Buffer.from('wrong').toString('base64url')}`] });
    const status = await new Promise<number>((resolve) => refused.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)));
    expect(status).toBe(401);
  });

  it('bad first messages and unknown sessions get coded errors', async () => {
    const first = async (msg: unknown): Promise<Record<string, unknown>> => {
      const ws = socket({ headers: { authorization: `Bearer ${s.token}` } });
      return new Promise((resolve, reject) => {
        ws.on('error', reject);
        ws.on('open', () => ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg)));
        ws.on('message', (raw: Buffer) => resolve(JSON.parse(raw.toString()) as Record<string, unknown>));
      });
    };
    expect(await first('not json')).toMatchObject({ type: 'error', code: 'INVALID_ARGUMENT' });
    expect(await first({ type: 'start', cols: 0, rows: 24 })).toMatchObject({ type: 'error', code: 'INVALID_ARGUMENT' });
    expect(await first({ type: 'start', cmd: [] })).toMatchObject({ type: 'error', code: 'INVALID_ARGUMENT' });
    expect(await first({ type: 'attach', ptyId: 'ffffffffffffffff' })).toMatchObject({ type: 'error', code: 'PTY_NOT_FOUND' });
    expect(await first({ type: 'attach', ptyId: '../x' })).toMatchObject({ type: 'error', code: 'INVALID_ARGUMENT' });
  });

  it('warden exec -it through the server (WARDEN_URL) in a real terminal', async () => {
    const t = await TmuxTerminal.open('srv-exec', { cols: 110, rows: 35, env: { WARDEN_URL: s.url, WARDEN_TOKEN: s.token } });
    terms.push(t);
    await t.type(`node bin/warden.js exec -it ${sbId} -- bash --norc -i; echo "[exited $?]"`);
    await t.waitFor(/bash-[\d.]+\$ $/m);
    await t.type('echo "remote $(tput cols)x$(tput lines)"');
    await t.waitFor(/remote 110x35/);
    await t.type('exit 6');
    await t.waitFor(/\[exited 6\]/);
  });
});
