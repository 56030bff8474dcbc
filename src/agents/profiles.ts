import { WardenError } from '../errors.js';
import { claudeProfile } from './claude-profile.js';
import { codexProfile } from './codex-profile.js';
import { AGENT_NAMES, type AgentName } from './events.js';
import { geminiProfile } from './gemini-profile.js';
import type { AgentProfile } from './profile.js';

export const PROFILES: Record<AgentName, AgentProfile> = { claude: claudeProfile, gemini: geminiProfile, codex: codexProfile };

/** The profile of a CLI by name; an unknown name is an error listing the known ones. */
export function profileOf(name: string): AgentProfile {
  if (!(AGENT_NAMES as readonly string[]).includes(name)) throw new WardenError('INVALID_ARGUMENT', `unknown agent '${name}'; use one of ${AGENT_NAMES.join(', ')}`);
  return PROFILES[name as AgentName];
}
