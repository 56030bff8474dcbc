import type { Command } from 'commander';
import { spawn } from 'node:child_process';
import { mkdirSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { wardenHome } from '../../config/home.js';
import { WardenError } from '../../errors.js';
import type { Logger } from '../../log.js';

interface UpFlags {
  host: string;
  port: string;
  detach?: boolean;
  workspaceRoot?: string;
  pool?: string[];
}

/** `warden up`: the HTTP API and dashboard in the foreground (or `--detach`ed, logging to WARDEN_HOME/server.log). */
export function registerUp(program: Command, ctx: { log: () => Logger; setExit: (c: number) => void }): void {
  program
    .command('up')
    .description('run the Warden server: HTTP API under /api/v1, dashboard at /, state in WARDEN_HOME (token: WARDEN_TOKEN or WARDEN_HOME/token)')
    .option('--host <addr>', 'address to bind (0.0.0.0 only inside a container or behind a firewall)', process.env.WARDEN_HOST ?? '127.0.0.1')
    .option('--port <n>', 'port', process.env.WARDEN_PORT ?? '7070')
    .option('--workspace-root <dir>', 'host paths given through the API must lie under this directory (default WARDEN_WORKSPACE_ROOT, else WARDEN_HOME/workspaces)')
    .option('--pool <template:size>', 'keep SIZE sandboxes of TEMPLATE warm, so a keyed create/ensure gets one at once (repeatable; default WARDEN_POOL)', (v: string, acc: string[] = []) => [...acc, v])
    .option('--detach', 'start in the background and return once it answers')
    .action(async (f: UpFlags) => {
      const port = Number(f.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new WardenError('INVALID_ARGUMENT', `--port ${f.port} is not a port number (0-65535)`);
      const [{ checkWorkspaceRoot, parsePools, startServer }, { createLogger }] = await Promise.all([import('../../server/up.js'), import('../../log.js')]);
      const pools = f.pool ? parsePools(f.pool.join(',')) : undefined; // checked before anything starts
      if (f.workspaceRoot) await checkWorkspaceRoot(f.workspaceRoot);
      if (f.detach) return detach(f, port, ctx);
      const log = process.env.WARDEN_LOG_LEVEL ? ctx.log() : createLogger('info');
      const s = await startServer({ host: f.host, port, log, ...(f.workspaceRoot ? { workspaceRoot: f.workspaceRoot } : {}), ...(pools ? { pools } : {}) });
      process.stderr.write(`warden: server listening on ${s.url} (dashboard: ${s.url}/ , API: ${s.url}/api/v1 , OpenAPI: ${s.url}/openapi.json)\n`);
      process.stderr.write(s.tokenSource === 'generated' ? `warden: generated an API token, stored in ${s.tokenFile} (0600): ${s.token}\n` : `warden: API token from ${s.tokenSource === 'env' ? 'WARDEN_TOKEN' : s.tokenFile}\n`);
      await new Promise<void>((resolve) => {
        const onSignal = (sig: NodeJS.Signals): void => {
          process.stderr.write(`warden: ${sig}: stopping (ephemeral sandboxes of this server are removed)\n`);
          void s.stop().then(resolve, resolve);
        };
        process.once('SIGTERM', onSignal);
        process.once('SIGINT', onSignal);
      });
    });
}

async function detach(f: UpFlags, port: number, ctx: { setExit: (c: number) => void }): Promise<void> {
  const home = wardenHome();
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const logFile = join(home, 'server.log');
  const out = openSync(logFile, 'a');
  const bin = fileURLToPath(new URL('../../../bin/warden.js', import.meta.url));
  const args = [bin, 'up', '--host', f.host, '--port', String(port), ...(f.workspaceRoot ? ['--workspace-root', f.workspaceRoot] : []), ...(f.pool ?? []).flatMap((p) => ['--pool', p])];
  const child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', out, out], env: process.env });
  child.unref();
  writeFileSync(join(home, 'server.pid'), `${child.pid}\n`);
  const url = `http://${f.host === '0.0.0.0' ? '127.0.0.1' : f.host}:${port}`;
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) break;
    const ok = await fetch(`${url}/healthz`).then((r) => r.ok, () => false);
    if (ok) {
      process.stdout.write(`warden: server started in the background (pid ${child.pid}) on ${url}; log: ${logFile}; stop: kill ${child.pid}\n`);
      return;
    }
    await sleep(100);
  }
  ctx.setExit(1);
  throw new WardenError('SERVER_UNREACHABLE', `the detached server did not answer on ${url} within 10 s; see ${logFile}`);
}
