import type { IncomingMessage } from 'node:http';
import { Readable, Writable } from 'node:stream';
import type { KubeConfig } from '@kubernetes/client-node';
import WebSocket from 'ws';
import { WardenError } from '../../errors.js';
import {
  Channel,
  closeFrame,
  EXEC_SUBPROTOCOL,
  type ExecExit,
  frame,
  isTerminalDimension,
  MAX_STDIN_FRAME,
  parseExecStatus,
  resizeFrame,
} from './exec-protocol.js';

export type { ExecExit } from './exec-protocol.js';

/** What to run, where, and which streams to open. */
export interface ExecRequest {
  namespace: string;
  pod: string;
  /** Needed when the pod has more than one container. */
  container?: string;
  /** argv, never a shell string (`['bash', '-lc', script]` when a shell is wanted). Ignored by `attach`. */
  command: readonly string[];
  /**
   * `exec` (default) starts `command`; `attach` connects to the container's main process instead (its
   * stdin must be open in the pod spec; with `stdinOnce` the process reads EOF once this stream ends).
   */
  mode?: 'exec' | 'attach';
  /** Open stdin (default false). `stdin.end()` then half-closes it: the command reads EOF. */
  stdin?: boolean;
  /** Allocate a terminal (default false). stderr is then merged into stdout by the terminal. */
  tty?: boolean;
  /** The terminal's first size (tty only), sent as soon as the socket opens. */
  terminalSize?: { columns: number; rows: number };
  /** Bytes each stream buffers before the socket is paused (default 1 MiB). */
  highWaterMark?: number;
  /** Time allowed for the websocket upgrade (default 30 s). */
  handshakeTimeoutMs?: number;
  /** Aborting before the socket opens rejects with EXEC_ABORTED; after, it closes the socket. */
  signal?: AbortSignal;
  /** Let the process exit while this stream is open (an owner link held for the process's whole life). */
  unref?: boolean;
}

