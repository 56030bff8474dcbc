import { execFile } from 'node:child_process';
import { chmod, chown, cp, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const REPO = resolve(import.meta.dirname, '../..');

/** The compose client on this machine: the `docker compose` plugin, else Debian's `docker-compose`. */
export async function composeClient(): Promise<string[]> {
  if (await run('docker', ['compose', 'version']).then(() => true, () => false)) return ['docker', 'compose'];
  if (await run('docker-compose', ['version']).then(() => true, () => false)) return ['docker-compose'];
  throw new Error('no compose client: install the compose plugin or Debian\'s docker-compose (apt-get install -y docker-compose; scripts/test.sh does)');
}

/** A free TCP port on loopback (closed again before use; good enough for one test run). */
export async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => ok(port));
    }).on('error', fail);
  });
}

/**
 * A throwaway deployment directory: the compose files and scripts of this checkout (and, for dev mode,
 * copies of src/ and dashboard/ that a test may edit), with its own ./workspaces, ./data, ./config.
 */
export async function deploymentDir(opts: { withSource: boolean }): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'warden-compose-'));
  await chmod(dir, 0o755);
  for (const f of ['compose.yaml', 'compose.prod.yaml']) await cp(join(REPO, f), join(dir, f));
  await cp(join(REPO, 'scripts'), join(dir, 'scripts'), { recursive: true });
  await mkdir(join(dir, 'docker'));
  if (opts.withSource) {
    await cp(join(REPO, 'src'), join(dir, 'src'), { recursive: true });
    await cp(join(REPO, 'dashboard'), join(dir, 'dashboard'), { recursive: true });
  }
  return {
    dir,
    cleanup: async () => {
      // ./data belongs to the container user, sandbox files to uid 1000: root (the test) removes them
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Run a command, returning stdout; throws with stderr on a non-zero exit. */
export async function sh(cmd: string, args: string[], o: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<string> {
  try {
    const r = await run(cmd, args, { cwd: o.cwd ?? REPO, env: o.env ?? process.env, timeout: o.timeoutMs ?? 600_000, maxBuffer: 64 * 1024 * 1024 });
    return r.stdout;
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }
}

/** chown a directory to the sandbox user when the test runs as root. */
export async function ownBy1000(path: string): Promise<void> {
  if (process.getuid?.() === 0) await chown(path, 1000, 1000);
}
