import { PassThrough, Readable, Writable } from 'node:stream';
import WebSocket from 'ws';
import { ExecTimeoutError, ValidationError, WardenError, type WardenErrorCode } from '../errors.js';
import type { EgressRecord } from '../egress/proxy.js';
import type { SandboxSpecInput } from '../policy/spec.js';
import type { DirEntry, FileEntry } from '../sandbox/files.js';
import type { SandboxHealth, SandboxProcessRow, SandboxStats } from '../sandbox/monitor.js';
import type { ExecOptions, ExecResult, ExitInfo, SpawnOptions } from '../sandbox/process.js';
import type { SandboxInfo } from '../sandbox/sandbox.js';
import type { ListFilter, PanicReport } from '../sandbox/warden.js';
import type { PruneReport } from '../sandbox/warden.js';
import type { FilesApi, ProcessApi, PtySessionsApi, SandboxApi, WardenApi } from './api.js';
import type { PtyOptions, PtySessionInfo } from '../sandbox/pty.js';
import { RemotePty } from './remote-pty.js';

export interface RemoteWardenOptions {
  /** The server, e.g. http://127.0.0.1:7070 (WARDEN_URL). */
  url: string;
  /** Its bearer token (WARDEN_TOKEN). */
  token: string;
  /** Recorded as the actor of every action (X-Warden-Actor). */
  actor?: string;
}

type Json = Record<string, unknown>;

/**
 * A Warden server over HTTP, with the same shape as the local SDK: sandboxes, buffered and streamed
 * commands (WebSocket: stdin and signals), files, lifecycle, panic. Server errors come back as
 * {@link WardenError}s with the server's code and message.
 *
 * @example
 * const warden = new RemoteWarden({ url: 'http://127.0.0.1:7070', token: process.env.WARDEN_TOKEN! });
 * const sb = await warden.create({ image: 'warden-sandbox:latest' });
 * const { stdout } = await sb.exec(['uname', '-a']);
 */
export class RemoteWarden implements WardenApi {
  private readonly base: string;
  constructor(private readonly opts: RemoteWardenOptions) {
    this.base = opts.url.replace(/\/+$/, '');
  }

  /** @internal */
  headers(extra: Record<string, string> = {}): Record<string, string> {
    return { authorization: `Bearer ${this.opts.token}`, ...(this.opts.actor ? { 'x-warden-actor': this.opts.actor } : {}), ...extra };
  }

