import Docker from 'dockerode';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeUrl, startFakeModels } from './support/fake-model-server.js';
import { runId, tempWorkspace } from './support/fixture.js';
import { readSse, startTestServer, type TestServer } from './support/server.js';

// Agent runs through the HTTP API: the real Claude Code CLI in a real sandbox against the fake model server.
const docker = new Docker();
const SECRET = `sk-ant-real-api-${runId()}`;
let fake: Awaited<ReturnType<typeof startFakeModels>>;
let s: TestServer;
let home: string;
let ws: { dir: string; cleanup: () => Promise<void> };
const prevHome = process.env.WARDEN_HOME;

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'warden-api-agents-'));
  process.env.WARDEN_HOME = home; // the CLI state dirs of these runs
  fake = await startFakeModels(docker, 'api');
  s = await startTestServer({ owner: `test-${runId()}-api-agents`, agentSecrets: { WARDEN_ANTHROPIC_API_KEY: SECRET, WARDEN_ANTHROPIC_BASE_URL: fakeUrl('api') } });
  ws = await tempWorkspace();
}, 180_000);
afterAll(async () => {
  await s?.close();
  await fake?.stop();
  await ws?.cleanup();
  if (home) await rm(home, { recursive: true, force: true });
  process.env.WARDEN_HOME = prevHome;
});

describe('HTTP API: agent runs', () => {
  it('starts a run (202), streams its typed events then the result over SSE, and keeps the audit in SQLite', async () => {
    const start = await s.call('POST', '/api/v1/agents/claude/runs', { workspace: ws.dir, prompt: '[scenario:tools] api: write the file, run the command, report', timeoutMs: 120_000 });
    expect(start.status, JSON.stringify(start.body)).toBe(202);
    const runId_ = start.body.run.id;
    const res = await fetch(`${s.url}/api/v1/agent-runs/${runId_}/events`, { headers: { authorization: `Bearer ${s.token}` } });
    const frames = await readSse(res);
    const events = frames.filter(([e]) => e === 'event').map(([, d]) => d);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i));
    const kinds = events.map((e) => e.kind);
    expect(kinds).toContain('tool_call');
    expect(kinds.indexOf('tool_call')).toBeLessThan(kinds.lastIndexOf('result'));
    const [last, result] = frames.at(-1)!;
    expect(last).toBe('result');
    expect(result).toMatchObject({ success: true, status: 'succeeded', exitCode: 0 });
    expect(await readFile(join(ws.dir, 'hello.txt'), 'utf8')).toContain('written by the agent');
    const rec = await s.call('GET', `/api/v1/agent-runs/${runId_}`);
    expect(rec.body.run).toMatchObject({ runId: runId_, agent: 'claude', status: 'succeeded', exitCode: 0 });
    expect(Object.values(rec.body.run.toolCalls as Record<string, number>).reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(2);
    expect(rec.body.events.some((e: any) => e.kind === 'tool_call')).toBe(true);
    expect(JSON.stringify(rec.body)).not.toContain(SECRET);
    const list = await s.call('GET', '/api/v1/agent-runs');
    expect(list.body.runs[0].runId).toBe(runId_);
  }, 180_000);

  it('cancel over HTTP ends the run as cancelled; bad input is a 400 naming the field', async () => {
    const start = await s.call('POST', '/api/v1/agents/claude/runs', { workspace: ws.dir, prompt: '[scenario:slow] run the long command', timeoutMs: 120_000 });
    const id = start.body.run.id;
    const res = await fetch(`${s.url}/api/v1/agent-runs/${id}/events`, { headers: { authorization: `Bearer ${s.token}` } });
    let cancelled: Promise<any> | undefined;
    const frames = await readSse(res, (ev, d) => {
      if (ev === 'event' && d.kind === 'tool_call' && !cancelled) cancelled = s.call('POST', `/api/v1/agent-runs/${id}/cancel`);
    });
    const c = await cancelled!;
    expect(c.body.cancelled).toBe(true);
    expect(frames.at(-1)![1]).toMatchObject({ status: 'cancelled', success: false });
    const bad = await s.call('POST', '/api/v1/agents/claude/runs', { workspace: ws.dir });
    expect(bad.status).toBe(400);
    expect(bad.body.error.issues.map((i: any) => i.path)).toContain('body.prompt');
    expect((await s.call('POST', '/api/v1/agents/cursor/runs', { prompt: 'x' })).status).toBe(400);
  }, 180_000);
});
