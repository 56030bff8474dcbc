import type { Provider } from '../egress/credentials.js';
import type { AgentName, AgentParser } from './events.js';
import type { FirstRunInput } from './first-run.js';

/** Where the sandbox's home is (the agents image's `agent` user). */
export const AGENT_HOME = '/home/agent';

/** What a run asks of the CLI. */
export interface ProfileRunInput {
  prompt: string;
  model?: string;
  /** Resume this session (the CLI's own session id). */
  resume?: string;
  maxTurns?: number;
  /** The model API's base URL as the sandbox reaches it (the proxy route in keyless mode). */
  baseUrl: string;
  /** The auth mode: 'files' means the CLI uses its own credentials files, no key and no custom endpoint. */
  auth: 'keyless' | 'env' | 'files';
}

/**
 * How Warden drives one agent CLI: its provider, its state directory (sessions live there, so a later
 * run can resume), the argv of one headless run in its "no questions asked" mode, its environment,
 * the user's credentials files (auth mode 'files') and the parser of its machine-readable output.
 */
export interface AgentProfile {
  name: AgentName;
  /** The keyless-credentials provider whose key the CLI needs. */
  provider: Exclude<Provider, 'github'>;
  /** The CLI's state directory inside the sandbox (a per-sandbox host directory is mounted there). */
  stateDir: string;
  /** Egress preset with the CLI's public endpoints (auth modes env and files with the public API). */
  preset: string;
  /** Credentials files of a subscription login: host path relative to the user's home -> path in the state dir. */
  credentialFiles: Array<{ host: string; state: string; optional?: boolean }>;
  /** Environment of the CLI process: endpoint, key (a placeholder in keyless mode), state dir. */
  env(input: ProfileRunInput, apiKey: string | undefined): Record<string, string>;
  /** argv of one headless run. */
  argv(input: ProfileRunInput): string[];
  /** argv of the CLI's own interactive TUI, in its no-questions mode (no prompt). */
  interactiveArgv(input: Omit<ProfileRunInput, 'prompt' | 'maxTurns'>): string[];
  /** Pre-answer the TUI's first-run screens in the state dir (host path), so a session lands at the prompt. */
  firstRun(stateDir: string, input: FirstRunInput): Promise<void>;
  parser(): AgentParser;
}
