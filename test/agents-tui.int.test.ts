import Docker from 'dockerode';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeUrl, startFakeModels } from './support/fake-model-server.js';
import { runId, tempWorkspace } from './support/fixture.js';
import { TmuxTerminal } from './support/tmux.js';
import { startTestServer, type TestServer } from './support/server.js';
import type { Browser } from 'playwright-core';
import { dashboardStreams, launchChromium, steadyPage } from './support/browser.js';

// The agents' own interactive TUIs (real Claude Code, Gemini CLI, Codex CLI in the warden-agents image),
// opened by `warden agent NAME -w DIR` with no prompt in a real terminal (tmux), keyless through the egress
// proxy, against the fake model provider on the egress network. Never the real APIs.
const docker = new Docker();
let fake: Awaited<ReturnType<typeof startFakeModels>>;
let home: string;
const cleanups: Array<() => Promise<void>> = [];
const terms: TmuxTerminal[] = [];

function secrets(): Record<string, string> {
  const url = fakeUrl('tui');
  return {
    WARDEN_ANTHROPIC_API_KEY: `sk-ant-real-${runId()}`,
    WARDEN_ANTHROPIC_BASE_URL: url,
    WARDEN_OPENAI_API_KEY: `sk-openai-real-${runId()}`,
    WARDEN_OPENAI_BASE_URL: url,
    WARDEN_GEMINI_API_KEY: `gemini-real-${runId()}`,
    WARDEN_GEMINI_BASE_URL: url,
  };
}

function env(): Record<string, string> {
  const url = fakeUrl('tui');
  return {
    WARDEN_HOME: home,
    WARDEN_ANTHROPIC_API_KEY: `sk-ant-real-${runId()}`,
    WARDEN_ANTHROPIC_BASE_URL: url,
    WARDEN_OPENAI_API_KEY: `sk-openai-real-${runId()}`,
    WARDEN_OPENAI_BASE_URL: url,
    WARDEN_GEMINI_API_KEY: `gemini-real-${runId()}`,
    WARDEN_GEMINI_BASE_URL: url,
  };
}

async function terminal(name: string): Promise<TmuxTerminal> {
  const t = await TmuxTerminal.open(name, { cols: 140, rows: 45, env: env() });
  terms.push(t);
  return t;
}

async function workspace(): Promise<string> {
  const ws = await tempWorkspace();
  cleanups.push(ws.cleanup);
  return ws.dir;
}

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'warden-tui-home-'));
  fake = await startFakeModels(docker, 'tui');
});

afterAll(async () => {
  await Promise.all(terms.map((t) => t.close()));
  await fake?.stop();
  for (const c of cleanups) await c().catch(() => undefined);
  if (home) await rm(home, { recursive: true, force: true });
});

describe('interactive agent TUIs through warden agent NAME -w DIR', () => {
  it('claude: lands at the prompt, a typed prompt makes the files appear in the workspace, the session is kept', async () => {
    const dir = await workspace();
    const t = await terminal('claude');
    await t.type(`node bin/warden.js agent claude -w ${dir}; echo "[agent exited $?]"`);
    // the prompt box, with no theme, trust, API key or bypass-permissions question before it
    await t.waitFor(/bypass permissions on/i, 90_000);
    const screen = await t.screen();
    expect(screen).not.toMatch(/Choose the text style|Do you trust|Do you want to use this API key|Yes, I accept/i);
    await t.keys('-l', '[scenario:tools] write the hello file');
    await t.waitFor(/❯\s*\[scenario:tools\] write the hello file/); // Enter apart from the text, or it reads as a paste
    await t.keys('Enter');
    const until = Date.now() + 90_000;
    // the shell tool's redirection makes the file before it writes the line: wait for the content
    const shellRan = async (): Promise<boolean> => existsSync(join(dir, 'shell.txt')) && (await readFile(join(dir, 'shell.txt'), 'utf8')) === 'shell-ran\n';
    while (!(await shellRan()) && Date.now() < until) await t.waitFor(/.*/);
    expect(await readFile(join(dir, 'hello.txt'), 'utf8')).toBe('written by the agent\n');
    expect(await readFile(join(dir, 'shell.txt'), 'utf8')).toBe('shell-ran\n');
    await t.waitFor(/Done: wrote \/workspace\/hello\.txt/, 60_000);
    // the keyless proxy put the real key on the wire; the sandbox never saw it
    const reqs = (await fake.requests()).filter((r) => r.api === 'anthropic');
    expect(reqs.length).toBeGreaterThan(0);
    expect(reqs.every((r) => r.auth?.includes(`sk-ant-real-${runId()}`))).toBe(true);
    await t.keys('-l', '/exit');
    await t.waitFor(/❯\s*\/exit/);
    await t.keys('Enter');
    await t.waitFor(/\[agent exited 0\]/, 60_000);
    await t.waitFor(/session kept; resume it with: warden agent claude -w \S+ --resume [0-9a-f-]{36}/);
  }, 300_000);

  it.each(['gemini', 'codex'])('%s: reaches its prompt with no first-run screen', async (agent) => {
    const dir = await workspace();
    const t = await terminal(agent);
    await t.type(`node bin/warden.js agent ${agent} -w ${dir}; echo "[agent exited $?]"`);
    const ready = agent === 'gemini' ? /Type your message|YOLO mode/i : /To get started, describe a task|Ask Codex to do anything|context left/i;
    await t.waitFor(ready, 90_000);
    const screen = await t.screen();
    expect(screen).not.toMatch(/trust (this|the files in this) folder|Sign in with|Select Theme|Get started/i);
    if (agent === 'gemini') {
      // A /quit typed while Gemini still initializes is queued as a prompt for the model (it says so) and
      // later ones pile up in its input box; this test is about reaching the prompt, so the sandbox is
      // killed from outside instead, and the CLI must end with it.
      const [c] = await new Docker().listContainers({ filters: { label: ['warden.managed=true'], volume: [dir] } });
      expect(c, 'the agent sandbox, found by its workspace mount').toBeDefined();
      await new Docker().getContainer(c!.Id).kill();
    } else {
      await t.keys('C-c');
      await t.keys('C-c');
    }
    await t.waitFor(/\[agent exited \d+\]/, 60_000);
  }, 240_000);
});

