import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { wardenHome } from '../config/home.js';
import { WardenError } from '../errors.js';
import { zodToValidationError } from '../policy/spec.js';

export const AuthModeSchema = z
  .enum(['keyless', 'env', 'files'])
  .describe("'keyless' (default): the egress proxy holds the key, the sandbox sees a placeholder. 'env': the key is passed to the CLI's environment at exec time (never stored in the image or labels; the agent can read it). 'files': the user's CLI credentials files (subscription logins) are copied into the sandbox's state dir (the agent can read them).");

export const AgentConfigSchema = z
  .object({
    auth: AuthModeSchema.default('keyless'),
    model: z.string().min(1).optional().describe("Model passed to the CLI (--model / -m). Default: the CLI's own."),
    image: z.string().min(1).optional().describe('Image to run the agent in. Default warden-agents:latest.'),
  })
  .strict();

export const GitConfigSchema = z
  .object({
    userName: z.string().min(1).optional().describe('git user.name inside the sandbox (GIT_AUTHOR_NAME / GIT_COMMITTER_NAME). Default: none.'),
    userEmail: z.string().min(1).optional().describe('git user.email inside the sandbox. Default: none.'),
    mountGitconfig: z.boolean().default(false).describe("Mount the host's ~/.gitconfig read-only into the sandbox. Default false."),
    token: z
      .enum(['none', 'keyless', 'askpass'])
      .default('none')
      .describe("GitHub token for git over HTTPS: 'keyless' (the proxy injects GITHUB_TOKEN for https://github.com/), 'askpass' (a GIT_ASKPASS helper reads it from an env var: the agent can read it), 'none' (default)."),
  })
  .strict();

export const AgentsConfigSchema = z
  .object({
    agents: z
      .object({ claude: AgentConfigSchema.optional(), gemini: AgentConfigSchema.optional(), codex: AgentConfigSchema.optional() })
      .strict()
      .default({})
      .describe('Per-agent settings; an agent not listed uses the defaults.'),
    git: GitConfigSchema.default(GitConfigSchema.parse({})).describe('Git inside agent sandboxes.'),
    secrets: z
      .record(z.string().regex(/^[A-Z][A-Z0-9_]*$/, 'secret names are upper-case env names, e.g. ANTHROPIC_API_KEY'), z.string())
      .default({})
      .describe('Keys and upstreams under the environment names (ANTHROPIC_API_KEY, WARDEN_ANTHROPIC_BASE_URL, ...); the environment wins.'),
  })
  .strict();

export type AgentsConfig = z.output<typeof AgentsConfigSchema>;
export type AgentConfig = z.output<typeof AgentConfigSchema>;
export type GitConfig = z.output<typeof GitConfigSchema>;
export type AuthMode = z.output<typeof AuthModeSchema>;

/** The agents config file: WARDEN_AGENTS_CONFIG, else `$WARDEN_HOME/agents.json` (absent: defaults). */
export function agentsConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.WARDEN_AGENTS_CONFIG || join(wardenHome(env), 'agents.json');
}

/** Read and validate the agents config; invalid config is an error, never a silent fallback. */
export function loadAgentsConfig(env: NodeJS.ProcessEnv = process.env): AgentsConfig {
  const path = agentsConfigPath(env);
  if (!existsSync(path)) {
    if (env.WARDEN_AGENTS_CONFIG) throw new WardenError('INVALID_ARGUMENT', `WARDEN_AGENTS_CONFIG ${path} does not exist`);
    return AgentsConfigSchema.parse({});
  }
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new WardenError('INVALID_ARGUMENT', `the agents config ${path} is not valid JSON: ${(err as Error).message}`);
  }
  return parseAgentsConfig(raw, path);
}

export function parseAgentsConfig(raw: unknown, where = 'agents config'): AgentsConfig {
  const r = AgentsConfigSchema.safeParse(raw ?? {});
  if (!r.success) throw zodToValidationError(`invalid ${where}`, r.error);
  return r.data;
}