  /** @internal one request; non-2xx answers become WardenErrors. */
  async request(method: string, path: string, body?: unknown, raw?: { body: NonNullable<RequestInit['body']> | Readable; type: string }): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(`${this.base}${path}`, {
        method,
        headers: this.headers(raw ? { 'content-type': raw.type } : body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(raw ? { body: (raw.body instanceof Readable ? Readable.toWeb(raw.body) : raw.body) as NonNullable<RequestInit['body']>, duplex: 'half' } : body !== undefined ? { body: JSON.stringify(body) } : {}),
      } as RequestInit);
    } catch (err) {
      throw new WardenError('SERVER_UNREACHABLE', `no Warden server answers at ${this.base} (${(err as Error & { cause?: { code?: string } }).cause?.code ?? (err as Error).message}); start it with \`warden up\`, or unset WARDEN_URL to use the engine directly`, { cause: err });
    }
    if (res.ok) return res;
    const text = await res.text();
    let e: { code?: string; message?: string; issues?: Array<{ path: string; message: string }> } = {};
    try {
      e = (JSON.parse(text) as { error?: typeof e }).error ?? {};
    } catch {
      /* not JSON */
    }
    if (res.status === 401) throw new WardenError('UNAUTHORIZED', `the Warden server at ${this.base} refused the token; set WARDEN_TOKEN to the token in its data dir (or its WARDEN_TOKEN)`);
    if (e.issues) throw new ValidationError(e.message ?? 'invalid request', e.issues);
    throw new WardenError((e.code as WardenErrorCode) ?? 'ENGINE_ERROR', e.message ?? `HTTP ${res.status} from ${method} ${path}`);
  }

  /** @internal */
  async json<T = Json>(method: string, path: string, body?: unknown): Promise<T> {
    return (await (await this.request(method, path, body)).json()) as T;
  }

  /** @internal */
  wsUrl(path: string): string {
    return `${this.base.replace(/^http/, 'ws')}${path}`;
  }

  private handle(info: SandboxInfo): RemoteSandbox {
    return new RemoteSandbox(this, toInfo(info));
  }

  async create(spec: SandboxSpecInput = {}): Promise<RemoteSandbox> {
    return this.handle((await this.json<{ sandbox: SandboxInfo }>('POST', '/api/v1/sandboxes', spec)).sandbox);
  }

  async ensure(spec: SandboxSpecInput): Promise<RemoteSandbox> {
    return this.handle((await this.json<{ sandbox: SandboxInfo }>('POST', '/api/v1/sandboxes/ensure', spec)).sandbox);
  }

  async list(filter: ListFilter = {}): Promise<SandboxInfo[]> {
    if (filter.allInstances) throw new WardenError('INVALID_ARGUMENT', `a server shows its own instance only; for every instance's sandboxes run this on the engine's host without WARDEN_URL`);
    const q = new URLSearchParams();
    if (filter.owner) q.set('owner', filter.owner);
    if (filter.key) q.set('key', filter.key);
    if (filter.state) q.set('state', filter.state);
    for (const [k, v] of Object.entries(filter.labels ?? {})) q.append('label', `${k}=${v}`);
    if (filter.lifetime) q.append('label', `warden.lifetime=${filter.lifetime}`);
    const { sandboxes } = await this.json<{ sandboxes: SandboxInfo[] }>('GET', `/api/v1/sandboxes${q.size ? `?${q}` : ''}`);
    return sandboxes.map(toInfo);
  }

  async get(ref: string): Promise<RemoteSandbox> {
    return this.handle((await this.json<{ sandbox: SandboxInfo }>('GET', `/api/v1/sandboxes/${encodeURIComponent(ref)}`)).sandbox);
  }

  async stop(ref: string, opts: { timeoutMs?: number } = {}): Promise<void> {
    await this.json('POST', `/api/v1/sandboxes/${encodeURIComponent(ref)}/stop`, opts);
  }

  async kill(ref: string, signal = 'SIGKILL'): Promise<void> {
    await this.json('POST', `/api/v1/sandboxes/${encodeURIComponent(ref)}/kill`, { signal });
  }

  async remove(ref: string, opts: { force?: boolean } = {}): Promise<void> {
    await this.json('DELETE', `/api/v1/sandboxes/${encodeURIComponent(ref)}${opts.force ? '?force=true' : ''}`);
  }

  async refresh(ref: string): Promise<RemoteSandbox> {
    return this.handle((await this.json<{ sandbox: SandboxInfo }>('POST', `/api/v1/sandboxes/${encodeURIComponent(ref)}/refresh`)).sandbox);
  }

  async prune(opts: { labels?: Record<string, string> } = {}): Promise<PruneReport> {
    return (await this.json<{ report: PruneReport }>('POST', '/api/v1/prune', opts.labels && Object.keys(opts.labels).length ? { labels: opts.labels } : {})).report;
  }

  /**
   * Open an agent's interactive TUI on the server (its sandbox, keys and audit) and attach to it.
   * Resolves with the terminal and the sandbox it runs in.
   */
  async agentSession(agent: string, opts: Record<string, unknown>): Promise<{ sandboxId: string; pty: RemotePty }> {
    const { session } = await this.json<{ session: { sandboxId: string; ptyId: string } }>('POST', `/api/v1/agents/${encodeURIComponent(agent)}/sessions`, opts);
    const pty = await RemotePty.open(this, `/api/v1/sandboxes/${encodeURIComponent(session.sandboxId)}/pty/ws`, { type: 'attach', ptyId: session.ptyId, ...(typeof opts.cols === 'number' ? { cols: opts.cols } : {}), ...(typeof opts.rows === 'number' ? { rows: opts.rows } : {}) });
    return { sandboxId: session.sandboxId, pty };
  }

  async panic(opts: { labels?: Record<string, string>; allInstances?: boolean } = {}): Promise<PanicReport> {
    if (opts.allInstances) throw new WardenError('INVALID_ARGUMENT', `a server stops its own instance only; for every instance run \`warden panic --all-instances\` on the engine's host without WARDEN_URL`);
    return (await this.json<{ report: PanicReport }>('POST', '/api/v1/panic', opts.labels && Object.keys(opts.labels).length ? { labels: opts.labels } : {})).report;
  }
}

