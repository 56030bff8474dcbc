import { chown, mkdir, readdir, rm, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { wardenHome } from '../config/home.js';
import { WardenError } from '../errors.js';
import { sha256 } from '../util/ids.js';
import type { AgentName } from './events.js';

/**
 * The CLI's state dir (`~/.claude`, `~/.codex`, `~/.gemini`: sessions, settings) lives on the host under
 * `$WARDEN_HOME/agents/state/<key>/<agent>` and is mounted read-write into the sandbox, so a later run
 * with the same key can `--resume`. The key defaults to the workspace, so runs on one project share it.
 */
export function stateRoot(env: NodeJS.ProcessEnv = process.env): string {
  return join(wardenHome(env), 'agents', 'state');
}

const KEY_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,100}$/;

/** The state key of a run: the given one, or derived from the workspace path (or 'default'). */
export function stateKeyFor(opts: { stateKey?: string; workspace?: string }): string {
  if (opts.stateKey !== undefined) {
    if (!KEY_RE.test(opts.stateKey)) throw new WardenError('INVALID_ARGUMENT', `stateKey '${opts.stateKey}' must be 1-101 letters, digits, _ . - starting with a letter or digit`);
    return opts.stateKey;
  }
  return opts.workspace ? `ws-${sha256(opts.workspace).slice(0, 16)}` : 'default';
}

/** Create the state dir for `agent` under `key`, owned by the sandbox user (when Warden runs as root). */
export async function prepareStateDir(
  key: string,
  agent: AgentName,
  owner: { uid: number; gid: number },
  fill: (dir: string) => Promise<void> = async () => undefined,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  const dir = join(stateRoot(env), key, agent);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  await fill(dir);
  if (process.getuid?.() === 0) await chownTree(dir, owner.uid, owner.gid);
  return dir;
}

async function chownTree(dir: string, uid: number, gid: number): Promise<void> {
  await chown(dir, uid, gid);
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) await chownTree(p, uid, gid);
    else if (e.isFile()) await chown(p, uid, gid);
  }
}

/** Drop the state of a key (every agent's sessions under it). Safe when there is none. */
export async function dropState(key: string, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  await rm(join(stateRoot(env), stateKeyFor({ stateKey: key })), { recursive: true, force: true });
}
