import Docker from 'dockerode';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAgentsConfig } from '../src/agents/config.js';
import { JsonlRunRecorder } from '../src/agents/recorder.js';
import type { AgentRunEvent } from '../src/agents/run.js';
import { createLogger } from '../src/log.js';
import { Warden } from '../src/sandbox/warden.js';
import { fakeUrl, startFakeModels } from './support/fake-model-server.js';
import { runId, tempWorkspace } from './support/fixture.js';
import { TEST_RUN_LABEL } from './support/labels.js';
import { wardenImage } from '../src/images/catalog.js';

// The real agent CLIs (warden-agents image) in real sandboxes, keyless through the egress proxy, against
// a fake model provider in a container on the egress network. Never the real APIs.
const docker = new Docker();
const SECRET = { anthropic: `sk-ant-real-${runId()}`, openai: `sk-openai-real-${runId()}`, gemini: `gemini-real-${runId()}` };
const FAKE_URL = fakeUrl('main');
const secrets = {
  WARDEN_ANTHROPIC_API_KEY: SECRET.anthropic,
  WARDEN_ANTHROPIC_BASE_URL: FAKE_URL,
  WARDEN_OPENAI_API_KEY: SECRET.openai,
  WARDEN_OPENAI_BASE_URL: FAKE_URL,
  WARDEN_GEMINI_API_KEY: SECRET.gemini,
  WARDEN_GEMINI_BASE_URL: FAKE_URL,
};
let fake: Awaited<ReturnType<typeof startFakeModels>>;
let home: string;
let warden: Warden;
let recorder: JsonlRunRecorder;
const cleanups: Array<() => Promise<void>> = [];

function agentOpts() {
  return { secrets, config: parseAgentsConfig({}), recorder, hostHome: home, cancelGraceMs: 2_000 };
}

async function gitWorkspace(): Promise<string> {
  const ws = await tempWorkspace();
  cleanups.push(ws.cleanup);
  const git = (...args: string[]) => execFileSync('git', ['-C', ws.dir, '-c', 'safe.directory=*', '-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { stdio: 'ignore' });
  git('init', '-q');
  execFileSync('sh', ['-c', `echo base > ${ws.dir}/README.md`]);
  git('add', '.');
  git('commit', '-qm', 'base');
  if (process.getuid?.() === 0) execFileSync('chown', ['-R', '1000:1000', ws.dir]);
  return ws.dir;
}

async function collect(run: AsyncIterable<AgentRunEvent>): Promise<AgentRunEvent[]> {
  const out: AgentRunEvent[] = [];
  for await (const e of run) out.push(e);
  return out;
}

/** The index of the first event matching, after `from`. */
function indexOf(events: AgentRunEvent[], pred: (e: AgentRunEvent) => boolean, from = 0): number {
  const i = events.slice(from).findIndex(pred);
  return i < 0 ? -1 : i + from;
}

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'warden-agents-home-'));
  process.env.WARDEN_HOME = home; // state dirs of this file's runs
  recorder = new JsonlRunRecorder(join(home, 'runs.jsonl'));
  warden = new Warden({ owner: `test-${runId()}-agents`, labels: { [TEST_RUN_LABEL]: runId() }, logger: createLogger('error'), egress: { secrets } });
  fake = await startFakeModels(docker, 'main');
});

afterAll(async () => {
  await fake?.stop();
  for (const c of cleanups) await c().catch(() => undefined);
  if (home) await rm(home, { recursive: true, force: true });
});