/** A running remote command's streams. */
export interface ExecStream {
  /** The command's stdin, or null when not requested. Its buffer is bounded: honour `write()`'s return. */
  readonly stdin: Writable | null;
  /** The command's stdout (with a tty: the terminal's output). Reading slowly pauses the socket. */
  readonly stdout: Readable;
  /** The command's stderr, or null with a tty. Must be consumed too: both share one socket. */
  readonly stderr: Readable | null;
  /**
   * How the command ended; never rejects. Settles when the socket closes, after stdout and stderr
   * have received everything the server sent.
   */
  readonly exit: Promise<ExecExit>;
  /** Sends a terminal size (tty only). */
  resize(columns: number, rows: number): void;
  /**
   * Closes the socket. This does NOT stop the remote command: the API server and the kubelet let it
   * run on (without a stdin, or with stdin at EOF). Stopping it is the caller's job (tree kill).
   * `exit` then settles as `unknown` unless the status had already arrived.
   */
  close(): void;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const MAX_STATUS_BYTES = 64 * 1024;
const MAX_ERROR_BODY = 64 * 1024;

function validate(req: ExecRequest): void {
  const bad = (what: string): never => {
    throw new WardenError('INVALID_ARGUMENT', `exec: ${what}`);
  };
  if (typeof req.namespace !== 'string' || req.namespace.length > 63 || !DNS_LABEL.test(req.namespace)) {
    bad(`namespace ${JSON.stringify(req.namespace)} is not a Kubernetes namespace name (a DNS label: a-z, 0-9, '-', at most 63)`);
  }
  if (typeof req.pod !== 'string' || req.pod.length > 253 || !DNS_SUBDOMAIN.test(req.pod)) {
    bad(`pod ${JSON.stringify(req.pod)} is not a Kubernetes pod name (a DNS subdomain: a-z, 0-9, '-', '.', at most 253)`);
  }
  if (req.container !== undefined && (typeof req.container !== 'string' || req.container.length > 63 || !DNS_LABEL.test(req.container))) {
    bad(`container ${JSON.stringify(req.container)} is not a container name (a DNS label)`);
  }
  if (req.mode !== 'attach' && (!Array.isArray(req.command) || req.command.length === 0 || !req.command.every((a) => typeof a === 'string'))) {
    bad('command must be a non-empty array of strings (argv), e.g. ["bash", "-lc", "echo hi"]');
  }
  if (req.terminalSize !== undefined) {
    if (!req.tty) bad('terminalSize needs tty: true');
    if (!isTerminalDimension(req.terminalSize.columns) || !isTerminalDimension(req.terminalSize.rows)) {
      bad('terminalSize.columns and .rows must be integers from 1 to 65535');
    }
  }
  if (req.highWaterMark !== undefined && (!Number.isInteger(req.highWaterMark) || req.highWaterMark < 1024)) {
    bad('highWaterMark must be an integer of at least 1024 bytes');
  }
}

/** The exec URL on the kubeconfig's current cluster (keeps a path prefix such as a proxy's). */
function execUrl(kc: KubeConfig, req: ExecRequest, stderr: boolean): URL {
  const cluster = kc.getCurrentCluster();
  if (!cluster?.server) {
    throw new WardenError('INVALID_ARGUMENT', 'exec: the kubeconfig has no current cluster with a server address; set KUBECONFIG or its current-context');
  }
  const url = new URL(cluster.server);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new WardenError('INVALID_ARGUMENT', `exec: the cluster address ${cluster.server} is not http(s)`);
  }
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/api/v1/namespaces/${req.namespace}/pods/${req.pod}/${req.mode === 'attach' ? 'attach' : 'exec'}`;
  const q = new URLSearchParams();
  if (req.mode !== 'attach') for (const arg of req.command) q.append('command', arg);
  if (req.container) q.set('container', req.container);
  q.set('stdin', String(Boolean(req.stdin)));
  q.set('stdout', 'true');
  q.set('stderr', String(stderr));
  q.set('tty', String(Boolean(req.tty)));
  url.search = q.toString();
  return url;
}

async function readBody(res: IncomingMessage): Promise<string> {
  const parts: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of res as AsyncIterable<Buffer>) {
      parts.push(chunk);
      size += chunk.length;
      if (size >= MAX_ERROR_BODY) break;
    }
  } catch {
    // a body cut short still names the problem as far as it got
  }
  return Buffer.concat(parts).subarray(0, MAX_ERROR_BODY).toString('utf8');
}

/** Translates a refused upgrade by its HTTP status (the body's Status message is quoted). */
function upgradeRefused(status: number, body: string, req: ExecRequest): WardenError {
  let message = body.trim().slice(0, 500);
  try {
    const doc = JSON.parse(body) as { message?: unknown };
    if (typeof doc.message === 'string') message = doc.message;
  } catch {
    // not a Status document: quote the raw body
  }
  const where = `pod ${req.namespace}/${req.pod}`;
  const details = { httpStatus: status, namespace: req.namespace, pod: req.pod };
  switch (status) {
    case 404:
      return new WardenError('SANDBOX_NOT_FOUND', `exec: ${where} not found (${message})`, { details });
    case 400:
      return new WardenError('EXEC_FAILED', `exec: the API server refused to run the command in ${where}: ${message}`, { details });
    case 401:
      return new WardenError('ENGINE_ERROR', `exec: the Kubernetes API did not accept the kubeconfig's credentials (${message})`, { details });
    case 403:
      return new WardenError('ENGINE_ERROR', `exec: forbidden in ${where}: the kubeconfig's user needs "create" on pods/exec (${message})`, { details });
    default:
      return new WardenError('ENGINE_ERROR', `exec: the Kubernetes API answered ${status} for ${where}: ${message}`, { details });
  }
}

function noV5(got: string): WardenError {
  return new WardenError(
    'ENGINE_ERROR',
    `exec: the API server did not agree to ${EXEC_SUBPROTOCOL} (it answered "${got}"); Warden needs Kubernetes >= 1.30, whose v5 protocol can close stdin alone and reports the exit status`,
  );
}

