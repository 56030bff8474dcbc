import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { lstat, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseAgentsConfig } from '../../src/agents/config.js';
import { JsonlRunRecorder } from '../../src/agents/recorder.js';
import { createLogger } from '../../src/log.js';
import { Warden } from '../../src/sandbox/warden.js';
import { KubernetesRuntime } from '../../src/runtime/kubernetes/kubernetes-runtime.js';
import { TmuxTerminal } from '../support/tmux.js';
import { hardenedPod, kubeClient, kubeRunId, kubeSkipReason, listUnitObjects, runPod, testNamespace } from './support/kube.js';
import { eventually, KUBE_TEST_INSTANCE, testRuntime } from './support/runtime.js';

/**
 * Claude Code (the real CLI, Warden's agents image) in a pod, keyless: the sandbox pod holds only a
 * placeholder key, its egress proxy pod adds the real one on the way to the fake model provider, a pod
 * of this test's namespace under a real-looking name. A host workspace and the CLI's state dir cannot
 * be mounted into a pod: they are carried in by copy and the agent's changes carried back after the
 * run, so the host sees the files the agent wrote and a later run (another pod) resumes the session.
 */
const skip = kubeSkipReason();
const FAKE = readFileSync(new URL('../support/fake-models.mjs', import.meta.url), 'utf8');

