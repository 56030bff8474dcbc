import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { WardenError } from '../errors.js';
import type { Sandbox } from '../sandbox/sandbox.js';
import type { GitConfig } from './config.js';
import { AGENT_HOME } from './profile.js';

/** Where the GIT_ASKPASS helper is written (home is a tmpfs of the sandbox). */
export const ASKPASS_PATH = `${AGENT_HOME}/.warden-askpass`;
/** The env var the askpass helper reads the token from (set at exec time only). */
export const ASKPASS_TOKEN_ENV = 'WARDEN_GIT_TOKEN';

const ASKPASS_SCRIPT = `#!/bin/sh
case "$1" in
  Username*) echo x-access-token ;;
  *) printf '%s\\n' "$${ASKPASS_TOKEN_ENV}" ;;
esac
`;

/** Environment for git in the sandbox: identity, and the askpass helper with its token (askpass mode). */
export function gitEnv(git: GitConfig, secrets: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  if (git.userName) Object.assign(env, { GIT_AUTHOR_NAME: git.userName, GIT_COMMITTER_NAME: git.userName });
  if (git.userEmail) Object.assign(env, { GIT_AUTHOR_EMAIL: git.userEmail, GIT_COMMITTER_EMAIL: git.userEmail });
  if (git.token === 'askpass') {
    const token = secrets.WARDEN_GITHUB_TOKEN;
    if (!token) throw new WardenError('AGENT_AUTH_MISSING', "git.token 'askpass' needs GITHUB_TOKEN (or WARDEN_GITHUB_TOKEN) in Warden's environment or secrets");
    Object.assign(env, { GIT_ASKPASS: ASKPASS_PATH, [ASKPASS_TOKEN_ENV]: token, GIT_TERMINAL_PROMPT: '0' });
  }
  return env;
}

/** The host's ~/.gitconfig mounted read-only, when asked for and present. */
export async function gitMounts(git: GitConfig, hostHome: string): Promise<Array<{ source: string; target: string; readOnly: true }>> {
  if (!git.mountGitconfig) return [];
  const source = join(hostHome, '.gitconfig');
  const ok = await stat(source).then((s) => s.isFile(), () => false);
  if (!ok) throw new WardenError('INVALID_ARGUMENT', `git.mountGitconfig is set but ${source} does not exist; create it or turn the option off`);
  return [{ source, target: `${AGENT_HOME}/.gitconfig`, readOnly: true }];
}

/** Write the askpass helper into the sandbox's home (askpass mode). */
export async function installAskpass(sb: Sandbox): Promise<void> {
  const r = await sb.exec(['sh', '-c', 'cat > "$0" && chmod 0700 "$0"', ASKPASS_PATH], { stdin: ASKPASS_SCRIPT, timeoutMs: 10_000 });
  if (r.exitCode !== 0) throw new WardenError('AGENT_FAILED', `could not install the git askpass helper: ${r.stderr.trim()}`);
}

/** What changed in the workspace as `git diff --stat` (plus untracked files), or undefined when it is not a repo. */
export async function workspaceDiffStat(sb: Sandbox): Promise<string | undefined> {
  const script = 'git rev-parse --is-inside-work-tree >/dev/null 2>&1 || exit 3; git diff --stat HEAD 2>/dev/null || git diff --stat; git ls-files --others --exclude-standard | sed "s/^/ new: /"';
  const r = await sb.exec(['sh', '-c', script], { cwd: '/workspace', env: { GIT_CONFIG_COUNT: '1', GIT_CONFIG_KEY_0: 'safe.directory', GIT_CONFIG_VALUE_0: '*' }, timeoutMs: 30_000 }).catch(() => undefined);
  if (!r || r.exitCode !== 0) return undefined;
  return r.stdout.trimEnd();
}
