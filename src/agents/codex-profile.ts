import { codexParser } from './codex-parser.js';
import { codexFirstRun } from './first-run.js';
import { AGENT_HOME, type AgentProfile } from './profile.js';

/** TOML string literal (for `-c key=value` overrides). */
const toml = (s: string): string => JSON.stringify(s);

/** The custom provider Codex needs to reach Warden's proxy route (it ignores OPENAI_BASE_URL). */
function providerFlags(input: { auth: string; baseUrl: string }): string[] {
  if (input.auth === 'files') return [];
  return ['-c', 'model_provider=warden', '-c', `model_providers.warden={name=${toml('warden')},base_url=${toml(`${input.baseUrl.replace(/\/+$/, '')}/v1`)},env_key=${toml('OPENAI_API_KEY')},wire_api=${toml('responses')}}`];
}

/**
 * Codex CLI: `codex exec --json --dangerously-bypass-approvals-and-sandbox`. Codex ignores
 * OPENAI_BASE_URL (it would retry the real API for minutes), so the endpoint is a custom provider;
 * analytics and plugin lookups are off. Resume: `codex exec ... resume SESSION_ID PROMPT`.
 */
export const codexProfile: AgentProfile = {
  name: 'codex',
  provider: 'openai',
  stateDir: `${AGENT_HOME}/.codex`,
  preset: 'codex',
  credentialFiles: [{ host: '.codex/auth.json', state: 'auth.json' }],
  env(input, apiKey) {
    return { CODEX_HOME: `${AGENT_HOME}/.codex`, ...(input.auth !== 'files' && apiKey ? { OPENAI_API_KEY: apiKey } : {}) };
  },
  argv(input) {
    const provider = providerFlags(input);
    return [
      'codex', 'exec', '--json', '--dangerously-bypass-approvals-and-sandbox', '--skip-git-repo-check', '-C', '/workspace',
      ...provider, '-c', 'analytics.enabled=false', '-c', 'features.plugins=false',
      ...(input.model ? ['-m', input.model] : []),
      ...(input.resume ? ['resume', input.resume] : []),
      input.prompt,
    ];
  },
  interactiveArgv(input) {
    return [
      'codex', ...(input.resume ? ['resume', input.resume] : []), '--dangerously-bypass-approvals-and-sandbox', '-C', '/workspace',
      ...providerFlags(input), '-c', 'analytics.enabled=false', '-c', 'features.plugins=false', '-c', 'check_for_update_on_startup=false',
      ...(input.model ? ['-m', input.model] : []),
    ];
  },
  firstRun: codexFirstRun,
  parser: codexParser,
};
