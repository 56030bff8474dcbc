import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { WardenError } from '../../errors.js';
import { execHandle } from './exec.js';
import { FramedExec, type TerminalSocket } from './exec-framing.js';

/** A terminal socket whose far side the test plays (the helper's records, the server's close). */
class FakeSocket extends EventEmitter implements TerminalSocket {
  sent: string[] = [];
  paused = false;
  closedWith: number | undefined;
  send(data: string, cb?: (err?: Error) => void): void {
    this.sent.push(data);
    cb?.();
  }
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
  }
  close(code = 1000): void {
    if (this.closedWith !== undefined) return;
    this.closedWith = code;
    setImmediate(() => this.emit('close', code, Buffer.from('')));
  }
  terminate(): void {
    this.close(1006);
  }
  /** What the helper writes. */
  helper(text: string): void {
    this.emit('message', Buffer.from(text), false);
  }
  /** The server closes the socket. */
  serverClose(code: number, reason = ''): void {
    this.emit('close', code, Buffer.from(reason));
  }
}

async function started(opts: { silenceLimitMs?: number } = {}): Promise<{ ws: FakeSocket; p: FramedExec }> {
  const ws = new FakeSocket();
  const starting = FramedExec.start(ws, { argv: ['true'] }, opts);
  ws.helper('~H2 65536\n');
  ws.helper('~S42\n');
  return { ws, p: await starting };
}

describe('a framed exec whose stream ends badly (no engine)', () => {
  it('acknowledges the exit record, so the helper may go', async () => {
    const { ws, p } = await started();
    ws.helper('~OaGk=\n~Xc3\n');
    expect(await p.wait()).toEqual({ exitCode: 3 });
    expect(ws.sent.at(-1)).toBe('~A\n');
  });

  it('records who closed and what arrived, and fails with EXEC_FAILED instead of a silent -1', async () => {
    const { ws, p } = await started();
    ws.helper('~OaGk=\n');
    ws.serverClose(1000, 'engine stream ended');
    const err = (await p.wait().catch((e: unknown) => e)) as WardenError;
    expect(err.code).toBe('EXEC_FAILED');
    expect(err.message).toContain('closed by the server (WebSocket 1000 "engine stream ended"); exit record NOT received; 3 records (last: stdout)');
    expect(err.details?.stream).toMatchObject({ closedBy: 'server', closeCode: 1000, exitRecord: false, stdoutBytes: 2, pid: 42 });
    // the contract's handle passes the failure on; only a detached handle answers -1
    const { ws: ws2, p: p2 } = await started();
    const h = execHandle(p2);
    ws2.serverClose(1006);
    await expect(h.wait()).rejects.toMatchObject({ code: 'EXEC_FAILED', details: { stream: { closedBy: 'lost' } } });
    const { p: p3 } = await started();
    const h3 = execHandle(p3);
    h3.detach();
    expect(await h3.wait()).toBe(-1);
  });

  it('says when the helper gave up on this client (its dead-man switch)', async () => {
    const { ws, p } = await started();
    ws.helper('~Ldeadman\n');
    ws.serverClose(1000);
    await expect(p.wait()).rejects.toMatchObject({ code: 'EXEC_FAILED', message: expect.stringContaining('the helper gave up on this client (deadman'), details: { stream: { helperLost: 'deadman' } } });
  });

  it('bounds a stream that goes silent without closing, but never one the consumer holds back', async () => {
    const { ws, p } = await started({ silenceLimitMs: 300 });
    const t0 = Date.now();
    const err = (await p.wait().catch((e: unknown) => e)) as WardenError;
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(err).toMatchObject({ code: 'EXEC_FAILED', message: expect.stringContaining('nothing came from warden-aci-exec for 300 ms') });
    expect(ws.closedWith).toBe(1000);

    // a consumer that does not read: the socket is paused and silence is expected, not a failure
    const held = await started({ silenceLimitMs: 300 });
    held.ws.helper(`~O${Buffer.alloc(3 * 1024 * 1024).toString('base64')}\n`); // beyond stdout's buffer: the socket pauses
    expect(held.ws.paused).toBe(true);
    const early = await Promise.race([held.p.wait().then(() => 'ended', () => 'failed'), new Promise((r) => setTimeout(() => r('waiting'), 1200))]);
    expect(early).toBe('waiting');
    held.p.stdout.resume(); // reading again resumes the socket; the exit then comes
    held.ws.helper('~Xc0\n');
    expect(await held.p.wait()).toEqual({ exitCode: 0 });
  });
});
