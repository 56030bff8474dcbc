import type { Command } from 'commander';
import { resolve } from 'node:path';
import type { AgentRunHandle } from '../../client/remote-agent.js';
import type { RemoteWarden } from '../../client/remote.js';

import type { AgentRunEvent } from '../../agents/run.js';

import { WardenError } from '../../errors.js';
import type { Logger } from '../../log.js';

import { parseDuration } from '../../util/units.js';
import { EXIT_TIMEOUT } from '../output.js';
import { specFromFlags } from '../spec-flags.js';
import { attachTerminal } from '../terminal.js';
import type { AgentTerminal } from '../../agents/terminal.js';
import type { ExitInfo } from '../../sandbox/process.js';

/** Attach our terminal to an agent TUI, keeping its handle for what it reports after the exit. */
async function attachTerminalTo(open: (size: { cols: number; rows: number }) => Promise<AgentTerminal>): Promise<{ exit: ExitInfo; handle: AgentTerminal }> {
  let handle: AgentTerminal | undefined;
  const exit = await attachTerminal(async (size) => (handle = await open(size)));
  return { exit, handle: handle! };
}

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];
/** Exit code when the run was interrupted (as a shell reports SIGINT). */
const EXIT_INTERRUPTED = 130;

interface AgentFlags {
  workspace?: string; model?: string; resume?: string; maxTurns?: string; timeout?: string; auth?: string; json?: boolean; stateKey?: string;
  image?: string; env?: string[]; memory?: string; cpus?: string; pids?: string; allow?: string[]; preset?: string[]; addHost?: string[]; mount?: string[]; maxRuntime?: string;
}

