import { PassThrough, type Readable } from 'node:stream';
import WebSocket from 'ws';
import { WardenError, type WardenErrorCode } from '../errors.js';
import type { ExitInfo } from '../sandbox/process.js';
import type { PtyApi } from './api.js';

/** What a remote terminal needs of its client (RemoteWarden): where the server's WebSocket routes are, and its headers. */
export interface PtyEndpoint {
  wsUrl(path: string): string;
  headers(): Record<string, string>;
}

/** A terminal session behind a Warden server: one WebSocket, binary frames for the terminal, JSON for control. */
export class RemotePty implements PtyApi {
  readonly output: Readable = new PassThrough();
  private detached = false;
  /** Resizes sent and not yet answered, oldest first (the server answers them in order). */
  private readonly resizes: Array<{ done: () => void; failed: (err: Error) => void }> = [];
  private constructor(
    private readonly ws: WebSocket,
    readonly id: string,
    private readonly exited: Promise<ExitInfo>,
  ) {}

  /** @internal open (`start`) or attach to (`attach`) a session; resolves once the server says ready. */
  static open(w: PtyEndpoint, path: string, first: Record<string, unknown>): Promise<RemotePty> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(w.wsUrl(path), { headers: w.headers() });
      let pty: RemotePty | undefined;
      let settle!: (e: ExitInfo) => void;
      let fail!: (err: Error) => void;
      const exited = new Promise<ExitInfo>((res, rej) => ((settle = res), (fail = rej)));
      exited.catch(() => undefined);
      ws.on('unexpected-response', (req, res) => {
        req.destroy();
        reject(new WardenError(res.statusCode === 401 ? 'UNAUTHORIZED' : 'SERVER_UNREACHABLE', `the server refused the terminal (HTTP ${res.statusCode})`));
      });
      ws.on('error', (err) => {
        const e = new WardenError('SERVER_UNREACHABLE', `the terminal connection to the Warden server failed: ${err.message}`, { cause: err });
        if (!pty) reject(e);
        fail(e);
      });
      ws.on('open', () => ws.send(JSON.stringify(first)));
      ws.on('message', (raw: Buffer, isBinary: boolean) => {
        if (isBinary) {
          (pty?.output as PassThrough | undefined)?.write(raw);
          return;
        }
        const m = JSON.parse(raw.toString('utf8')) as { type: string; op?: string; ptyId?: string; code?: string; message?: string; exitCode?: number; durationMs?: number; killedBy?: 'timeout' | 'abort' };
        if (m.type === 'ready') {
          pty = new RemotePty(ws, m.ptyId!, exited);
          resolve(pty);
        } else if (m.type === 'resized') {
          pty?.resizes.shift()?.done();
        } else if (m.type === 'error' && pty && m.op) {
          // one control step failed; the session goes on (a resize that waited for its answer gets the error)
          const e = new WardenError((m.code as WardenErrorCode) ?? 'EXEC_FAILED', m.message ?? `the server failed the terminal's ${m.op}`);
          if (m.op === 'resize') pty.resizes.shift()?.failed(e);
        } else if (m.type === 'exit') {
          (pty?.output as PassThrough | undefined)?.end();
          settle({ exitCode: m.exitCode ?? -1, durationMs: m.durationMs ?? 0, ...(m.killedBy ? { killedBy: m.killedBy } : {}) });
        } else if (m.type === 'error') {
          const e = new WardenError((m.code as WardenErrorCode) ?? 'EXEC_FAILED', m.message ?? 'the server failed the terminal');
          if (!pty) reject(e);
          fail(e);
        }
      });
      ws.on('close', () => {
        (pty?.output as PassThrough | undefined)?.end();
        pty?.resizes.splice(0).forEach((r) => r.done()); // pending resizes: nothing left to resize
        if (pty?.detached) fail(new WardenError('PTY_DETACHED', `this handle was detached from terminal session ${pty.id}; it goes on: ptys.connect('${pty.id}') attaches again`));
        else fail(new WardenError('SERVER_UNREACHABLE', 'the Warden server closed the terminal before the program ended; the session may still run: ptys.connect(id) attaches again'));
      });
    });
  }

  write(data: string | Buffer): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(typeof data === 'string' ? Buffer.from(data) : data, { binary: true });
  }
  onData(cb: (chunk: Buffer) => void): () => void {
    this.output.on('data', cb);
    return () => this.output.off('data', cb);
  }
  /** Resolves once the server has applied the size (or the connection is gone); rejects with the server's coded error when it could not. */
  async resize(cols: number, rows: number): Promise<void> {
    if (this.ws.readyState !== this.ws.OPEN) return;
    const applied = new Promise<void>((done, failed) => this.resizes.push({ done, failed }));
    this.ws.send(JSON.stringify({ type: 'resize', cols, rows }));
    await applied;
  }
  async kill(signal = 'SIGKILL'): Promise<number> {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(JSON.stringify({ type: 'signal', signal }));
    return 1;
  }
  wait(): Promise<ExitInfo> {
    return this.exited;
  }
  async detach(): Promise<void> {
    if (this.detached) return;
    this.detached = true;
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(JSON.stringify({ type: 'detach' }));
    await this.exited.catch(() => undefined);
  }
}