/** The API's sandbox view as a SandboxInfo (fields the server does not send get neutral values). */
function toInfo(v: Partial<SandboxInfo>): SandboxInfo {
  return { policyHash: '', user: { uid: 1000, gid: 1000 }, ports: [], labels: {}, ...v } as SandboxInfo;
}

/** A sandbox behind a Warden server. */
export class RemoteSandbox implements SandboxApi {
  readonly files: FilesApi;
  constructor(
    private readonly w: RemoteWarden,
    readonly info: SandboxInfo,
  ) {
    this.files = new RemoteFiles(w, info.id);
  }
  get id(): string {
    return this.info.id;
  }
  get name(): string {
    return this.info.name;
  }
  get containerId(): string {
    return this.info.containerId;
  }
  private path(p = ''): string {
    return `/api/v1/sandboxes/${encodeURIComponent(this.info.id)}${p}`;
  }

  /** Streamed over a WebSocket: stdout/stderr apart, stdin when asked, signals to the whole tree. */
  spawn(cmd: string[], opts: SpawnOptions = {}): Promise<ProcessApi> {
    return RemoteProcess.start(this.w, this.path('/exec/ws'), cmd, opts);
  }

  /** A terminal session on the server's WebSocket terminal route. */
  pty(opts: PtyOptions = {}): Promise<RemotePty> {
    if (opts.signal) throw new WardenError('INVALID_ARGUMENT', 'a remote terminal takes no AbortSignal; call kill() on it');
    const { signal: _s, ...rest } = opts;
    return RemotePty.open(this.w, this.path('/pty/ws'), { type: 'start', ...rest });
  }

  get ptys(): PtySessionsApi {
    return {
      list: async (): Promise<PtySessionInfo[]> => (await this.w.json<{ ptys: PtySessionInfo[] }>('GET', this.path('/ptys'))).ptys,
      connect: (id: string, size: { cols?: number; rows?: number } = {}) => RemotePty.open(this.w, this.path('/pty/ws'), { type: 'attach', ptyId: id, ...size }),
    };
  }

  async exec(cmd: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    if (opts.stdin !== undefined && typeof opts.stdin !== 'string' && !Buffer.isBuffer(opts.stdin)) {
      throw new WardenError('INVALID_ARGUMENT', 'a remote exec takes stdin as a string or Buffer; use spawn() to stream it');
    }
    const stdin = opts.stdin === undefined ? {} : { stdin: Buffer.from(opts.stdin as string | Buffer).toString('base64'), stdinEncoding: 'base64' };
    const r = await this.w.json<ExecResult & { killedBy?: string }>('POST', this.path('/exec'), {
      cmd,
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
      ...(opts.env ? { env: opts.env } : {}),
      ...(opts.user ? { user: opts.user } : {}),
      ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
      ...stdin,
    });
    if (r.killedBy === 'timeout') throw new ExecTimeoutError(`the command ran past its timeout of ${opts.timeoutMs} ms; its process tree was killed`, { stdout: r.stdout, stderr: r.stderr, durationMs: r.durationMs });
    return { exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr, durationMs: r.durationMs };
  }