/**
 * Starts `command` in a pod over the exec websocket (subprotocol v5) and resolves once the socket is
 * open. Uses `kc` only for the address and credentials (client certificate, token, exec plugins:
 * whatever `@kubernetes/client-node` supports); the protocol is spoken here, with backpressure both
 * ways: a slow reader of stdout or stderr pauses the socket (so the remote command blocks on its
 * pipe), and stdin accepts more only when the socket has taken what was written.
 *
 * @example
 * const ex = await openExec(kc, { namespace: 'ns', pod: 'p', command: ['sh', '-c', 'cat; echo done >&2'], stdin: true });
 * ex.stdin!.end('hello');                    // the command reads EOF after "hello"
 * ex.stdout.pipe(process.stdout);
 * ex.stderr!.pipe(process.stderr);
 * const end = await ex.exit;                 // { kind: 'exited', exitCode: 0 }
 */
export async function openExec(kc: KubeConfig, req: ExecRequest): Promise<ExecStream> {
  validate(req);
  if (req.signal?.aborted) throw new WardenError('EXEC_ABORTED', 'exec: aborted before it started');
  const tty = Boolean(req.tty);
  const url = execUrl(kc, req, !tty); // with a tty there is no separate stderr (the server refuses both)
  const options: WebSocket.ClientOptions = {
    handshakeTimeout: req.handshakeTimeoutMs ?? 30_000,
    perMessageDeflate: false,
    // output frames are what one read of the command's pipe gave (<= 32 KiB); anything far larger
    // is not this protocol, and must not make us buffer it
    maxPayload: 16 * 1024 * 1024,
    skipUTF8Validation: true,
    followRedirects: false,
  };
  await kc.applyToHTTPSOptions(options);
  const ws = new WebSocket(url, [EXEC_SUBPROTOCOL], options);
  const closeInfo: string[] = [];
  ws.on('error', (err) => closeInfo.push(err.message)); // 'close' follows every 'error'
  // Frames that came with the upgrade's response are emitted (process.nextTick) before the code after
  // `await open` runs: kept here and handed to wire(), else fast output would be lost.
  const early: Buffer[] = [];
  const keepEarly = (data: Buffer): void => void early.push(data);
  ws.on('message', keepEarly);

  await new Promise<void>((resolve, reject) => {
    const onAbort = (): void => {
      ws.terminate();
      reject(new WardenError('EXEC_ABORTED', 'exec: aborted before the connection opened'));
    };
    req.signal?.addEventListener('abort', onAbort, { once: true });
    const done = (): void => req.signal?.removeEventListener('abort', onAbort);
    ws.once('open', () => {
      done();
      resolve();
    });
    ws.once('unexpected-response', (request, res) => {
      done();
      void readBody(res).then((body) => {
        request.destroy();
        reject(upgradeRefused(res.statusCode ?? 0, body, req));
      });
    });
    // the server's answer to the subprotocol offer, seen before ws checks it (and fails without a code)
    let offered: string | undefined;
    ws.once('upgrade', (res: IncomingMessage) => {
      const header = res.headers['sec-websocket-protocol'];
      offered = Array.isArray(header) ? header.join(',') : (header ?? '');
    });
    ws.once('error', (err: Error & { code?: string }) => {
      done();
      if (offered !== undefined && offered !== EXEC_SUBPROTOCOL) {
        reject(noV5(offered));
        return;
      }
      reject(
        new WardenError('ENGINE_UNAVAILABLE', `exec: cannot reach the Kubernetes API at ${url.host} (${err.message}); check KUBECONFIG and that the cluster is up`, {
          cause: err,
        }),
      );
    });
  });

  if (ws.protocol !== EXEC_SUBPROTOCOL) {
    ws.terminate();
    throw noV5(ws.protocol);
  }
  if (req.unref) (ws as unknown as { _socket?: { unref?: () => void } })._socket?.unref?.();
  ws.off('message', keepEarly);
  return wire(ws, req, tty, closeInfo, early);
}