describe('interactive agents through a server', () => {
  let server: TestServer;
  let browser: Browser;
  beforeAll(async () => {
    process.env.WARDEN_HOME = home; // the server's agent state dirs
    server = await startTestServer({ owner: `test-${runId()}-tui-srv`, agentSecrets: secrets() });
    browser = await launchChromium();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('warden agent claude with WARDEN_URL: the TUI runs on the server, this terminal attaches, the files appear', async () => {
    const dir = await workspace();
    const t = await TmuxTerminal.open('claude-srv', { cols: 140, rows: 45, env: { WARDEN_URL: server.url, WARDEN_TOKEN: server.token } });
    terms.push(t);
    await t.type(`node bin/warden.js agent claude -w ${dir}; echo "[agent exited $?]"`);
    await t.waitFor(/bypass permissions on/i, 90_000);
    await t.keys('-l', '[scenario:tools] write the hello file');
    await t.waitFor(/❯\s*\[scenario:tools\] write the hello file/); // Enter apart from the text, or it reads as a paste
    await t.keys('Enter');
    await t.waitFor(/Done: wrote \/workspace\/hello\.txt/, 90_000);
    expect(await readFile(join(dir, 'hello.txt'), 'utf8')).toBe('written by the agent\n');
    await t.keys('-l', '/exit');
    await t.waitFor(/❯\s*\/exit/);
    await t.keys('Enter');
    await t.waitFor(/\[agent exited 0\]/, 60_000);
  }, 300_000);

  it('the dashboard opens the claude TUI in its terminal tab; a prompt typed there writes the files', async () => {
    const dir = await workspace();
    const page = await steadyPage(browser, { passThrough: dashboardStreams, viewport: { width: 1400, height: 1000 } });
    await page.goto(`${server.url}/#/agent-runs`);
    await page.getByTestId('token').fill(server.token);
    await page.getByTestId('login').click();
    await page.getByTestId('agent-open').waitFor();
    await page.getByTestId('agent-name').selectOption('claude');
    await page.getByTestId('agent-workspace').fill(dir);
    await page.getByTestId('agent-start').click();
    await page.locator('#term .xterm-rows').waitFor({ timeout: 90_000 });
    const screen = () => page.locator('#term .xterm-rows').innerText();
    await expect.poll(screen, { timeout: 90_000 }).toMatch(/bypass permissions on/i);
    await page.locator('#term').click();
    await page.keyboard.type('[scenario:tools] write the hello file');
    // keys that arrive in one burst with Enter read as a paste (Enter becomes a newline), as they would
    // for a person pasting: Enter goes once the TUI shows the text
    await expect.poll(screen, { timeout: 30_000 }).toMatch(/write the hello file/);
    await page.keyboard.press('Enter');
    await expect.poll(() => readFile(join(dir, 'shell.txt'), 'utf8').catch(() => ''), { timeout: 90_000 }).toBe('shell-ran\n').catch(async (err: unknown) => {
      await page.screenshot({ path: '/tmp/h15-dash-tui.png' });
      throw err;
    });
    expect(await readFile(join(dir, 'hello.txt'), 'utf8')).toBe('written by the agent\n');
    await expect.poll(screen, { timeout: 60_000 }).toMatch(/Done: wrote/);
    await page.keyboard.type('/exit');
    await expect.poll(screen, { timeout: 30_000 }).toMatch(/❯\s*\/exit/);
    await page.keyboard.press('Enter');
    await expect.poll(() => page.getByTestId('term-status').textContent(), { timeout: 60_000 }).toMatch(/exited with code 0/);
  }, 300_000);
});
