import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runId } from './fixture.js';
import { TEST_RUN_LABEL } from './labels.js';

export interface ServerProcess {
  url: string;
  token: string;
  child: ChildProcess;
  /** Everything the server wrote to stderr so far. */
  log: () => string;
  /** The process has not exited. */
  alive: () => boolean;
  call: (method: string, path: string, body?: unknown, opts?: { token?: string | null; headers?: Record<string, string>; raw?: Buffer | string }) => Promise<{ status: number; body: any }>;
  /** SIGTERM, wait for the exit, remove the data dir. */
  stop: () => Promise<number | null>;
}

/**
 * A real `warden up` (the built CLI) in its own process on a free loopback port, so a crash shows as an
 * exit instead of taking the test runner with it. Its sandboxes carry this run's label and their own
 * instance (`instance`), so the teardown sweeps them and nothing else is in its view.
 */
export async function startServerProcess(opts: { instance: string; env?: Record<string, string>; args?: string[]; /** the test run's id (default: the Docker tier's) */ run?: string }): Promise<ServerProcess> {
  const run = opts.run ?? runId();
  const dataDir = await mkdtemp(join(tmpdir(), 'warden-srvp-'));
  const token = `test-token-${run}-${opts.instance}-0123456789`;
  const child = spawn(process.execPath, ['bin/warden.js', 'up', '--port', '0', ...(opts.args ?? [])], {
    env: { ...process.env, WARDEN_HOME: dataDir, WARDEN_TOKEN: token, WARDEN_LOG_LEVEL: 'warn', WARDEN_INSTANCE: opts.instance, WARDEN_OWNER: `test-${run}-${opts.instance}`, WARDEN_LABELS: `${TEST_RUN_LABEL}=${run}`, ...opts.env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  let exited = false;
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => ((exited = true), resolve(code))));
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      const m = /listening on (http:\/\/\S+?) /.exec(stderr);
      if (m) resolve(m[1]!);
    });
    void exit.then((code) => reject(new Error(`warden up exited ${code} before listening: ${stderr}`)));
  });
  const call: ServerProcess['call'] = async (method, path, body, o = {}) => {
    const tok = o.token === undefined ? token : o.token;
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { ...(tok ? { authorization: `Bearer ${tok}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(o.headers ?? {}) },
      ...(o.raw !== undefined ? { body: o.raw } : body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      /* not JSON */
    }
    return { status: res.status, body: parsed };
  };
  return {
    url,
    token,
    child,
    log: () => stderr,
    alive: () => !exited,
    call,
    stop: async () => {
      if (!exited) child.kill('SIGTERM');
      const code = await exit;
      await rm(dataDir, { recursive: true, force: true });
      return code;
    },
  };
}