describe.skipIf(skip)(`Claude Code in a pod, keyless, against a fake model provider${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const SECRET = `sk-ant-real-${randomBytes(6).toString('hex')}`;
  const host = `api-${randomBytes(3).toString('hex')}.fake-model.test`;
  let namespace: string;
  let fakePod: string;
  let fakeIp: string;
  let home: string;
  let warden: Warden;
  let rt: KubernetesRuntime;
  const dirs: string[] = [];

  const requests = async (): Promise<Array<{ api: string; auth: string | null; prompts?: string[] }>> => {
    const log = String(await kubeClient().core.readNamespacedPodLog({ name: fakePod, namespace, container: 'main' }));
    return log
      .split('\n')
      .map((l) => l.slice(l.indexOf('{')))
      .filter((l) => l.startsWith('{"fake"'))
      .map((l) => (JSON.parse(l) as { fake: { api: string; auth: string | null; prompts?: string[] } }).fake);
  };
  const agent = () =>
    warden.agent('claude', {
      secrets: { WARDEN_ANTHROPIC_API_KEY: SECRET, WARDEN_ANTHROPIC_BASE_URL: `http://${host}:8080` },
      config: parseAgentsConfig({}),
      recorder: new JsonlRunRecorder(join(home, 'runs.jsonl')),
      hostHome: home,
      cancelGraceMs: 2_000,
    });
  /** The run's policy: the fake provider's name resolves to its pod for the unit's proxy only. */
  const policy = () => ({ egress: { addHosts: { [host]: fakeIp } }, resources: { memory: '1g', cpus: 1 } });
  const workspace = async (): Promise<string> => {
    const dir = await mkdtemp(join(tmpdir(), 'warden-kube-agent-ws-'));
    dirs.push(dir);
    const git = (...args: string[]) => execFileSync('git', ['-C', dir, '-c', 'safe.directory=*', '-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { stdio: 'ignore' });
    git('init', '-q');
    await writeFile(join(dir, 'README.md'), 'base\n');
    git('add', '.');
    git('commit', '-qm', 'base');
    if (process.getuid?.() === 0) execFileSync('chown', ['-R', '1000:1000', dir]);
    return dir;
  };

  beforeAll(async () => {
    const { kc, core } = kubeClient();
    namespace = await testNamespace(kc, 'agents');
    home = await mkdtemp(join(tmpdir(), 'warden-kube-agents-home-'));
    process.env.WARDEN_HOME = home; // the state dirs of this file's runs
    await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'fake-models' }, data: { 'fake-models.mjs': FAKE } } });
    fakePod = `fake-models-${randomBytes(3).toString('hex')}`;
    const pod = await runPod(
      kc,
      namespace,
      hardenedPod(fakePod, {
        image: `warden-agents:${inject('kubeImageTag')}`,
        command: ['node', '/fake/fake-models.mjs'],
        limits: { memory: '256Mi' },
        volumes: [{ volume: { name: 'fake', configMap: { name: 'fake-models' } }, mountPath: '/fake' }],
        container: { readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 } },
      }),
      180_000,
    );
    fakeIp = pod.status?.podIP ?? '';
    rt = testRuntime(namespace);
    warden = new Warden({ runtime: rt, owner: `kube-agents-${randomBytes(3).toString('hex')}`, logger: createLogger('error'), labels: { 'warden.instance': KUBE_TEST_INSTANCE }, egress: { secrets: { WARDEN_ANTHROPIC_API_KEY: SECRET, WARDEN_ANTHROPIC_BASE_URL: `http://${host}:8080` } } });
  }, 240_000);

  afterAll(async () => {
    await warden?.shutdown();
    await rt?.close();
    await kubeClient().core.deleteNamespace({ name: namespace }).catch(() => undefined);
    for (const d of dirs) await rm(d, { recursive: true, force: true });
    if (home) await rm(home, { recursive: true, force: true });
  });

  it('writes files into the host workspace through the pod, runs its shell tool as the sandbox user, answers; the real key stays with the proxy; nothing is left', async () => {
    const ws = await workspace();
    const before = (await requests()).length;
    const t0 = Date.now();
    const run = agent().run({ workspace: ws, prompt: '[scenario:tools] claude: write the file, run the command, report', policy: policy(), timeoutMs: 180_000 });
    const kinds: string[] = [];
    for await (const e of run) kinds.push(e.kind);
    const r = await run.result();
    console.log(`[kube agents] claude tools run in a pod: ${Date.now() - t0} ms (CLI ${r.durationMs} ms), ${kinds.length} events`);
    expect(r.success, `${r.text}\n${r.stderrTail}`).toBe(true);
    expect(r.text).toContain('Done: wrote /workspace/hello.txt');
    expect(kinds).toEqual(expect.arrayContaining(['init', 'tool_call', 'tool_result', 'result']));
    // the agent's files came back to the host, its owner's; what it left alone is as it was
    expect(await readFile(join(ws, 'hello.txt'), 'utf8')).toContain('written by the agent');
    expect(await readFile(join(ws, 'shell.txt'), 'utf8')).toBe('shell-ran\n');
    expect(await readFile(join(ws, 'README.md'), 'utf8')).toBe('base\n');
    const st = await stat(join(ws, 'hello.txt'));
    expect([st.uid, st.gid]).toEqual(process.getuid?.() === 0 ? [1000, 1000] : [st.uid, st.gid]);
    expect(r.filesChanged).toContain('hello.txt');
    // the shell tool ran as the pod's unprivileged user
    expect(JSON.stringify(run.eventsSoFar.filter((e) => e.kind === 'tool_result'))).toContain('1000');
    // upstream saw the real key, added by the unit's proxy pod
    const seen = (await requests()).slice(before).filter((q) => q.api === 'anthropic');
    expect(seen.length).toBeGreaterThanOrEqual(3);
    for (const q of seen) expect(q.auth).toContain(SECRET);
    // the run's pod, its proxy pod and every companion are gone with it
    await eventually('the run unit removed', async () => ((await listUnitObjects(namespace, KubernetesRuntime.unitSelector(r.sandboxId))).length === 0 ? true : undefined), 120_000);
  }, 300_000);

  it('resumes the conversation in a new pod: the state dir goes in and comes back; the key never enters a pod', async () => {
    const first = await agent().run({ stateKey: 'kube-resume', prompt: 'first prompt: remember alpha', policy: policy(), timeoutMs: 180_000 }).result();
    expect(first.success, `${first.text}\n${first.stderrTail}`).toBe(true);
    expect(first.sessionId).toBeDefined();
    // the session is on the host now, out of the first pod (which is gone)
    expect(execFileSync('find', [join(home, 'agents', 'state', 'kube-resume'), '-name', '*.jsonl'], { encoding: 'utf8' })).toContain(first.sessionId!);
    const session = agent().session({ stateKey: 'kube-resume', policy: policy() });
    try {
      const second = await session.run({ prompt: 'second prompt: what came before?', sessionId: first.sessionId!, timeoutMs: 180_000 }).result();
      expect(second.success, `${second.text}\n${second.stderrTail}`).toBe(true);
      expect(second.sandboxId).not.toBe(first.sandboxId);
      // the fake model answers with every user prompt it got: the first turn came along with --resume
      expect(second.text).toContain('first prompt: remember alpha');
      expect(second.text).toContain('second prompt: what came before?');
      // keyless: the real key is nowhere in the pod (env of every process, files)
      const inside = await session.sandbox!.exec(['sh', '-c', 'env; cat /proc/*/environ 2>/dev/null | tr "\\0" "\\n"; grep -rs . /home/agent /tmp /workspace 2>/dev/null | head -2000']);
      expect(inside.stdout).toContain('warden-placeholder-key');
      expect(inside.stdout).not.toContain(SECRET);
    } finally {
      await session.close({ keepState: false });
    }
  }, 400_000);

  it('a hostile workload cannot reach past the workspace on the way back: no link made or followed on the host, and the run says it failed', async () => {
    const ws = await workspace();
    const victim = await mkdtemp(join(tmpdir(), 'warden-kube-agent-victim-'));
    dirs.push(victim);
    await writeFile(join(victim, 'secret'), 'keep\n');
    await symlink(victim, join(ws, 'docs')); // the user's own link: never copied in, never written through
    const session = agent().session({ workspace: ws, stateKey: 'kube-hostile', policy: policy() });
    try {
      const first = await session.run({ prompt: 'first' , timeoutMs: 180_000 }).result();
      expect(first.success, `${first.text}\n${first.stderrTail}`).toBe(true);
      // the workload plants links and a tree under the name of the host's link
      const planted = await session.sandbox!.exec(['sh', '-c', 'ln -s /etc/passwd /workspace/evil && ln -s / /workspace/root && mkdir -p /workspace/docs && echo pwned > /workspace/docs/secret && echo ok']);
      expect(planted.stdout).toBe('ok\n');
      const second = await session.run({ prompt: 'second', timeoutMs: 180_000 }).result();
      expect(second.success).toBe(false);
      expect(second.status).toBe('failed');
      expect(second.text).toMatch(/did not reach the host: could not copy the workspace back .*symbolic link/);
      expect(await readFile(join(victim, 'secret'), 'utf8')).toBe('keep\n');
      expect((await lstat(join(ws, 'docs'))).isSymbolicLink()).toBe(true);
      await expect(lstat(join(ws, 'evil'))).rejects.toMatchObject({ code: 'ENOENT' });
      await expect(lstat(join(ws, 'root'))).rejects.toMatchObject({ code: 'ENOENT' });
    } finally {
      await session.close({ keepState: false });
    }
  }, 400_000);

  it("the claude TUI through `warden agent claude -w DIR` with WARDEN_RUNTIME=kubernetes: a typed prompt's files reach the host when it exits, the session is kept", async () => {
    const ws = await workspace();
    const t = await TmuxTerminal.open('kube-claude', {
      cols: 140,
      rows: 45,
      run: kubeRunId(),
      env: {
        WARDEN_RUNTIME: 'kubernetes',
        KUBECONFIG: inject('kubeconfig'),
        WARDEN_KUBE_NAMESPACE: namespace,
        WARDEN_KUBE_CREATE_NAMESPACE: '0',
        WARDEN_INSTANCE: KUBE_TEST_INSTANCE,
        WARDEN_IMAGE_TAG: inject('kubeImageTag'),
        WARDEN_HOME: home,
        WARDEN_ANTHROPIC_API_KEY: SECRET,
        WARDEN_ANTHROPIC_BASE_URL: `http://${host}:8080`,
      },
    });
    try {
      await t.type(`node bin/warden.js agent claude -w ${ws} --add-host ${host}:${fakeIp}; echo "[agent exited $?]"`);
      // the prompt box, with no theme, trust, API key or bypass-permissions question before it
      await t.waitFor(/bypass permissions on/i, 180_000);
      expect(await t.screen()).not.toMatch(/Choose the text style|Do you trust|Do you want to use this API key|Yes, I accept/i);
      await t.keys('-l', '[scenario:tools] write the hello file');
      await t.waitFor(/❯\s*\[scenario:tools\] write the hello file/); // Enter apart from the text, or it reads as a paste
      await t.keys('Enter');
      await t.waitFor(/Done: wrote \/workspace\/hello\.txt/, 120_000);
      await t.keys('-l', '/exit');
      await t.waitFor(/❯\s*\/exit/);
      await t.keys('Enter');
      await t.waitFor(/\[agent exited 0\]/, 90_000);
      // the state dir came back too: the CLI found the session in it
      await t.waitFor(/session kept; resume it with: warden agent claude -w \S+ --resume [0-9a-f-]{36}/);
      expect(await readFile(join(ws, 'hello.txt'), 'utf8')).toBe('written by the agent\n');
      expect(await readFile(join(ws, 'shell.txt'), 'utf8')).toBe('shell-ran\n');
    } finally {
      await t.close();
    }
  }, 400_000);
});