  writeFiles(entries: FileEntry[]): Promise<void> {
    return this.files.write(entries);
  }
  readFile(path: string): Promise<Buffer> {
    return this.files.read(path);
  }
  async stats(): Promise<SandboxStats> {
    return (await this.w.json<{ stats: SandboxStats }>('GET', this.path('/stats'))).stats;
  }
  async health(): Promise<SandboxHealth> {
    return (await this.w.json<{ health: SandboxHealth }>('GET', this.path('/health'))).health;
  }
  async processes(): Promise<SandboxProcessRow[]> {
    return (await this.w.json<{ processes: SandboxProcessRow[] }>('GET', this.path('/processes'))).processes;
  }
  async logs(opts: { tail?: number; follow?: boolean } = {}): Promise<Readable> {
    const q = new URLSearchParams();
    if (opts.tail !== undefined) q.set('tail', String(opts.tail));
    if (opts.follow) q.set('follow', 'true');
    const res = await this.w.request('GET', this.path(`/logs${q.size ? `?${q}` : ''}`));
    return Readable.fromWeb(res.body as import('node:stream/web').ReadableStream);
  }
  async egressLog(): Promise<EgressRecord[]> {
    return (await this.w.json<{ egress: EgressRecord[] }>('GET', this.path('/egress'))).egress;
  }
  remove(opts: { force?: boolean } = {}): Promise<void> {
    return this.w.remove(this.info.id, opts);
  }
  async [Symbol.asyncDispose](): Promise<void> {
    await this.remove({ force: true }).catch(() => undefined);
  }
  url(containerPort: number): string {
    const p = (this.info.ports as Array<{ containerPort: number; hostPort: number; hostIp: string; url?: string }>).find((x) => x.containerPort === containerPort && x.hostPort > 0);
    if (!p) throw new WardenError('INVALID_ARGUMENT', `port ${containerPort} is not published by sandbox ${this.id}`);
    return p.url ?? `http://${p.hostIp === '' || p.hostIp === '0.0.0.0' ? '127.0.0.1' : p.hostIp}:${p.hostPort}`;
  }
}

class RemoteFiles implements FilesApi {
  constructor(
    private readonly w: RemoteWarden,
    private readonly id: string,
  ) {}
  private path(p: string): string {
    return `/api/v1/sandboxes/${encodeURIComponent(this.id)}${p}`;
  }
  async write(entries: FileEntry[]): Promise<void> {
    const files = await Promise.all(
      entries.map(async (e) => {
        let buf: Buffer;
        if (e.base64 !== undefined) buf = Buffer.from(e.base64, 'base64');
        else if (e.stream) {
          const chunks: Buffer[] = [];
          for await (const c of e.stream) chunks.push(Buffer.from(c as Buffer));
          buf = Buffer.concat(chunks);
        } else buf = Buffer.from(e.content ?? '');
        return { path: e.path, base64: buf.toString('base64'), ...(e.mode !== undefined ? { mode: e.mode } : {}) };
      }),
    );
    await this.w.json('PUT', this.path('/files'), { files });
  }
  async read(path: string): Promise<Buffer> {
    const res = await this.w.request('GET', this.path(`/files?path=${encodeURIComponent(path)}&encoding=raw`));
    return Buffer.from(await res.arrayBuffer());
  }
  async list(path: string): Promise<DirEntry[]> {
    return (await this.w.json<{ entries: DirEntry[] }>('GET', this.path(`/files/list?path=${encodeURIComponent(path)}`))).entries;
  }
  async readTar(path: string): Promise<Readable> {
    const res = await this.w.request('GET', this.path(`/archive?path=${encodeURIComponent(path)}`));
    return Readable.fromWeb(res.body as import('node:stream/web').ReadableStream);
  }
  async writeTar(dir: string, tar: Readable): Promise<void> {
    await this.w.request('PUT', this.path(`/archive?path=${encodeURIComponent(dir)}`), undefined, { body: tar, type: 'application/x-tar' });
  }
}

/** A command running behind a server, over one WebSocket. */
class RemoteProcess implements ProcessApi {
  readonly stdout = new PassThrough();
  readonly stderr = new PassThrough();
  readonly stdin: Writable | undefined;
  private readonly exited: Promise<ExitInfo>;

