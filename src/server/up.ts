import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { hostname } from 'node:os';
import { TEMPLATES } from '../templates/catalog.js';
import { instanceFromEnv } from '../config/env.js';
import { wardenHome } from '../config/home.js';
import { WardenError } from '../errors.js';
import type { Logger } from '../log.js';
import { Warden } from '../sandbox/warden.js';
import { WardenStore } from '../store/store.js';
import { buildServer, type WardenServer } from './build.js';
import { installProcessGuard } from './process-guard.js';
import { resolveToken, type TokenSource } from './token.js';

export interface UpOptions {
  host: string;
  port: number;
  /** State directory (SQLite file, token); default WARDEN_HOME. */
  dataDir?: string;
  workspaceRoot?: string;
  log: Logger;
  env?: NodeJS.ProcessEnv;
  /** Warm pools to keep (default WARDEN_POOL, e.g. `react-vite:2`). */
  pools?: Array<{ template: string; size: number }>;
}

/** `react-vite:2,other:1` -> pools; names the mistake otherwise. */
export function parsePools(text: string | undefined): Array<{ template: string; size: number }> {
  if (!text?.trim()) return [];
  return text.split(',').map((part) => {
    const m = /^\s*([a-z0-9-]+)(?::(\d+))?\s*$/.exec(part);
    if (!m) throw new WardenError('INVALID_ARGUMENT', `warm pool '${part}' is not TEMPLATE[:SIZE]; write e.g. react-vite:2`);
    if (!TEMPLATES[m[1]!]) throw new WardenError('INVALID_ARGUMENT', `warm pool '${part}': no template '${m[1]}'; known: ${Object.keys(TEMPLATES).join(', ')}`);
    const size = m[2] === undefined ? 1 : Number(m[2]);
    if (size > 50) throw new WardenError('INVALID_ARGUMENT', `warm pool '${part}': a size of ${size} is more than 50; keep a few warm, e.g. ${m[1]}:2`);
    return { template: m[1]!, size };
  });
}

/** The workspace root must be an existing directory: a typo would refuse every API path, or worse, none. */
export async function checkWorkspaceRoot(dir: string): Promise<void> {
  const st = await stat(dir).catch(() => undefined);
  if (!st) throw new WardenError('INVALID_ARGUMENT', `workspace root '${dir}' does not exist; create it (mkdir -p ${dir}) or point --workspace-root / WARDEN_WORKSPACE_ROOT at the directory holding the projects`);
  if (!st.isDirectory()) throw new WardenError('INVALID_ARGUMENT', `workspace root '${dir}' is not a directory; point --workspace-root / WARDEN_WORKSPACE_ROOT at the directory holding the projects`);
}

export interface RunningServer {
  server: WardenServer;
  url: string;
  token: string;
  tokenSource: TokenSource;
  tokenFile?: string;
  /** Graceful stop: HTTP closed, running execs killed, this server's ephemeral sandboxes removed. */
  stop(): Promise<void>;
}

/**
 * Start a Warden server: open the store, reconcile with the engine, listen. The server is the owner
 * of the ephemeral sandboxes it creates: they stop when it stops (gracefully) or dies (dead-man switch).
 */
export async function startServer(o: UpOptions): Promise<RunningServer> {
  const env = o.env ?? process.env;
  const dataDir = o.dataDir ?? wardenHome(env);
  // every setting is checked before anything starts: a server never runs with half its configuration
  const pools = o.pools ?? parsePools(env.WARDEN_POOL);
  const workspaceRoot = o.workspaceRoot ?? env.WARDEN_WORKSPACE_ROOT;
  if (workspaceRoot) await checkWorkspaceRoot(workspaceRoot);
  const tok = resolveToken(dataDir, env);
  const store = WardenStore.open(dataDir);
  const inst = instanceFromEnv(env);
  const warden = new Warden({ logger: o.log, owner: inst.owner ?? `warden-server@${hostname()}`, labels: inst.labels });
  // host paths from API clients: under --workspace-root / WARDEN_WORKSPACE_ROOT, else under the data
  // dir's workspaces/ (never anywhere on the host by default; `--workspace-root /` is the explicit opt-out)
  const apiRoot = workspaceRoot ?? join(dataDir, 'workspaces');
  if (!workspaceRoot) await mkdir(apiRoot, { recursive: true }).catch(() => undefined);
  const server = await buildServer({ warden, store, token: tok.token, log: o.log, panicScope: inst.labels, workspaceRoot: apiRoot });
  const unguard = installProcessGuard(o.log, (kind) => server.ctx.metrics.faults.inc({ kind }));
  await server.start();
  await server.app.listen({ host: o.host, port: o.port });
  // warm pools fill in the background: the server answers at once
  for (const p of pools) warden.pool(p);
  const addr = server.app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : o.port;
  let stopping: Promise<void> | undefined;
  return {
    server,
    url: `http://${o.host.includes(':') ? `[${o.host}]` : o.host}:${port}`,
    token: tok.token,
    tokenSource: tok.source,
    ...(tok.file ? { tokenFile: tok.file } : {}),
    stop: () =>
      (stopping ??= (async () => {
        await server.close();
        const n = await warden.shutdown({ timeoutMs: 5_000 });
        o.log.info({ removed: n }, 'server stopped; its ephemeral sandboxes were removed');
        store.close();
        unguard();
      })()),
  };
}
