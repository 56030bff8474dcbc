import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { WardenError } from '../errors.js';
import { RemoteWarden } from './remote.js';

/**
 * The Warden server the CLI talks to: `WARDEN_URL` with `WARDEN_TOKEN` (or `WARDEN_TOKEN_FILE`);
 * undefined when WARDEN_URL is not set (the CLI then drives the engine directly).
 */
export function remoteFromEnv(env: NodeJS.ProcessEnv = process.env): RemoteWarden | undefined {
  const url = env.WARDEN_URL?.trim();
  if (!url) return undefined;
  if (!/^https?:\/\/[^/\s]+/.test(url)) throw new WardenError('INVALID_ARGUMENT', `WARDEN_URL '${url}' is not an http(s) URL; use e.g. http://127.0.0.1:7070`);
  let token = env.WARDEN_TOKEN?.trim();
  if (!token && env.WARDEN_TOKEN_FILE) token = readFileSync(env.WARDEN_TOKEN_FILE, 'utf8').trim();
  if (!token) throw new WardenError('UNAUTHORIZED', 'WARDEN_URL is set but no token: set WARDEN_TOKEN (or WARDEN_TOKEN_FILE) to the server\'s token (its data dir holds it in the file `token`)');
  let actor = 'cli';
  try {
    actor = `cli:${userInfo().username}`;
  } catch {
    /* no user name */
  }
  return new RemoteWarden({ url, token, actor });
}