  private constructor(
    private readonly ws: WebSocket,
    private readonly w: RemoteWarden,
    stdin: boolean,
    private execId: string,
    exited: Promise<ExitInfo>,
  ) {
    this.exited = exited;
    this.stdin = stdin
      ? new Writable({
          write: (chunk: Buffer, _enc, cb) => ws.send(JSON.stringify({ type: 'stdin', data: Buffer.from(chunk).toString('base64'), encoding: 'base64' }), cb),
          final: (cb) => ws.send(JSON.stringify({ type: 'eof' }), cb),
        })
      : undefined;
  }

  static start(w: RemoteWarden, path: string, cmd: string[], opts: SpawnOptions): Promise<ProcessApi> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(w.wsUrl(path), { headers: w.headers() });
      let proc: RemoteProcess | undefined;
      let settle!: (e: ExitInfo) => void;
      let fail!: (err: Error) => void;
      const exited = new Promise<ExitInfo>((res, rej) => ((settle = res), (fail = rej)));
      exited.catch(() => undefined);
      ws.on('unexpected-response', (req, res) => {
        req.destroy();
        reject(new WardenError(res.statusCode === 401 ? 'UNAUTHORIZED' : 'SERVER_UNREACHABLE', `the server refused the command stream (HTTP ${res.statusCode})`));
      });
      ws.on('error', (err) => {
        const e = new WardenError('SERVER_UNREACHABLE', `the command stream to the Warden server failed: ${err.message}`, { cause: err });
        if (!proc) reject(e);
        fail(e);
      });
      ws.on('open', () => {
        // base64 output: the exact bytes, as a local spawn gives them
        ws.send(JSON.stringify({ type: 'start', cmd, encoding: 'base64', stdin: opts.stdin === true, ...(opts.cwd ? { cwd: opts.cwd } : {}), ...(opts.env ? { env: opts.env } : {}), ...(opts.user ? { user: opts.user } : {}), ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}) }));
      });
      ws.on('message', (raw: Buffer) => {
        let parsed: unknown;
        try {
          parsed = JSON.parse(raw.toString('utf8'));
        } catch {
          const e = new WardenError('SERVER_UNREACHABLE', 'the Warden server sent a message that is not JSON on the command stream');
          if (!proc) reject(e);
          fail(e);
          ws.terminate();
          return;
        }
        const m = parsed as { type: string; data?: string; encoding?: string; execId?: string; code?: string; message?: string; exitCode?: number; durationMs?: number; killedBy?: 'timeout' | 'abort' };
        if (m.type === 'start') {
          proc = new RemoteProcess(ws, w, opts.stdin === true, m.execId!, exited);
          resolve(proc);
        } else if (m.type === 'stdout' || m.type === 'stderr') {
          proc?.[m.type].write(Buffer.from(m.data ?? '', m.encoding === 'base64' ? 'base64' : 'utf8'));
        } else if (m.type === 'exit') {
          proc?.stdout.end();
          proc?.stderr.end();
          settle({ exitCode: m.exitCode ?? -1, durationMs: m.durationMs ?? 0, ...(m.killedBy ? { killedBy: m.killedBy } : {}) });
        } else if (m.type === 'error') {
          const e = new WardenError((m.code as WardenErrorCode) ?? 'EXEC_FAILED', m.message ?? 'the server failed the command');
          if (!proc) reject(e);
          proc?.stdout.end();
          proc?.stderr.end();
          fail(e);
        }
      });
      ws.on('close', () => fail(new WardenError('SERVER_UNREACHABLE', 'the Warden server closed the command stream before the command ended')));
      opts.signal?.addEventListener('abort', () => void proc?.kill('SIGKILL'), { once: true });
    });
  }

  wait(): Promise<ExitInfo> {
    return this.exited;
  }

  async kill(signal = 'SIGTERM'): Promise<number> {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(JSON.stringify({ type: 'signal', signal }));
    else return (await this.w.json<{ signalled: number }>('POST', `/api/v1/execs/${this.execId}/signal`, { signal }).catch(() => ({ signalled: 0 }))).signalled;
    return 1;
  }
}
