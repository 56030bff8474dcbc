/**
 * `executeCommand`: the POST answers a WebSocket URI and a password; the client connects, sends the
 * password as its first message, and from then on the socket is the command's terminal. As in ACI:
 * the command string is ONE executable path (no argument splitting: "ls /" looks for a file named
 * "ls /"), it runs on a pseudo-terminal (echo on, cooked mode, \n -> \r\n), output arrives as text
 * frames (bytes that are not UTF-8 become U+FFFD), stdout and stderr are merged, no exit code is
 * sent (the socket just closes), stdin cannot be closed, and there is no resize after the start.
 */
import type Docker from 'dockerode';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { WebSocketServer, type WebSocket } from 'ws';

interface Session {
  containerId: string;
  command: string;
  rows: number;
  cols: number;
  password: string;
  expires: number;
}

const HIGH_WATER = 1024 * 1024;

export class ExecSessions {
  private readonly sessions = new Map<string, Session>();
  private readonly wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });

  constructor(
    private readonly docker: Docker,
    private readonly publicHost: string,
    private readonly ttlSeconds: number,
  ) {}

  /** A new session: the URI and password ACI would return. */
  create(containerId: string, command: string, rows: number, cols: number): { webSocketUri: string; password: string } {
    const id = randomBytes(16).toString('hex');
    const password = randomBytes(24).toString('base64url');
    this.sessions.set(id, { containerId, command, rows, cols, password, expires: Date.now() + this.ttlSeconds * 1000 });
    for (const [k, s] of this.sessions) if (s.expires < Date.now()) this.sessions.delete(k);
    return { webSocketUri: `wss://${this.publicHost}/exec/${id}?rows=${rows}&cols=${cols}`, password };
  }

  /** HTTP upgrade on /exec/<id>: one use per session, before it expires. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const id = /^\/exec\/([0-9a-f]{32})(?:\?|$)/.exec(req.url ?? '')?.[1];
    const s = id ? this.sessions.get(id) : undefined;
    if (!id || !s || s.expires < Date.now()) {
      socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    this.sessions.delete(id);
    this.wss.handleUpgrade(req, socket, head, (ws) => this.run(ws, s));
  }

  private run(ws: WebSocket, s: Session): void {
    let authed = false;
    const timer = setTimeout(() => ws.close(1008, 'no password'), 10_000);
    const early: Buffer[] = [];
    let stream: Duplex | undefined;
    const t0 = Date.now();
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const buf = Buffer.isBuffer(data) ? data : Buffer.from(data as ArrayBuffer);
      if (!authed) {
        clearTimeout(timer);
        const a = Buffer.from(buf.toString('utf8'));
        const b = Buffer.from(s.password);
        if (a.length !== b.length || !timingSafeEqual(a, b)) {
          ws.close(1008, 'authentication failed');
          return;
        }
        authed = true;
        void this.attach(ws, s, t0).then(
          (d) => {
            stream = d;
            for (const e of early.splice(0)) d.write(e);
          },
          (err: Error) => {
            if (ws.readyState === ws.OPEN) {
              ws.send(`${err.message}\r\n`);
              ws.close(1011, 'exec failed');
            }
          },
        );
        return;
      }
      void isBinary;
      if (!stream) early.push(buf);
      else if (!stream.writableEnded && !stream.destroyed && !stream.write(buf)) {
        ws.pause();
        stream.once('drain', () => ws.resume());
      }
    });
    ws.on('close', (code, reason) => {
      clearTimeout(timer);
      if (stream && !stream.destroyed) log(`exec ${s.command} in ${s.containerId.slice(0, 12)}: the client closed (${code} ${reason.toString()}) after ${Date.now() - t0} ms; the command goes on`);
      stream?.destroy(); // the command goes on running, as after any lost attach
    });
  }

  private async attach(ws: WebSocket, s: Session, t0: number): Promise<Duplex> {
    const exec = await this.docker.getContainer(s.containerId).exec({ Cmd: [s.command], AttachStdin: true, AttachStdout: true, AttachStderr: true, Tty: true });
    const stream = (await exec.start({ hijack: true, stdin: true, Tty: true })) as unknown as Duplex;
    await exec.resize({ h: s.rows, w: s.cols }).catch(() => undefined); // the engine's API has no size at create
    const decoder = new StringDecoder('utf8');
    let inFlight = 0;
    let fromEngine = 0;
    let toClient = 0;
    stream.on('data', (chunk: Buffer) => {
      fromEngine += chunk.length;
      const text = decoder.write(chunk);
      if (!text || ws.readyState !== ws.OPEN) return;
      inFlight += text.length;
      toClient += text.length;
      ws.send(text, () => {
        inFlight -= text.length;
        if (inFlight < HIGH_WATER && stream.isPaused()) stream.resume();
      });
      if (inFlight >= HIGH_WATER) stream.pause();
    });
    let finished = false;
    // How the engine's stream ended, what the command's exit status was then (the engine knows it;
    // ACI does not pass it on), and how much was relayed: the close frame's reason and the log say it,
    // so a client that misses its exit record can tell where the bytes went
    const finish = (how: string): void => {
      if (finished) return;
      finished = true;
      const rest = decoder.end();
      if (rest && ws.readyState === ws.OPEN) {
        ws.send(rest);
        toClient += rest.length;
      }
      void exec.inspect().then(
        (i) => (i.Running ? 'still running' : `exit ${i.ExitCode}`),
        (err: Error) => `inspect failed: ${err.message}`,
      ).then((status) => {
        const why = `engine stream ${how}; the exec's process ${status}; ${fromEngine} B from the engine, ${toClient} chars sent`;
        log(`exec ${s.command} in ${s.containerId.slice(0, 12)}: ${why}; ${Date.now() - t0} ms`);
        if (ws.readyState === ws.OPEN) ws.close(1000, Buffer.from(why).subarray(0, 123).toString());
      });
    };
    stream.once('end', () => finish('ended'));
    stream.once('close', () => finish('closed'));
    stream.on('error', (err: Error) => finish(`failed (${err.message})`));
    return stream;
  }
}

function log(line: string): void {
  console.log(`${new Date().toISOString()} ${line}`);
}
