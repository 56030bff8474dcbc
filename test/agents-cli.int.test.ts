import Docker from 'dockerode';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from './support/cli.js';
import { fakeUrl, startFakeModels } from './support/fake-model-server.js';
import { runId, tempWorkspace } from './support/fixture.js';
import { startTestServer } from './support/server.js';

// `warden agent ...` as a user runs it: keys from the plain env names, upstream from WARDEN_*_BASE_URL.
const docker = new Docker();
let fake: Awaited<ReturnType<typeof startFakeModels>>;
let home: string;
const KEY = `sk-ant-cli-${runId()}`;
const env = (): Record<string, string> => ({ WARDEN_HOME: home, ANTHROPIC_API_KEY: KEY, WARDEN_ANTHROPIC_BASE_URL: fakeUrl('cli'), WARDEN_ANTHROPIC_API_KEY: '' });

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'warden-agents-cli-'));
  fake = await startFakeModels(docker, 'cli');
});
afterAll(async () => {
  await fake?.stop();
  if (home) await rm(home, { recursive: true, force: true });
});

describe('warden agent', () => {
  it('--json streams typed events and exits 0 when the agent finished; the plain ANTHROPIC_API_KEY reaches upstream via the proxy', async () => {
    const ws = await tempWorkspace();
    try {
      const r = await cli(['agent', 'claude', '--workspace', ws.dir, '--json', '[scenario:tools] via the CLI'], { env: env() });
      expect(r.code, r.stderr).toBe(0);
      const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines.map((l) => l.kind ?? 'final')).toEqual(['init', 'tool_call', 'tool_result', 'tool_call', 'tool_result', 'text', 'usage', 'result', 'final']);
      expect(lines.at(-1)).toMatchObject({ result: { success: true, exitCode: 0, status: 'succeeded' } });
      expect((await stat(join(ws.dir, 'hello.txt'))).uid).toBe((await stat(ws.dir)).uid);
      const seen = (await fake.requests()).filter((q) => q.api === 'anthropic');
      expect(seen.at(-1)!.auth).toBe(KEY);
      expect(r.stdout).not.toContain(KEY);
      const runs = await readFile(join(home, 'agents', 'runs.jsonl'), 'utf8');
      expect(runs).toContain('"type":"end"');
    } finally {
      await ws.cleanup();
    }
  });

  it('human output shows the tool calls and the answer; a failed task exits non-zero', async () => {
    const ws = await tempWorkspace();
    try {
      const ok = await cli(['agent', 'claude', '-w', ws.dir, '[scenario:tools] readable'], { env: env() });
      expect(ok.code, ok.stderr).toBe(0);
      expect(ok.stderr).toMatch(/● Write \/workspace\/hello\.txt/);
      expect(ok.stderr).toMatch(/● Bash echo shell-ran/);
      expect(ok.stdout).toContain('Done: wrote /workspace/hello.txt');
      const bad = await cli(['agent', 'claude', '-w', ws.dir, 'hello'], { env: { ...env(), WARDEN_ANTHROPIC_BASE_URL: 'http://api-unreachable.fake-model.test:8080' } });
      expect(bad.code).not.toBe(0);
      expect(bad.stderr).toMatch(/cannot reach its model API/);
    } finally {
      await ws.cleanup();
    }
  });

  it('with WARDEN_URL the server runs it: its key, its audit; the CLI shows the same events and result', async () => {
    const server = await startTestServer({ owner: `test-${runId()}-agent-remote`, agentSecrets: { WARDEN_ANTHROPIC_API_KEY: `${KEY}-server`, WARDEN_ANTHROPIC_BASE_URL: fakeUrl('cli') } });
    const ws = await tempWorkspace();
    try {
      // no key on the CLI's side at all
      const r = await cli(['agent', 'claude', '-w', ws.dir, '--json', '[scenario:tools] through the server'], { env: { WARDEN_HOME: home, WARDEN_URL: server.url, WARDEN_TOKEN: server.token, ANTHROPIC_API_KEY: '', WARDEN_ANTHROPIC_API_KEY: '' } });
      expect(r.code, r.stderr).toBe(0);
      const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines.map((l) => l.kind ?? 'final')).toEqual(['init', 'tool_call', 'tool_result', 'tool_call', 'tool_result', 'text', 'usage', 'result', 'final']);
      expect(lines.at(-1)).toMatchObject({ result: { success: true, status: 'succeeded' } });
      expect(await readFile(join(ws.dir, 'hello.txt'), 'utf8')).toBe('written by the agent\n');
      expect((await fake.requests()).filter((q) => q.api === 'anthropic').at(-1)!.auth).toBe(`${KEY}-server`);
      const runs = (await server.call('GET', '/api/v1/agent-runs')).body.runs;
      expect(runs[0]).toMatchObject({ agent: 'claude', status: 'succeeded', workspace: expect.stringContaining(ws.dir) });
      // Ctrl-C on the CLI cancels the run on the server
      const slow = spawn('node', ['bin/warden.js', 'agent', 'claude', '-w', ws.dir, '--json', '[scenario:slow] then cancel'], { env: { ...process.env, WARDEN_HOME: home, WARDEN_URL: server.url, WARDEN_TOKEN: server.token, WARDEN_LOG_LEVEL: 'error' }, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      slow.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('"kind":"tool_call"') && !slow.killed) slow.kill('SIGINT');
      });
      const code = await new Promise((r) => slow.once('exit', r));
      expect(code).toBe(130);
      const cancelled = (await server.call('GET', '/api/v1/agent-runs')).body.runs[0];
      expect(cancelled).toMatchObject({ status: 'cancelled' });
      // a bad agent name is the server's 400, named
      const bad = await cli(['agent', 'clod', 'hi'], { env: { WARDEN_URL: server.url, WARDEN_TOKEN: server.token } });
      expect(bad.code).not.toBe(0);
      expect(bad.stderr).toMatch(/claude, gemini or codex|clod/);
    } finally {
      await ws.cleanup();
      await server.close();
    }
  }, 120_000);
});