function wire(ws: WebSocket, req: ExecRequest, tty: boolean, closeInfo: string[], early: Buffer[]): ExecStream {
  const highWaterMark = req.highWaterMark ?? 1024 * 1024;
  // Readables whose buffer is full: while any is, the socket is paused (one TCP stream carries both).
  const full = new Set<Readable>();
  const unblock = (r: Readable): void => {
    full.delete(r);
    if (full.size === 0 && ws.isPaused) ws.resume();
  };
  const output = (): Readable => {
    const r: Readable = new Readable({ highWaterMark, read: () => unblock(r) });
    // a consumer that destroys its stream must not hold the other stream (and the exit) up
    r.once('close', () => unblock(r));
    return r;
  };
  const stdout = output();
  const stderr = tty ? null : output();
  const status: Buffer[] = [];
  let statusBytes = 0;

  const onMessage = (data: Buffer): void => {
    if (data.length === 0) return;
    const channel = data[0];
    const payload = data.subarray(1);
    if (channel === Channel.status) {
      if (statusBytes + payload.length <= MAX_STATUS_BYTES) status.push(payload);
      statusBytes += payload.length;
      return;
    }
    const target = channel === Channel.stdout ? stdout : channel === Channel.stderr ? stderr : null;
    // empty payloads are the server's "connected" signal; a consumer that destroyed its stream
    // gets nothing more (and does not hold the other stream up)
    if (!target || payload.length === 0 || target.destroyed) return;
    if (!target.push(payload)) {
      full.add(target);
      ws.pause();
    }
  };
  for (const data of early) onMessage(data);
  ws.on('message', onMessage);

  let closed = false;
  let stdinStream: Writable | null = null;
  const exit = new Promise<ExecExit>((resolve) => {
    ws.once('close', (code: number, reason: Buffer) => {
      closed = true;
      req.signal?.removeEventListener('abort', onAbort);
      const why = [`code ${code}`, reason.length ? reason.toString('utf8') : '', ...closeInfo].filter(Boolean).join(', ');
      resolve(parseExecStatus(status.length ? Buffer.concat(status) : undefined, why));
      stdout.push(null);
      stderr?.push(null);
      // writes after this get ERR_STREAM_DESTROYED in their callback (no 'error' event)
      stdinStream?.destroy();
    });
  });

  if (req.stdin) {
    stdinStream = new Writable({
      highWaterMark,
      write(chunk: Buffer, _encoding, callback) {
        // an empty write (end('')) sends nothing, and must still complete
        if (chunk.length === 0) return callback();
        if (closed || ws.readyState !== WebSocket.OPEN) {
          callback(new WardenError('EXEC_FAILED', 'exec: the connection is closed; the command can read no more input'));
          return;
        }
        // one message per <= 64 KiB; the callback of the last fires once the socket took them all,
        // which is what bounds stdin's buffering
        for (let offset = 0; offset < chunk.length; offset += MAX_STDIN_FRAME) {
          const last = offset + MAX_STDIN_FRAME >= chunk.length;
          ws.send(frame(Channel.stdin, chunk.subarray(offset, offset + MAX_STDIN_FRAME)), last ? (err) => callback(err ?? null) : undefined);
        }
      },
      final(callback) {
        if (closed || ws.readyState !== WebSocket.OPEN) return callback();
        ws.send(closeFrame(Channel.stdin), (err) => callback(err ?? null));
      },
    });
  }

  const onAbort = (): void => ws.close(1000);
  req.signal?.addEventListener('abort', onAbort, { once: true });
  if (tty && req.terminalSize) ws.send(resizeFrame(req.terminalSize.columns, req.terminalSize.rows));

  return {
    stdin: stdinStream,
    stdout,
    stderr,
    exit,
    resize(columns: number, rows: number): void {
      if (!tty) throw new WardenError('INVALID_ARGUMENT', 'exec: resize needs a tty (open the exec with tty: true)');
      if (!isTerminalDimension(columns) || !isTerminalDimension(rows)) {
        throw new WardenError('INVALID_ARGUMENT', 'exec: terminal columns and rows must be integers from 1 to 65535');
      }
      if (!closed && ws.readyState === WebSocket.OPEN) ws.send(resizeFrame(columns, rows));
    },
    close(): void {
      if (!closed) ws.close(1000);
    },
  };
}
