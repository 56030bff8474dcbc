import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { RemotePty } from './remote-pty.js';

/**
 * The SDK's remote terminal against a scripted server speaking the terminal protocol: what it does when
 * the server fails one control step. (Against the real server: test/server-pty.int.test.ts.)
 */
let wss: WebSocketServer | undefined;
afterEach(async () => {
  for (const c of wss?.clients ?? []) c.terminate();
  await new Promise<void>((r) => (wss ? wss.close(() => r()) : r()));
  wss = undefined;
});

/** A server that answers the first message with ready, then each control message as `answer` says. */
async function scripted(answer: (m: { type: string }, ws: WebSocket) => void): Promise<{ wsUrl: (p: string) => string; headers: () => Record<string, string> }> {
  wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise<void>((r) => wss!.once('listening', () => r()));
  wss.on('connection', (ws) => {
    let first = true;
    ws.on('message', (raw: Buffer, binary: boolean) => {
      if (binary) return;
      const m = JSON.parse(raw.toString()) as { type: string };
      if (first) {
        first = false;
        return void ws.send(JSON.stringify({ type: 'ready', ptyId: 'p0123456789abcdef' }));
      }
      answer(m, ws);
    });
  });
  const port = (wss.address() as AddressInfo).port;
  return { wsUrl: (p: string) => `ws://127.0.0.1:${port}${p}`, headers: () => ({}) };
}

describe('RemotePty', () => {
  it('a resize the server could not apply rejects with its coded error; the session goes on to its exit code', async () => {
    let resizes = 0;
    const endpoint = await scripted((m, ws) => {
      if (m.type !== 'resize') return;
      resizes++;
      if (resizes === 1) ws.send(JSON.stringify({ type: 'error', op: 'resize', code: 'SANDBOX_NOT_RUNNING', message: 'the engine refused the resize' }));
      else {
        ws.send(JSON.stringify({ type: 'resized', cols: 70, rows: 15 }));
        ws.send(JSON.stringify({ type: 'exit', exitCode: 9, durationMs: 5 }));
        ws.close(1000);
      }
    });
    const pty = await RemotePty.open(endpoint, '/pty/ws', { type: 'start' });
    // before: this never settled (the error failed the whole session and the resize waited forever)
    await expect(pty.resize(80, 24)).rejects.toMatchObject({ code: 'SANDBOX_NOT_RUNNING', message: expect.stringMatching(/refused the resize/) });
    await pty.resize(70, 15);
    expect(await pty.wait()).toMatchObject({ exitCode: 9 });
  });

  it('resizes still waiting when the connection closes settle at once', async () => {
    const endpoint = await scripted((m, ws) => {
      if (m.type === 'resize') ws.close(1000);
    });
    const pty = await RemotePty.open(endpoint, '/pty/ws', { type: 'start' });
    await pty.resize(80, 24);
    await expect(pty.wait()).rejects.toMatchObject({ code: 'SERVER_UNREACHABLE' });
  });
});