/** `warden agent claude|gemini|codex [flags] "PROMPT"`: run an agent CLI in a sandbox with live progress. */
export function registerAgent(program: Command, ctx: { log: () => Logger; setExit: (c: number) => void; remote?: () => RemoteWarden | undefined }): void {
  program
    .command('agent')
    .description("run an agent CLI (claude, gemini, codex) in its no-questions-asked mode inside a hardened sandbox; exits 0 when it finished its task. Without a prompt: the agent's own interactive TUI")
    .argument('<agent>', 'claude | gemini | codex')
    .argument('[prompt...]', 'what the agent should do ("-" reads it from stdin); none: open the interactive TUI')
    .option('-w, --workspace <dir>', 'host directory the agent works in (mounted at /workspace; on Kubernetes copied in, and its changes copied back after the run)')
    .option('-m, --model <model>', "model for the CLI (default: config, else the CLI's own)")
    .option('--resume <session>', "resume the CLI's session (the id a previous run printed)")
    .option('--max-turns <n>', 'maximum agentic turns (claude)')
    .option('--timeout <duration>', 'cancel the run after this long, e.g. 10m (exit 124)')
    .option('--auth <mode>', 'keyless (default) | env | files')
    .option('--state-key <key>', 'key of the CLI state dir (default: derived from the workspace)')
    .option('--json', 'print the event stream as JSON lines (the last one is the result)')
    .option('--image <image>', 'image (default warden-agents:latest)')
    .option('-e, --env <K=V>', 'environment variable (repeatable)', collect)
    .option('--memory <size>', 'memory cap, e.g. 2g')
    .option('--cpus <n>', 'CPU quota in cores')
    .option('--pids <n>', 'process limit')
    .option('--allow <pattern>', 'also allow this host on the egress proxy (repeatable)', collect)
    .option('--preset <name>', 'also allow a named allowlist: github, npm, pypi, ... (repeatable)', collect)
    .option('--add-host <name:ip>', 'how the egress proxy resolves NAME (repeatable)', collect)
    .option('--mount <src:dst[:rw]>', 'extra mount, read-only unless :rw (repeatable)', collect)
    .option('--max-runtime <duration>', 'the sandbox stops itself after this long')
    .action(async (agent: string, promptWords: string[], f: AgentFlags) => {
      const timeoutMs = f.timeout === undefined ? undefined : parseDuration(f.timeout);
      if (f.timeout !== undefined && timeoutMs === undefined) throw new WardenError('INVALID_ARGUMENT', `--timeout '${f.timeout}' is not a duration; use e.g. 30s, 10m (a bare number is seconds)`);
      // loaded here, not at the top: `warden --help` stays fast
      const [{ agentSecrets }, { AuthModeSchema, loadAgentsConfig }, { instanceFromEnv }, { Warden }, { RemoteAgentRun }] = await Promise.all([
        import('../../agents/auth.js'),
        import('../../agents/config.js'),
        import('../../config/env.js'),
        import('../../sandbox/warden.js'),
        import('../../client/remote-agent.js'),
      ]);
      const auth = f.auth === undefined ? undefined : AuthModeSchema.safeParse(f.auth);
      if (auth && !auth.success) throw new WardenError('INVALID_ARGUMENT', `--auth '${f.auth}' must be keyless, env or files`);
      let prompt = promptWords.join(' ');
      const { network: _n, lifetime: _l, ...policy } = specFromFlags({ ...f, workspace: undefined }) as Record<string, unknown>;
      if (promptWords.length === 0) {
        if (!process.stdin.isTTY) throw new WardenError('NOT_A_TERMINAL', `no prompt and no terminal: pass a prompt (warden agent ${agent} "fix the tests", or "-" to read it from stdin), or run this from a terminal for the interactive TUI`);
        if (f.json || f.maxTurns) throw new WardenError('INVALID_ARGUMENT', '--json and --max-turns are for runs with a prompt; the interactive TUI takes neither');
        const interactive = {
          ...(f.workspace ? { workspace: resolve(f.workspace) } : {}),
          ...(f.model ? { model: f.model } : {}),
          ...(f.resume ? { sessionId: f.resume } : {}),
          ...(timeoutMs !== undefined ? { timeoutMs } : {}),
          ...(auth?.success ? { auth: auth.data } : {}),
          ...(f.stateKey ? { stateKey: f.stateKey } : {}),
          ...(f.image ? { image: f.image } : {}),
          ...(Object.keys(policy).length ? { policy } : {}),
        };
        const onServer = ctx.remote?.();
        if (onServer) {
          // the server makes the sandbox (its keys, its audit); this terminal attaches to the TUI there
          process.stderr.write(`warden: starting ${agent} on the server ${process.env.WARDEN_URL ?? ''}...\n`);
          const exit = await attachTerminal(async (size) => (await onServer.agentSession(agent, { ...interactive, ...size })).pty);
          ctx.setExit(exit.killedBy === 'timeout' ? EXIT_TIMEOUT : exit.exitCode);
          return;
        }
        const config = loadAgentsConfig();
        const secrets = agentSecrets(config.secrets);
        const warden = new Warden({ logger: ctx.log(), ...instanceFromEnv(), egress: { secrets } });
        process.stderr.write(`warden: starting ${agent} in a sandbox${f.workspace ? ` on ${resolve(f.workspace)}` : ''}...\n`);
        const t = await attachTerminalTo((size) =>
          warden.agent(agent as 'claude', { config, secrets, logger: ctx.log() }).interactive({ ...size, ...interactive }),
        );
        const { exit, handle } = t;
        if (handle.filesChanged) process.stderr.write(`warden: files changed:\n${handle.filesChanged}\n`);
        if (handle.sessionId) process.stderr.write(`warden: ${agent} session kept; resume it with: warden agent ${agent}${f.workspace ? ` -w ${f.workspace}` : ''}${f.stateKey ? ` --state-key ${f.stateKey}` : ''} --resume ${handle.sessionId}\n`);
        ctx.setExit(exit.killedBy === 'timeout' ? EXIT_TIMEOUT : exit.exitCode);
        return;
      }
      if (prompt === '-') prompt = await readStdin();
      if (!prompt.trim()) throw new WardenError('INVALID_ARGUMENT', 'the prompt is empty; pass it as the last argument, e.g. warden agent claude "fix the tests"');
      const options = {
        prompt,
        ...(f.workspace ? { workspace: resolve(f.workspace) } : {}),
        ...(f.model ? { model: f.model } : {}),
        ...(f.resume ? { sessionId: f.resume } : {}),
        ...(f.maxTurns ? { maxTurns: Number(f.maxTurns) } : {}),
        ...(timeoutMs !== undefined ? { timeoutMs } : {}),
        ...(auth?.success ? { auth: auth.data } : {}),
        ...(f.stateKey ? { stateKey: f.stateKey } : {}),
        ...(f.image ? { image: f.image } : {}),
        ...(Object.keys(policy).length ? { policy } : {}),
      };
      // with WARDEN_URL the server runs it (its keys, its config, its audit); otherwise this process does
      const remote = ctx.remote?.();
      let run: AgentRunHandle;
      if (remote) run = new RemoteAgentRun(remote, agent, options);
      else {
        const config = loadAgentsConfig();
        const secrets = agentSecrets(config.secrets);
        const warden = new Warden({ logger: ctx.log(), ...instanceFromEnv(), egress: { secrets } });
        run = warden.agent(agent as 'claude', { config, secrets, logger: ctx.log() }).run(options);
      }
      let interrupted = false;
      const onSignal = (): void => {
        interrupted = true;
        process.stderr.write('\nwarden: interrupting the agent (SIGINT, then SIGKILL)...\n');
        void run.cancel();
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      const progress = f.json ? undefined : new Progress(agent);
      try {
        for await (const e of run) {
          if (f.json) process.stdout.write(`${JSON.stringify(e)}\n`);
          else progress!.event(e);
        }
        const r = await run.result();
        progress?.stop();
        if (f.json) process.stdout.write(`${JSON.stringify({ result: r })}\n`);
        else {
          process.stdout.write(`${r.text}\n`);
          const usage = [r.usage.inputTokens !== undefined ? `${r.usage.inputTokens} in` : '', r.usage.outputTokens !== undefined ? `${r.usage.outputTokens} out` : '', r.usage.costUsd !== undefined ? `$${r.usage.costUsd.toFixed(4)}` : ''].filter(Boolean).join(', ');
          process.stderr.write(`warden: ${agent} ${r.status} in ${(r.durationMs / 1000).toFixed(1)} s (exit ${r.exitCode}${usage ? `; ${usage}` : ''})${r.sessionId ? `; resume with --resume ${r.sessionId}` : ''}\n`);
          if (r.filesChanged) process.stderr.write(`warden: files changed:\n${r.filesChanged}\n`);
          if (!r.success && r.stderrTail) process.stderr.write(`warden: ${agent} stderr (last lines):\n${r.stderrTail}\n`);
        }
        ctx.setExit(r.success ? 0 : r.status === 'timeout' ? EXIT_TIMEOUT : interrupted ? EXIT_INTERRUPTED : r.exitCode === 0 ? 1 : r.exitCode);
      } finally {
        progress?.stop();
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/** Readable live progress on stderr: one line per tool call, a spinner with elapsed time and tokens on a TTY. */
class Progress {
  private readonly t0 = Date.now();
  private readonly tty = process.stderr.isTTY === true;
  private timer: NodeJS.Timeout | undefined;
  private frame = 0;
  private tokens = '';
  private status = 'starting the sandbox';

  constructor(private readonly agent: string) {
    if (this.tty) this.timer = setInterval(() => this.draw(), 100);
    else process.stderr.write(`warden: ${agent}: starting the sandbox\n`);
  }

  private draw(): void {
    const s = ((Date.now() - this.t0) / 1000).toFixed(0);
    process.stderr.write(`\r\x1b[2K${FRAMES[this.frame++ % FRAMES.length]} ${this.agent}: ${this.status} (${s}s${this.tokens ? `, ${this.tokens}` : ''})`);
  }

  private line(text: string): void {
    if (this.tty) process.stderr.write('\r\x1b[2K');
    process.stderr.write(`${text}\n`);
  }

  event(e: AgentRunEvent): void {
    switch (e.kind) {
      case 'init':
        this.status = 'working';
        this.line(`● ${this.agent} started${e.model ? ` (${e.model})` : ''}${e.sessionId ? ` session ${e.sessionId}` : ''}`);
        break;
      case 'tool_call':
        this.status = `running ${e.name}`;
        this.line(`● ${e.name} ${describeInput(e.input)}`);
        break;
      case 'tool_result':
        this.status = 'thinking';
        if (e.isError) this.line(`  ✗ ${(e.output ?? 'failed').split('\n')[0]?.slice(0, 160) ?? ''}`);
        break;
      case 'text':
        this.status = 'writing';
        break;
      case 'usage':
        this.tokens = [e.usage.inputTokens !== undefined ? `${e.usage.inputTokens} tok in` : '', e.usage.outputTokens !== undefined ? `${e.usage.outputTokens} out` : '', e.usage.costUsd !== undefined ? `$${e.usage.costUsd.toFixed(4)}` : ''].filter(Boolean).join(', ');
        break;
      case 'error':
        this.line(`! ${e.message}`);
        break;
      default:
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.tty) process.stderr.write('\r\x1b[2K');
  }
}

/** A one-line view of a tool's input: the file it touches or the command it runs. */
function describeInput(input: unknown): string {
  const o = (input && typeof input === 'object' ? input : {}) as Record<string, unknown>;
  for (const k of ['file_path', 'path', 'command', 'cmd', 'pattern', 'url', 'query']) {
    const v = o[k];
    if (typeof v === 'string') return v.split('\n')[0]!.slice(0, 160);
    if (Array.isArray(v)) return v.join(' ').slice(0, 160);
  }
  return JSON.stringify(input).slice(0, 160);
}
