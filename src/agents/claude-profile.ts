import { claudeParser } from './claude-parser.js';
import { claudeFirstRun } from './first-run.js';
import { AGENT_HOME, type AgentProfile } from './profile.js';

/** Claude Code: `claude -p PROMPT --output-format stream-json --verbose --dangerously-skip-permissions`. */
export const claudeProfile: AgentProfile = {
  name: 'claude',
  provider: 'anthropic',
  stateDir: `${AGENT_HOME}/.claude`,
  preset: 'claude',
  // CLAUDE_CONFIG_DIR puts .claude.json inside the state dir too
  credentialFiles: [
    { host: '.claude/.credentials.json', state: '.credentials.json' },
    { host: '.claude.json', state: '.claude.json', optional: true },
  ],
  env(input, apiKey) {
    const env: Record<string, string> = {
      CLAUDE_CONFIG_DIR: `${AGENT_HOME}/.claude`,
      // without it Claude Code makes extra calls and DNS lookups that cost 10+ s on a closed network
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
      DISABLE_AUTOUPDATER: '1',
    };
    if (input.auth === 'files') return env;
    env.ANTHROPIC_BASE_URL = input.baseUrl;
    // subscription OAuth tokens go as a bearer token, API keys as x-api-key
    if (apiKey?.startsWith('sk-ant-oat')) env.CLAUDE_CODE_OAUTH_TOKEN = apiKey;
    else if (apiKey) env.ANTHROPIC_API_KEY = apiKey;
    return env;
  },
  argv(input) {
    return [
      'claude', '-p', input.prompt, '--output-format', 'stream-json', '--verbose', '--dangerously-skip-permissions',
      ...(input.model ? ['--model', input.model] : []),
      ...(input.resume ? ['--resume', input.resume] : []),
      ...(input.maxTurns ? ['--max-turns', String(input.maxTurns)] : []),
    ];
  },
  interactiveArgv(input) {
    return ['claude', '--dangerously-skip-permissions', ...(input.model ? ['--model', input.model] : []), ...(input.resume ? ['--resume', input.resume] : [])];
  },
  firstRun: claudeFirstRun,
  parser: claudeParser,
};
