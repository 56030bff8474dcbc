import { geminiParser } from './gemini-parser.js';
import { geminiFirstRun } from './first-run.js';
import { AGENT_HOME, type AgentProfile } from './profile.js';

/**
 * Gemini CLI: `gemini -p PROMPT --output-format stream-json --yolo`. The agents image carries a system
 * settings file selecting API-key auth with usage statistics off; GEMINI_CLI_TRUST_WORKSPACE keeps
 * --yolo from being downgraded. In auth mode 'files' a settings file in the state dir selects the
 * user's OAuth login instead.
 */
export const geminiProfile: AgentProfile = {
  name: 'gemini',
  provider: 'gemini',
  stateDir: `${AGENT_HOME}/.gemini`,
  preset: 'gemini',
  credentialFiles: [
    { host: '.gemini/oauth_creds.json', state: 'oauth_creds.json' },
    { host: '.gemini/google_accounts.json', state: 'google_accounts.json', optional: true },
  ],
  env(input, apiKey) {
    const env: Record<string, string> = { GEMINI_CLI_TRUST_WORKSPACE: 'true' };
    if (input.auth === 'files') {
      env.GEMINI_CLI_SYSTEM_SETTINGS_PATH = `${AGENT_HOME}/.gemini/warden-system-settings.json`;
      return env;
    }
    env.GOOGLE_GEMINI_BASE_URL = input.baseUrl;
    if (apiKey) env.GEMINI_API_KEY = apiKey;
    return env;
  },
  argv(input) {
    return [
      'gemini', '-p', input.prompt, '--output-format', 'stream-json', '--yolo',
      ...(input.model ? ['-m', input.model] : []),
      ...(input.resume ? ['--resume', input.resume] : []),
    ];
  },
  interactiveArgv(input) {
    return ['gemini', '--yolo', ...(input.model ? ['-m', input.model] : []), ...(input.resume ? ['--resume', input.resume] : [])];
  },
  firstRun: geminiFirstRun,
  parser: geminiParser,
};

/** The settings file written into the state dir for auth mode 'files'. */
export const GEMINI_OAUTH_SETTINGS = JSON.stringify({ security: { auth: { selectedType: 'oauth-personal' } }, privacy: { usageStatisticsEnabled: false } });
