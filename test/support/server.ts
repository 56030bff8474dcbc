import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../src/log.js';
import { buildServer, type WardenServer } from '../../src/server/build.js';
import { readSse as readEvents } from '../../src/client/sse.js';
import { WardenStore } from '../../src/store/store.js';
import { Warden } from '../../src/sandbox/warden.js';
import { testWarden, runId } from './fixture.js';
import { TEST_RUN_LABEL } from './labels.js';

export interface TestServer {
  url: string;
  token: string;
  server: WardenServer;
  dataDir: string;
  /** JSON request with the token (or `auth: false` / another token). */
  call: (method: string, path: string, body?: unknown, opts?: { token?: string | null; headers?: Record<string, string> }) => Promise<{ status: number; body: any; headers: Headers }>;
  close: () => Promise<void>;
}

/** An in-process Warden server on a free loopback port, over a test-labelled Warden and a temp data dir. */
export async function startTestServer(opts: { sampleIntervalMs?: number; workspaceRoot?: string; owner?: string; agentSecrets?: Record<string, string>; instance?: string } = {}): Promise<TestServer> {
  const dataDir = await mkdtemp(join(tmpdir(), 'warden-srv-'));
  const token = `test-token-${runId()}-0123456789`;
  const store = WardenStore.open(dataDir);
  const log = createLogger(process.env.WARDEN_LOG_LEVEL ?? 'error');
  const server = await buildServer({
    warden: opts.agentSecrets
      ? new Warden({ owner: opts.owner ?? `test-${runId()}`, labels: { [TEST_RUN_LABEL]: runId() }, logger: log, egress: { secrets: opts.agentSecrets }, ...(opts.instance ? { instance: opts.instance } : {}) })
      : testWarden(opts.owner, opts.instance ? { instance: opts.instance } : {}),
    store,
    token,
    log,
    panicScope: { [TEST_RUN_LABEL]: runId() },
    sampleIntervalMs: opts.sampleIntervalMs ?? 0,
    reconcileIntervalMs: 0,
    ...(opts.workspaceRoot ? { workspaceRoot: opts.workspaceRoot } : {}),
    ...(opts.agentSecrets ? { agentSecrets: opts.agentSecrets } : {}),
  });
  await server.start();
  await server.app.listen({ host: '127.0.0.1', port: 0 });
  const addr = server.app.server.address() as { port: number };
  const url = `http://127.0.0.1:${addr.port}`;
  return {
    url,
    token,
    server,
    dataDir,
    call: async (method, path, body, o = {}) => {
      const tok = o.token === undefined ? token : o.token;
      const res = await fetch(`${url}${path}`, {
        method,
        headers: { ...(tok ? { authorization: `Bearer ${tok}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(o.headers ?? {}) },
        ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
      });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        /* not JSON */
      }
      return { status: res.status, body: parsed, headers: res.headers };
    },
    close: async () => {
      await server.close();
      store.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Read a Server-Sent Events response into [event, data] pairs until it ends. */
export async function readSse(res: Response, onEvent?: (event: string, data: any) => void): Promise<Array<[string, any]>> {
  const out: Array<[string, any]> = [];
  for await (const { event, data } of readEvents(res.body!)) {
    out.push([event, data]);
    onEvent?.(event, data);
  }
  return out;
}