describe.each([
  { agent: 'claude' as const, model: undefined, write: 'Write', shell: 'Bash', api: 'anthropic' as const },
  { agent: 'codex' as const, model: 'gpt-5.1', write: 'shell', shell: 'shell', api: 'openai' as const },
  { agent: 'gemini' as const, model: undefined, write: 'write_file', shell: 'run_shell_command', api: 'gemini' as const },
])('$agent in a sandbox, keyless, against the fake $api API', ({ agent, model, write, shell, api }) => {
  it('writes a file in the host workspace (host owner), runs a shell tool, answers; events in order; audit and diff recorded', async () => {
    const ws = await gitWorkspace();
    const before = (await fake.requests()).length;
    const t0 = Date.now();
    const run = warden.agent(agent, agentOpts()).run({ workspace: ws, prompt: `[scenario:tools] ${agent}: write the file, run the command, report`, ...(model ? { model } : {}), timeoutMs: 120_000 });
    const events = await collect(run);
    const r = await run.result();
    console.log(`[agents] ${agent} tools run: ${Date.now() - t0} ms (CLI ${r.durationMs} ms), ${events.length} events`);
    expect(r.success, `${r.text}\n${r.stderrTail}`).toBe(true);
    expect(r.exitCode).toBe(0);
    expect(r.status).toBe('succeeded');
    expect(r.text).toContain('Done: wrote /workspace/hello.txt');
    expect(r.sessionId).toMatch(/^[0-9a-f-]{20,}$/);
    // the file is on the host, owned by the workspace's owner
    const st = await stat(join(ws, 'hello.txt'));
    expect(st.uid).toBe((await stat(ws)).uid);
    expect(await readFile(join(ws, 'hello.txt'), 'utf8')).toContain('written by the agent');
    expect(await readFile(join(ws, 'shell.txt'), 'utf8')).toBe('shell-ran\n');
    // the typed stream, in order
    const init = indexOf(events, (e) => e.kind === 'init');
    const call1 = indexOf(events, (e) => e.kind === 'tool_call' && e.name === write, init);
    const res1 = indexOf(events, (e) => e.kind === 'tool_result', call1);
    const call2 = indexOf(events, (e) => e.kind === 'tool_call' && e.name === shell && JSON.stringify(e.input).includes('shell-ran'), res1);
    const res2 = indexOf(events, (e) => e.kind === 'tool_result' && !e.isError, call2);
    const text = indexOf(events, (e) => e.kind === 'text' && e.text.includes('Done'), res2);
    const result = indexOf(events, (e) => e.kind === 'result', text);
    expect([init, call1, res1, call2, res2, text, result].every((i) => i >= 0), JSON.stringify(events.map((e) => e.kind))).toBe(true);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i));
    expect(events.filter((e) => e.kind !== 'result' && e.kind !== 'error').every((e) => e.raw.startsWith('{'))).toBe(true);
    // the shell tool ran as the sandbox user
    const out = events[res2] as Extract<AgentRunEvent, { kind: 'tool_result' }>;
    expect(out.output?.trim()).toBe(String((await stat(ws)).uid === 0 ? 1000 : (await stat(ws)).uid));
    // upstream got the real key from the proxy; the sandbox only ever had the placeholder
    const seen = (await fake.requests()).slice(before).filter((q) => q.api === api);
    expect(seen.length).toBeGreaterThanOrEqual(3);
    for (const q of seen) expect(q.auth).toContain(SECRET[api]);
    expect(r.usage.inputTokens).toBeGreaterThan(0);
    // audit: files changed and the run's records
    expect(r.filesChanged).toContain('hello.txt');
    const audit = (await readFile(join(home, 'runs.jsonl'), 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>).filter((x) => x.runId === run.id);
    expect(audit.map((a) => a.type)).toEqual(expect.arrayContaining(['start', 'event', 'end']));
    const end = audit.find((a) => a.type === 'end')!;
    expect(end).toMatchObject({ status: 'succeeded', exitCode: 0 });
    expect(Object.values(end.toolCalls as Record<string, number>).reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(2);
    expect(JSON.stringify(audit)).not.toContain(SECRET[api]);
    // the ephemeral sandbox is gone
    expect(await warden.find(r.sandboxId)).toBeUndefined();
  });
});

