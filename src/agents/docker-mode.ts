import type { Readable } from 'node:stream';
import { Warden } from '../sandbox/warden.js';
import type { AgentOptions, AgentRunOptions } from './agent.js';
import type { AgentName } from './events.js';
import type { AgentResult, AgentRunEvent } from './run.js';

/** Options of the ChannelCoder-style one-call API. */
export type DockerModeOptions = Omit<AgentRunOptions, 'prompt' | 'stdin'> & {
  /** Only 'docker' exists: the agent runs in a Warden sandbox. */
  mode: 'docker';
  /** The Warden to use; default a new one (Docker from DOCKER_HOST or the default socket). */
  warden?: Warden;
  agent?: AgentOptions;
  /** Piped to the CLI's stdin: text, bytes, or a stream read to its end first (e.g. process.stdin). */
  stdin?: string | Buffer | Readable;
  /** Called with every event as it arrives. */
  onEvent?: (e: AgentRunEvent) => void;
  /** Forward SIGINT/SIGTERM of this process to the run (cancel: the CLI gets SIGINT first). Default true. */
  forwardSignals?: boolean;
};

async function readAll(s: string | Buffer | Readable): Promise<string> {
  if (typeof s === 'string') return s;
  if (Buffer.isBuffer(s)) return s.toString('utf8');
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(String(c)));
  return Buffer.concat(chunks).toString('utf8');
}

async function runDocker(name: AgentName, prompt: string, opts: DockerModeOptions): Promise<AgentResult> {
  const { mode: _mode, warden: given, agent: agentOpts, stdin, onEvent, forwardSignals = true, ...rest } = opts;
  const warden = given ?? new Warden();
  const run = warden.agent(name, agentOpts).run({ ...rest, prompt, ...(stdin !== undefined ? { stdin: await readAll(stdin) } : {}) });
  const onSignal = (): void => void run.cancel();
  if (forwardSignals) {
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
  try {
    if (onEvent) for await (const e of run) onEvent(e);
    return await run.result();
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/**
 * Run Claude Code on a prompt in a hardened sandbox and wait for the result (ChannelCoder's docker mode).
 * @example
 * const r = await claude('Fix the failing test', { mode: 'docker', workspace: '.', onEvent: (e) => console.log(e.kind) });
 */
export function claude(prompt: string, opts: DockerModeOptions): Promise<AgentResult> {
  return runDocker('claude', prompt, opts);
}

/** Gemini CLI, as {@link claude}. */
export function gemini(prompt: string, opts: DockerModeOptions): Promise<AgentResult> {
  return runDocker('gemini', prompt, opts);
}

/** Codex CLI, as {@link claude}. */
export function codex(prompt: string, opts: DockerModeOptions): Promise<AgentResult> {
  return runDocker('codex', prompt, opts);
}
