import { homedir } from 'node:os';
import { join } from 'node:path';

/** `WARDEN_HOME` (default `~/.warden`): Warden's own files (cache, demo workspace, later state). */
export function wardenHome(env: NodeJS.ProcessEnv = process.env): string {
  return env.WARDEN_HOME && env.WARDEN_HOME.length > 0 ? env.WARDEN_HOME : join(homedir(), '.warden');
}
