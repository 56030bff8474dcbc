import { request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { WardenError } from '../errors.js';
import type { Sandbox } from '../sandbox/sandbox.js';
import type { AppTemplate } from './catalog.js';

/** The running dev server's pid (written by whoever holds the lock) and its lock; /tmp starts empty with each container start. */
export const DEV_SERVER_PID_FILE = '/tmp/warden-dev-server.pid';
export const DEV_SERVER_LOCK_FILE = '/tmp/warden-dev-server.lock';

/**
 * One HTTP GET with no keep-alive (so no idle connection lingers in the preview forwarder): the status,
 * or undefined when nothing answered within `timeoutMs`.
 */
export function probeHttp(url: string, timeoutMs = 2_000): Promise<number | undefined> {
  return new Promise((resolve) => {
    const req = request(url, { method: 'GET', agent: false, headers: { connection: 'close' }, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
      res.on('error', () => resolve(res.statusCode));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
    req.end();
  });
}

/** The dev server's last log lines (for error messages). */
export async function devServerLog(sb: Sandbox, t: AppTemplate, lines = 20): Promise<string> {
  const r = await sb.exec(['tail', '-n', String(lines), t.logFile], { timeoutMs: 5_000 }).catch(() => undefined);
  return r?.stdout.trim() || '(no output)';
}

/** false only when the server wrote its pid and that process is gone (no pid yet: still starting). */
async function devServerAlive(sb: Sandbox, pidFile: string): Promise<boolean> {
  const r = await sb.exec(['/bin/sh', '-c', `[ -s "$0" ] || exit 0; kill -0 "$(cat "$0")" 2>/dev/null`, pidFile], { timeoutMs: 5_000 }).catch(() => undefined);
  return r === undefined || r.exitCode === 0; // an exec that failed under load proves nothing
}

export interface ReadyResult {
  /** The preview URL (through the published port). */
  url: string;
  /** false when the dev server was already answering. */
  started: boolean;
  /** From the start of this call to the first answer. */
  readyMs: number;
}

/**
 * Make sure the template's dev server answers: if it does not, start it in the background and wait
 * until GET `readiness.path` through the published port answers (any status below 500). Fails fast
 * when the server exits, and after `timeoutMs`, with TEMPLATE_NOT_READY and the server's last log lines.
 */
export async function ensureDevServer(sb: Sandbox, t: AppTemplate, opts: { timeoutMs?: number } = {}): Promise<ReadyResult> {
  const t0 = Date.now();
  const timeoutMs = opts.timeoutMs ?? t.readiness.timeoutMs;
  const url = sb.url(t.port);
  const target = new URL(t.readiness.path, url).toString();
  const ok = (s: number | undefined): boolean => s !== undefined && s < 500;
  if (ok(await probeHttp(target, 1_000))) return { url, started: false, readyMs: Date.now() - t0 };
  // a start while another caller's server runs or starts is a no-op (the lock); both then watch the one
  // server through the shared pid file
  await sb.startBackground(t.start, { cwd: '/workspace', env: { WARDEN_PID_FILE: DEV_SERVER_PID_FILE, WARDEN_LOCK_FILE: DEV_SERVER_LOCK_FILE } });
  const pidFile = DEV_SERVER_PID_FILE;
  let lastAliveCheck = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    if (ok(await probeHttp(target, 2_000))) return { url, started: true, readyMs: Date.now() - t0 };
    if (Date.now() - lastAliveCheck > 1_000) {
      lastAliveCheck = Date.now();
      if (!(await devServerAlive(sb, pidFile))) {
        // one last look: it may have answered just before a restart by the caller
        if (ok(await probeHttp(target, 1_000))) return { url, started: true, readyMs: Date.now() - t0 };
        throw notReady(sb, t, `exited before it answered`, await devServerLog(sb, t));
      }
    }
    await sleep(50);
  }
  throw notReady(sb, t, `did not answer at ${target} within ${timeoutMs} ms`, await devServerLog(sb, t));
}

function notReady(sb: Sandbox, t: AppTemplate, what: string, log: string): WardenError {
  return new WardenError(
    'TEMPLATE_NOT_READY',
    `the ${t.name} dev server of sandbox ${sb.id} ${what}. Its last log lines:\n${log}\nFix what the log names (often an uploaded vite.config.ts or package.json), or give it more time (readyTimeoutMs).`,
    { details: { sandbox: sb.id, template: t.name, log } },
  );
}
