import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentRunEnd, AgentRunRecorder, AgentRunStart } from '../src/agents/recorder.js';
import { cli } from './support/cli.js';
import { runId, testWarden } from './support/fixture.js';

// Issue 14: `warden agent claude -w DIR` on a root-owned DIR ran the agent as uid 1000, every write
// failed with EACCES, and the run still reported success. Now it is refused before anything is made,
// with the fix; and a run that cannot start is on record as failed, with its code.
const warden = testWarden(`test-${runId()}-agentws`);
let dir: string;
beforeAll(async () => {
  expect(process.getuid?.(), 'the suite runs as root (scripts/test.sh)').toBe(0);
  dir = await mkdtemp(join(tmpdir(), 'warden-rootws-')); // root-owned, as /srv/... on a server
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('agent runs on a root-owned workspace', () => {
  it('SDK: refused up front with the fix; the run ends failed on record; no sandbox is made', async () => {
    const starts: AgentRunStart[] = [];
    const ends: AgentRunEnd[] = [];
    const recorder: AgentRunRecorder = { recordStart: async (s) => void starts.push(s), recordEvent: async () => undefined, recordEnd: async (e) => void ends.push(e) };
    const before = (await warden.list()).length;
    const run = warden.agent('claude', { secrets: { ANTHROPIC_API_KEY: 'sk-ant-test-not-a-key' }, recorder }).run({ workspace: dir, prompt: 'write hello.txt' });
    const err = await run.result().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'PATH_REFUSED' });
    expect((err as Error).message).toMatch(/owned by root.*chown -R 1000:1000/);
    expect(starts.map((s) => s.runId)).toEqual([run.id]);
    expect(ends).toMatchObject([{ runId: run.id, status: 'failed', error: expect.stringMatching(/^PATH_REFUSED: /) }]);
    expect((await warden.list()).length).toBe(before);
  });

  it('CLI: exits non-zero with the fix on stderr, never "success"', async () => {
    const r = await cli(['agent', 'claude', '-w', dir, 'write hello.txt'], { env: { ANTHROPIC_API_KEY: 'sk-ant-test-not-a-key', WARDEN_HOME: join(dir, '.warden-home') } });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/owned by root/);
  });
});