describe('claude sessions, cancel, secrecy and failures', () => {
  it('a session reuses one sandbox and resumes the conversation (the model sees the earlier turns); the key never enters the sandbox', async () => {
    const ws = await gitWorkspace();
    const session = warden.agent('claude', agentOpts()).session({ workspace: ws });
    cleanups.push(() => session.close({ keepState: false }));
    const first = await session.run({ prompt: 'first prompt: remember alpha', timeoutMs: 90_000 }).result();
    expect(first.success, first.stderrTail).toBe(true);
    const sbId = session.sandbox!.id;
    const t0 = Date.now();
    const second = await session.run({ prompt: 'second prompt: what came before?', timeoutMs: 90_000 }).result();
    console.log(`[agents] resumed run in a warm session sandbox: ${Date.now() - t0} ms`);
    expect(second.success, second.stderrTail).toBe(true);
    expect(second.sandboxId).toBe(sbId);
    expect(second.sessionId).toBeDefined();
    // the fake model answered with every user prompt it was sent: the first turn came back with --resume
    expect(second.text).toContain('first prompt: remember alpha');
    expect(second.text).toContain('second prompt: what came before?');
    const last = (await fake.requests()).filter((q) => q.api === 'anthropic').at(-1)!;
    expect(last.prompts).toEqual(['first prompt: remember alpha', 'second prompt: what came before?']);
    // keyless: the real key is nowhere in the sandbox (env of every process, files, labels)
    const inside = await session.sandbox!.exec(['sh', '-c', 'env; cat /proc/*/environ 2>/dev/null | tr "\\0" "\\n"; grep -rs . /home/agent /tmp /workspace 2>/dev/null | head -2000']); // as the workload user: the workload can never be root (ROOT_REFUSED without allowRoot)
    expect(inside.stdout).toContain('warden-placeholder-key');
    for (const s of Object.values(SECRET)) {
      expect(inside.stdout).not.toContain(s);
      expect(JSON.stringify(session.sandbox!.info.labels)).not.toContain(s);
    }
    // the state dir on the host holds the session (a later sandbox could resume it)
    const stateFiles = execFileSync('find', [home, '-path', '*claude*', '-name', '*.jsonl'], { encoding: 'utf8' });
    expect(stateFiles).toContain(second.sessionId!);
  });

  it('cancel kills the whole agent process tree (SIGINT first), the run ends as cancelled', async () => {
    const ws = await gitWorkspace();
    const session = warden.agent('claude', agentOpts()).session({ workspace: ws });
    cleanups.push(() => session.close({ keepState: false }));
    const run = session.run({ prompt: '[scenario:slow] run the long command', timeoutMs: 120_000 });
    // wait until the agent's Bash tool is running `sleep 600`
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (run.eventsSoFar.some((e) => e.kind === 'tool_call')) {
        const started = await stat(join(ws, 'slow-started.txt')).then(() => true, () => false);
        if (started) break;
      }
      if (Date.now() > deadline) throw new Error(`the slow tool never started: ${JSON.stringify(run.eventsSoFar.map((e) => e.kind))}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const ps = async () => (await session.sandbox!.exec(['ps', '-eo', 'pid,args'])).stdout;
    expect(await ps()).toMatch(/sleep 600/);
    const t0 = Date.now();
    await run.cancel();
    const r = await run.result();
    console.log(`[agents] cancel took ${Date.now() - t0} ms`);
    expect(r.status).toBe('cancelled');
    expect(r.success).toBe(false);
    const left = await ps();
    expect(left).not.toMatch(/sleep 600/);
    expect(left).not.toMatch(/claude/);
    await new Promise((r) => setTimeout(r, 500));
    expect(await stat(join(ws, 'slow-finished.txt')).then(() => true, () => false)).toBe(false);
  });

  it('a CLI whose API cannot be reached fails fast with a clear error, not a hang', async () => {
    const unreachable = { ...secrets, WARDEN_ANTHROPIC_BASE_URL: 'http://api-unreachable.fake-model.test:8080' };
    const w = new Warden({ owner: `test-${runId()}-agents-unreachable`, labels: { [TEST_RUN_LABEL]: runId() }, logger: createLogger('error'), egress: { secrets: unreachable } });
    const t0 = Date.now();
    const run = w.agent('claude', { ...agentOpts(), secrets: unreachable }).run({ prompt: 'hello', timeoutMs: 60_000 });
    await expect(run.result()).rejects.toMatchObject({ code: 'AGENT_API_UNREACHABLE', message: expect.stringMatching(/cannot reach its model API.*WARDEN_ANTHROPIC_BASE_URL/) });
    console.log(`[agents] unreachable API reported in ${Date.now() - t0} ms`);
    expect(Date.now() - t0).toBeLessThan(45_000);
    const events = run.eventsSoFar;
    expect(events.at(-1)).toMatchObject({ kind: 'error', fatal: true });
    expect(await w.list({ owner: `test-${runId()}-agents-unreachable` })).toEqual([]);
  });

  it('without a key for keyless mode, run() says which variable to set and makes nothing', async () => {
    const run = warden.agent('gemini', { ...agentOpts(), secrets: {} }).run({ prompt: 'hi' });
    await expect(run.result()).rejects.toMatchObject({ code: 'AGENT_AUTH_MISSING', message: expect.stringContaining('GEMINI_API_KEY') });
  });

  it("auth 'env' passes the real key at exec time (never into the image or labels), through the allowlist to the upstream", async () => {
    const ws = await gitWorkspace();
    const before = (await fake.requests()).length;
    const run = warden.agent('claude', agentOpts()).run({ workspace: ws, auth: 'env', prompt: '[scenario:tools] env: write the file, run the command, report', timeoutMs: 120_000 });
    const events = await collect(run);
    const r = await run.result();
    expect(r.success, `${r.text}\n${r.stderrTail}`).toBe(true);
    expect(events.some((e) => e.kind === 'tool_call')).toBe(true);
    const seen = (await fake.requests()).slice(before).filter((q) => q.api === 'anthropic');
    expect(seen.length).toBeGreaterThanOrEqual(3);
    for (const q of seen) expect(q.auth).toContain(SECRET.anthropic);
    // the key was an exec-time env var: it is not in the sandbox's labels or the image's config
    const leftovers = await docker.listContainers({ all: true, filters: { label: [`${TEST_RUN_LABEL}=${runId()}`] } });
    expect(JSON.stringify(leftovers.map((c) => c.Labels))).not.toContain(SECRET.anthropic);
    expect(JSON.stringify((await docker.getImage(wardenImage('agents')).inspect()).Config)).not.toContain(SECRET.anthropic);
  });

  it('git in the sandbox: identity from config, the host ~/.gitconfig read-only, a token through the askpass helper', async () => {
    const ws = await gitWorkspace();
    const { writeFile } = await import('node:fs/promises');
    await writeFile(join(home, '.gitconfig'), '# host gitconfig for the git test\n[core]\n\tautocrlf = false\n');
    const token = `ghp_test_${runId()}`;
    const run = warden.agent('claude', { ...agentOpts(), secrets: { ...secrets, GITHUB_TOKEN: token } }).run({
      workspace: ws,
      prompt: '[scenario:git] commit',
      git: { userName: 'Agent Smith', userEmail: 'agent@example.test', token: 'askpass', mountGitconfig: true },
      timeoutMs: 120_000,
    });
    const events = await collect(run);
    const r = await run.result();
    expect(r.success, `${r.text}\n${r.stderrTail}`).toBe(true);
    const out = events.filter((e) => e.kind === 'tool_result').map((e) => (e as Extract<AgentRunEvent, { kind: 'tool_result' }>).output ?? '').join('\n');
    expect(out).toContain('Agent Smith <agent@example.test>');
    expect(out).toContain(token);
    expect(out).toContain('# host gitconfig for the git test');
    const log = execFileSync('git', ['-C', ws, '-c', 'safe.directory=*', 'log', '-1', '--format=%an|%s'], { encoding: 'utf8' });
    expect(log.trim()).toBe('Agent Smith|agent-commit');
  });
});

