import { readFile, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { WardenError } from '../errors.js';
import { PROVIDERS } from '../egress/credentials.js';
import { createLogger, type Logger } from '../log.js';
import { parseSpec, zodToValidationError, type SandboxSpecInput } from '../policy/spec.js';
import { checkHostPath } from '../sandbox/host-paths.js';
import type { Sandbox } from '../sandbox/sandbox.js';
import type { SandboxMaker } from '../sandbox/maker.js';
import { agentSecrets, installCredentialFiles, resolveAuth, type ResolvedAuth } from './auth.js';
import { AuthModeSchema, GitConfigSchema, loadAgentsConfig, type AgentConfig, type AgentsConfig, type GitConfig } from './config.js';
import type { AgentName } from './events.js';
import { gitEnv, gitMounts, installAskpass, workspaceDiffStat } from './git.js';
import type { AgentProfile } from './profile.js';
import { profileOf } from './profiles.js';
import { JsonlRunRecorder, type AgentRunRecorder } from './recorder.js';
import { AgentRun } from './run.js';
import { prepareStateDir, stateKeyFor, stateRoot } from './state.js';
import { wardenImage } from '../images/catalog.js';
import { randomBytes } from 'node:crypto';
import { PATHS } from '../policy/compile.js';
import type { SandboxPty } from '../sandbox/pty.js';
import { AgentTerminal, latestSession } from './terminal.js';
import { CarriedDirs } from './carried.js';

/** The image agent sandboxes run by default (built by `warden images build agents`). */
export const AGENTS_IMAGE = wardenImage('agents');
/** Label on agent sandboxes: which CLI they run. */
export const AGENT_LABEL = 'warden-agent';

/** Options of the sandbox an agent runs in (shared by one-off runs and sessions). */
export const AgentSandboxOptionsSchema = z
  .object({
    workspace: z.string().min(1).optional().describe('Host directory mounted at /workspace (the agent works there). Default: a tmpfs workspace.'),
    policy: z
      .record(z.string(), z.unknown())
      .optional()
      .describe("Sandbox spec fields to add or override (resources, egress.allow, env, ...). Network is always 'allowlist'; the agent's API is allowed on top."),
    auth: AuthModeSchema.optional().describe("Auth mode; default from the agents config, else 'keyless'."),
    image: z.string().min(1).optional().describe(`Image; default ${AGENTS_IMAGE}.`),
    stateKey: z.string().min(1).optional().describe("Key of the CLI's state dir (sessions); default derived from the workspace."),
    git: GitConfigSchema.partial().optional().describe('Git settings over the config file.'),
  })
  .strict();

/** One prompt's options. */
export const AgentPromptOptionsSchema = z
  .object({
    prompt: z.string().min(1).describe('What the agent should do.'),
    model: z.string().min(1).optional().describe("Model for the CLI; default from config, else the CLI's own."),
    sessionId: z.string().min(1).optional().describe("Resume this session of the CLI (its own id, from an earlier result's sessionId)."),
    maxTurns: z.number().int().positive().optional().describe('Maximum agentic turns (Claude Code only: --max-turns).'),
    timeoutMs: z.number().int().positive().optional().describe('Cancel the run after this long. Default: none.'),
    stdin: z.string().optional().describe("Data piped to the CLI's stdin (Claude and Gemini append it to the prompt)."),
  })
  .strict();

export const AgentRunOptionsSchema = AgentSandboxOptionsSchema.merge(AgentPromptOptionsSchema).strict();

/** An interactive session's options: the sandbox's, plus model, resume, window size and a time cap. */
export const AgentInteractiveOptionsSchema = AgentSandboxOptionsSchema.extend({
  model: z.string().min(1).optional().describe("Model for the CLI; default from config, else the CLI's own."),
  sessionId: z.string().min(1).optional().describe("Resume this session of the CLI (the TUI's own id)."),
  cols: z.number().int().min(1).max(1000).default(80).describe('Terminal width.'),
  rows: z.number().int().min(1).max(1000).default(24).describe('Terminal height.'),
  timeoutMs: z.number().int().positive().optional().describe('End the session (whole process tree) after this long. Default: none.'),
}).strict();
export type AgentInteractiveOptions = z.input<typeof AgentInteractiveOptionsSchema>;

export type AgentSandboxOptions = z.input<typeof AgentSandboxOptionsSchema>;
export type AgentPromptOptions = z.input<typeof AgentPromptOptionsSchema>;
/** `warden.agent(name).run(options)`. */
export type AgentRunOptions = z.input<typeof AgentRunOptionsSchema>;

/** How an Agent is set up: config, secrets, recorder (defaults: the config file, the environment, JSONL). */
export interface AgentOptions {
  config?: AgentsConfig;
  /** Secrets (keys and base URLs by env name). Default: the environment, WARDEN_SECRETS_FILE and the config's secrets. */
  secrets?: Record<string, string>;
  recorder?: AgentRunRecorder;
  logger?: Logger;
  /** The host user's home (credentials files, ~/.gitconfig). Default os.homedir(). */
  hostHome?: string;
  /** After SIGINT on cancel, how long the CLI may take to save its session. Default 3000 ms. */
  cancelGraceMs?: number;
  /** Labels added to the agent's sandboxes beside the spec's (a server's project or token scope; may use warden.). */
  labels?: Record<string, string>;
}

function parse<T extends z.ZodTypeAny>(schema: T, input: unknown, what: string): z.output<T> {
  const r = schema.safeParse(input);
  if (!r.success) throw zodToValidationError(what, r.error);
  return r.data as z.output<T>;
}

/** A prepared sandbox for an agent: the sandbox and the auth it was made for. */
export interface Prepared {
  sb: Sandbox;
  auth: ResolvedAuth;
  git: GitConfig;
  /** The CLI's state dir on the host (sessions live there). */
  stateDir?: string;
  /** On a runtime without host mounts: the workspace and state dir, carried in by copy and back after each run. */
  carried?: CarriedDirs;
}

/**
 * One agent CLI (claude, gemini, codex) over a Warden: `run()` creates a hardened sandbox from the
 * agents image with the workspace, the CLI's state dir and an allowlisted network that reaches only
 * its model API, runs the CLI in its "no questions asked" mode, streams its events, and removes the
 * sandbox (the state dir stays, so a later run can resume). `session()` keeps one sandbox for many prompts.
 *
 * @example
 * const run = warden.agent('claude').run({ workspace: './repo', prompt: 'add a test for parseSpec' });
 * for await (const e of run) console.log(e.kind);
 * const r = await run.result(); // r.success, r.text, r.sessionId, r.usage, r.filesChanged
 */
export class Agent {
  readonly name: AgentName;
  readonly profile: AgentProfile;
  private readonly config: AgentsConfig;
  private readonly log: Logger;
  readonly recorder: AgentRunRecorder;

  constructor(
    /** The Warden (or anything that makes sandboxes) the agent runs in. */
    readonly warden: SandboxMaker,
    name: string,
    private readonly opts: AgentOptions = {},
  ) {
    this.profile = profileOf(name);
    this.name = this.profile.name;
    this.config = opts.config ?? loadAgentsConfig();
    this.log = opts.logger ?? createLogger();
    this.recorder = opts.recorder ?? new JsonlRunRecorder();
  }

  private secrets(): Record<string, string> {
    // explicit secrets may use either spelling (GITHUB_TOKEN or WARDEN_GITHUB_TOKEN), like the environment
    return this.opts.secrets ? agentSecrets({}, this.opts.secrets) : agentSecrets(this.config.secrets);
  }

  /** Start one run in a fresh sandbox, removed when the run ends. Invalid options throw at once. */
  run(input: AgentRunOptions): AgentRun {
    const o = parse(AgentRunOptionsSchema, input, `invalid ${this.name} run options`);
    const { prompt: _p, model: _m, sessionId: _s, maxTurns: _t, timeoutMs: _x, stdin: _i, ...sandboxOpts } = o;
    return this.start(o, sandboxOpts, {
      setup: () => this.prepare(sandboxOpts, { ephemeral: true }),
      teardown: async (sb) => {
        if (sb) await this.warden.remove(sb.containerId, { force: true });
      },
    });
  }

  /** A session: one sandbox reused across prompts, each prompt resuming the previous one's session. */
  session(input: AgentSandboxOptions = {}): AgentSession {
    const o = parse(AgentSandboxOptionsSchema, input, `invalid ${this.name} session options`);
    return new AgentSession(this, o);
  }

  /**
   * Open the CLI's own interactive TUI in a fresh sandbox, through a terminal session: the same image,
   * "skip permissions" mode, keyless credentials and egress allowlist as `run()`, with the first-run
   * screens pre-answered so the user lands at the prompt. The CLI's state dir is kept, so a later session
   * (or a headless run) resumes it (`sessionId`). The sandbox is removed when the TUI exits.
   * @example
   * const t = await warden.agent('claude').interactive({ workspace: './repo', cols: 120, rows: 40 });
   * t.onData((b) => process.stdout.write(b));
   * process.stdin.on('data', (b) => t.write(b));
   * const { exitCode } = await t.wait();
   */
  async interactive(input: AgentInteractiveOptions = {}): Promise<AgentTerminal> {
    const o = parse(AgentInteractiveOptionsSchema, input, `invalid ${this.name} interactive options`);
    const { model: m, sessionId, cols, rows, timeoutMs, ...sandboxOpts } = o;
    const agentCfg: Partial<AgentConfig> = this.config.agents[this.name] ?? {};
    const model = m ?? agentCfg.model;
    const p = await this.prepare(sandboxOpts, { ephemeral: true, interactive: true });
    const runId = `run-${randomBytes(6).toString("hex")}`;
    const startedAt = Date.now();
    let pty: SandboxPty;
    try {
      const prof = { baseUrl: p.auth.baseUrl, auth: p.auth.mode, ...(model ? { model } : {}), ...(sessionId ? { resume: sessionId } : {}) };
      const env = { ...this.profile.env({ ...prof, prompt: '' }, p.auth.apiKey), ...gitEnv(p.git, this.secrets()) };
      pty = await p.sb.pty({ cmd: this.profile.interactiveArgv(prof), env, cols, rows, cwd: PATHS.workspace, ...(timeoutMs ? { timeoutMs } : {}) });
    } catch (err) {
      await this.warden.remove(p.sb.containerId, { force: true }).catch(() => undefined);
      throw err;
    }
    await this.recorder
      .recordStart({ runId, agent: this.name, sandboxId: p.sb.id, ...(sandboxOpts.workspace ? { workspace: sandboxOpts.workspace } : {}), prompt: '(interactive)', ...(model ? { model } : {}), flags: this.profile.interactiveArgv({ baseUrl: p.auth.baseUrl, auth: p.auth.mode }), auth: p.auth.mode, startedAt: new Date(startedAt).toISOString() })
      .catch((err: unknown) => this.log.warn({ err }, 'recording the interactive session start failed'));
    return new AgentTerminal(pty, p.sb, async (exit) => {
      const carryError = await p.carried?.carryBack(p.sb).then(() => undefined, (err: unknown) => err as WardenError);
      if (carryError) this.log.error({ err: carryError, sandbox: p.sb.id }, 'copying the agent\'s work back to the host failed');
      const filesChanged = await workspaceDiffStat(p.sb).catch(() => undefined);
      const session = p.stateDir ? await latestSession(p.stateDir, startedAt) : undefined;
      await this.warden.remove(p.sb.containerId, { force: true }).catch((err: unknown) => this.log.warn({ err }, 'removing the interactive sandbox failed'));
      await this.recorder
        .recordEnd({ runId, endedAt: new Date().toISOString(), status: exit.killedBy === 'timeout' ? 'timeout' : exit.exitCode === 0 ? 'succeeded' : 'failed', exitCode: exit.exitCode, durationMs: Date.now() - startedAt, toolCalls: {}, ...(session ? { sessionId: session } : {}), ...(filesChanged ? { filesChanged } : {}) })
        .catch(() => undefined);
      return { ...(filesChanged ? { filesChanged } : {}), ...(session ? { sessionId: session } : {}) };
    });
  }

  /** @internal build a run over a sandbox source */
  start(
    o: z.output<typeof AgentPromptOptionsSchema>,
    sandboxOpts: z.output<typeof AgentSandboxOptionsSchema>,
    source: { setup: () => Promise<Prepared>; teardown?: (sb: Sandbox | undefined) => Promise<void> },
  ): AgentRun {
    const agentCfg: Partial<AgentConfig> = this.config.agents[this.name] ?? {};
    const model = o.model ?? agentCfg.model;
    let argv: string[] = [];
    let env: Record<string, string> = {};
    let prepared: Prepared | undefined;
    const plan = {
      agent: this.name,
      prompt: o.prompt,
      get argv() {
        return argv;
      },
      get env() {
        return env;
      },
      parser: this.profile.parser(),
      recorder: this.recorder,
      log: this.log,
      auth: sandboxOpts.auth ?? agentCfg.auth ?? 'keyless',
      cancelGraceMs: this.opts.cancelGraceMs ?? 3_000,
      ...(o.stdin !== undefined ? { stdin: o.stdin } : {}),
      ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
      ...(sandboxOpts.workspace ? { workspace: sandboxOpts.workspace } : {}),
      ...(model ? { model } : {}),
      setup: async () => {
        const p = await source.setup();
        prepared = p;
        const input = { prompt: o.prompt, baseUrl: p.auth.baseUrl, auth: p.auth.mode, ...(model ? { model } : {}), ...(o.sessionId ? { resume: o.sessionId } : {}), ...(o.maxTurns ? { maxTurns: o.maxTurns } : {}) };
        argv = this.profile.argv(input);
        env = { ...this.profile.env(input, p.auth.apiKey), ...gitEnv(p.git, this.secrets()) };
        return p.sb;
      },
      collect: async (sb: Sandbox) => {
        await prepared?.carried?.carryBack(sb);
      },
      inspect: async (sb: Sandbox) => {
        const filesChanged = await workspaceDiffStat(sb);
        return filesChanged !== undefined ? { filesChanged } : {};
      },
      ...(source.teardown ? { teardown: source.teardown } : {}),
    };
    return new AgentRun(plan);
  }

  /** @internal create the agent's sandbox: state dir, auth, egress, git; then check the API is reachable. */
  async prepare(o: z.output<typeof AgentSandboxOptionsSchema>, how: { ephemeral: boolean; key?: string; interactive?: boolean }): Promise<Prepared> {
    const agentCfg: Partial<AgentConfig> = this.config.agents[this.name] ?? {};
    const mode = o.auth ?? agentCfg.auth ?? 'keyless';
    const secrets = this.secrets();
    const hostHome = this.opts.hostHome ?? homedir();
    const auth = resolveAuth(this.profile, mode, secrets, hostHome);
    for (const w of auth.warnings) this.log.warn({ agent: this.name }, w);
    const git: GitConfig = GitConfigSchema.parse({ ...this.config.git, ...(o.git ?? {}) });
    const ws = o.workspace ? await checkHostPath('workspace', o.workspace, 'dir') : undefined;
    const policy = (o.policy ?? {}) as SandboxSpecInput & Record<string, unknown>;
    const user = typeof policy.user === 'string' ? policy.user.split(':').map(Number) : undefined;
    if (ws && ws.uid === 0 && !user) {
      // the agent runs unprivileged (uid 1000, no capabilities): in a root-owned directory every write
      // would fail, and the run would still look like it finished. Refused before anything is made.
      throw new WardenError(
        'PATH_REFUSED',
        `workspace ${ws.path} is owned by root; the agent runs as an unprivileged user (uid 1000, no capabilities) and could not write a file in it. ` +
          `Give it to the user who should own the agent's changes (e.g. \`chown -R 1000:1000 ${ws.path}\`, or your own uid), or set the sandbox user explicitly (policy.user, e.g. "1000:1000") if it can write there.`,
        { details: { workspace: ws.path, uid: 0 } },
      );
    }
    const owner = user ? { uid: user[0]!, gid: user[1] ?? user[0]! } : ws && ws.uid !== 0 ? { uid: ws.uid, gid: ws.gid } : { uid: 1000, gid: 1000 };
    const stateKey = stateKeyFor({ ...(o.stateKey ? { stateKey: o.stateKey } : {}), ...(ws ? { workspace: ws.path } : {}) });
    const stateDir = await prepareStateDir(stateKey, this.name, owner, async (dir) => {
      await installCredentialFiles(this.profile, auth, dir);
      if (how.interactive) await this.profile.firstRun(dir, { ...(auth.apiKey ? { apiKey: auth.apiKey } : {}), auth: auth.mode, workspace: PATHS.workspace });
    });
    // a runtime that cannot mount host paths (Kubernetes, ACI) gets the workspace, the state dir and
    // ~/.gitconfig by copy, and the first two back after each run (carried.ts)
    const mountable = this.warden.capabilities?.has('hostMounts') ?? true;
    const gitFiles = await gitMounts(git, hostHome);
    const pe = (policy.egress ?? {}) as { allow?: string[]; presets?: string[]; credentials?: string[]; addHosts?: Record<string, string> };
    const credentials = [...new Set([...(pe.credentials ?? []), ...auth.egress.credentials, ...(git.token === 'keyless' ? ['github'] : [])])];
    const spec: SandboxSpecInput = {
      ...policy,
      image: o.image ?? agentCfg.image ?? (policy.image as string | undefined) ?? AGENTS_IMAGE,
      ...(ws && mountable ? { workspace: ws.path } : {}),
      network: 'allowlist',
      egress: {
        ...pe,
        allow: [...new Set([...(pe.allow ?? []), ...auth.egress.allow])],
        presets: [...new Set([...(pe.presets ?? []), ...auth.egress.presets])],
        credentials: credentials as Array<'anthropic' | 'openai' | 'gemini' | 'github'>,
      },
      mounts: [...((policy.mounts as SandboxSpecInput['mounts']) ?? []), ...(mountable ? [{ source: stateDir, target: this.profile.stateDir, readOnly: false }, ...gitFiles] : [])],
      labels: { ...((policy.labels as Record<string, string>) ?? {}), [AGENT_LABEL]: this.name },
      lifetime: how.ephemeral ? 'ephemeral' : (policy.lifetime ?? 'persistent'),
      ...(how.key ? { key: how.key } : {}),
    };
    parseSpec(spec); // fail before anything is made, naming the field
    const made = { labels: this.opts.labels ?? {} };
    const sb = how.key ? await this.warden.ensure(spec, made) : await this.warden.create(spec, made);
    let carried: CarriedDirs | undefined;
    try {
      if (!mountable) {
        carried = await CarriedDirs.carryIn(sb, [
          ...(ws ? [{ what: 'workspace', host: ws.path, sandbox: PATHS.workspace, owner: { uid: ws.uid, gid: ws.gid } }] : []),
          { what: `${this.name} state dir`, host: stateDir, sandbox: this.profile.stateDir, owner },
        ]);
        for (const f of gitFiles) await sb.files.write([{ path: f.target, content: await readFile(f.source), mode: 0o644 }]);
      }
      if (git.token === 'askpass') await installAskpass(sb);
      await this.checkReachable(sb, auth);
    } catch (err) {
      if (how.ephemeral || !how.key) await this.warden.remove(sb.containerId, { force: true }).catch(() => undefined);
      throw err;
    }
    return { sb, auth, git, stateDir, ...(carried ? { carried } : {}) };
  }

  /** Fail fast with a clear error when the model API cannot be reached (instead of a CLI retrying for minutes). */
  private async checkReachable(sb: Sandbox, auth: ResolvedAuth): Promise<void> {
    // the egress proxy may still be starting (a fresh container under load): connection failures are
    // retried for a while; an answer from the proxy (a 502 for an unreachable upstream) is final
    // (a connection attempt that gets no answer at all is cut at 5 s and made again: on a busy engine the
    // first SYNs to a just-attached container can be lost while its network is still being wired)
    const deadline = Date.now() + 45_000;
    let r: { stdout: string; stderr: string };
    let code: string;
    for (;;) {
      r = await sb.exec(['curl', '-sS', '-o', '/dev/null', '--connect-timeout', '5', '-m', '15', '-w', '%{http_code}', `${auth.baseUrl}/`], { timeoutMs: 25_000 }).catch((err: unknown) => ({ exitCode: -1, stdout: '000', stderr: (err as Error).message, durationMs: 0 }));
      code = r.stdout.trim();
      if (code !== '000' || Date.now() > deadline) break;
      await new Promise((res) => setTimeout(res, 250));
    }
    if (code !== '000' && !['502', '503', '504'].includes(code) && !(code === '403' && auth.mode !== 'keyless')) return;
    const def = PROVIDERS[this.profile.provider];
    const why = code === '000' ? r.stderr.trim().replace(/^curl: \(\d+\) /, '') || 'no answer' : code === '403' ? 'the egress proxy denied it' : `the egress proxy could not reach the upstream (HTTP ${code})`;
    throw new WardenError(
      'AGENT_API_UNREACHABLE',
      `${this.name} cannot reach its model API (${auth.mode === 'keyless' ? `the proxy route ${auth.baseUrl}, upstream from ${def.baseEnv}` : auth.baseUrl}) from sandbox ${sb.id}: ${why}. Check ${def.baseEnv} (default ${def.defaultBase}) and the network policy.`,
      { details: { sandbox: sb.id, httpCode: code } },
    );
  }
}

/**
 * One sandbox reused across prompts (ChannelCoder-style sessions): the first `run` creates it, later
 * ones reuse it and resume the CLI's previous session (pass `sessionId` to pick another, or
 * `fresh: true` to start over). `close()` removes the sandbox and keeps the CLI's state unless
 * `keepState: false`.
 *
 * @example
 * const s = warden.agent('claude').session({ workspace: './repo' });
 * await s.run({ prompt: 'read the code' }).result();
 * const r = await s.run({ prompt: 'now refactor it' }).result(); // same sandbox, same conversation
 * await s.close({ keepState: true });
 */
export class AgentSession {
  private prepared: Promise<Prepared> | undefined;
  private last: Prepared | undefined;
  /** The CLI's session id of the last finished run (resumed by the next one). */
  sessionId: string | undefined;
  private readonly key = `agent-session-${Math.random().toString(36).slice(2, 10)}`;

  /** @internal use Agent.session */
  constructor(
    private readonly agent: Agent,
    private readonly opts: z.output<typeof AgentSandboxOptionsSchema>,
  ) {}

  /** The session's sandbox, once the first run made it. */
  get sandbox(): Sandbox | undefined {
    return this.last?.sb;
  }

  /** Run one prompt in the session's sandbox. */
  run(input: AgentPromptOptions & { fresh?: boolean }): AgentRun {
    const { fresh, ...rest } = input;
    const o = parse(AgentPromptOptionsSchema, rest, `invalid ${this.agent.name} prompt options`);
    const resume = o.sessionId ?? (fresh ? undefined : this.sessionId);
    const run = this.agent.start({ ...o, ...(resume ? { sessionId: resume } : {}) }, this.opts, {
      setup: async () => {
        this.prepared ??= this.agent.prepare(this.opts, { ephemeral: false, key: this.key });
        try {
          this.last = await this.prepared;
        } catch (err) {
          this.prepared = undefined;
          throw err;
        }
        return this.last;
      },
    });
    void run.result().then((r) => {
      if (r.sessionId) this.sessionId = r.sessionId;
    }, () => undefined);
    return run;
  }

  /** Remove the sandbox; the CLI's state dir (its sessions) is kept unless `keepState: false`. */
  async close(opts: { keepState?: boolean } = {}): Promise<void> {
    const p = await this.prepared?.catch(() => undefined);
    if (p) await this.agent.warden.remove(p.sb.containerId, { force: true });
    this.prepared = undefined;
    this.last = undefined;
    if (opts.keepState === false) {
      const ws = this.opts.workspace ? await checkHostPath('workspace', this.opts.workspace, 'dir') : undefined;
      const key = stateKeyFor({ ...(this.opts.stateKey ? { stateKey: this.opts.stateKey } : {}), ...(ws ? { workspace: ws.path } : {}) });
      await rm(join(stateRoot(), key, this.agent.name), { recursive: true, force: true });
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

