import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { cli as runCli } from './support/cli.js';
import { runId, tempWorkspace, testWarden } from './support/fixture.js';

// The CLI answering as docker does: logs, inspect, id prefixes, rm past unknown ids, stats of all,
// 127 for a missing command, completion scripts, progress lines.
const owner = `test-${runId()}-dcli`;
const warden = testWarden(owner);
const cli = (args: string[], opts: Parameters<typeof runCli>[1] = {}) => runCli(args, { ...opts, env: { WARDEN_OWNER: owner, ...opts.env } });
const made: string[] = [];
const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  await Promise.all(made.map((id) => warden.remove(id, { force: true }).catch(() => undefined)));
  for (const c of cleanups) await c();
});

async function create(...flags: string[]): Promise<string> {
  const r = await cli(['create', ...flags], { env: { WARDEN_GITHUB_TOKEN: `ghp-test-${runId()}` } });
  expect(r.code, r.stderr).toBe(0);
  const id = r.stdout.trim();
  made.push(id);
  return id;
}

describe('docker-grade CLI', () => {
  it('logs -f follows the sandbox log until it stops, with the keeper\'s reason; --tail', async () => {
    const ws = await tempWorkspace();
    cleanups.push(ws.cleanup);
    const id = await create('-w', ws.dir, '--disk', '1m');
    const follow = cli(['logs', '-f', id]);
    await writeFile(`${ws.dir}/big.bin`, Buffer.alloc(3 * 1024 * 1024));
    const r = await follow; // ends by itself: the disk watcher stops the sandbox
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/warden: stopped: the workspace holds \d+ KiB, over its disk quota of 1024 KiB/);
    const tail = await cli(['logs', '--tail', '1', id]);
    expect(tail.stdout.trim().split('\n')).toHaveLength(1);
    expect((await cli(['logs', '--tail', 'x', id])).stderr).toMatch(/--tail 'x' is not a number/);
  });

  it('logs shows background processes\' output too, and -f follows it until the sandbox stops', async () => {
    const id = await create();
    const sb = await warden.get(id);
    await sb.startBackground(['sh', '-c', 'echo bg-line-1; exec sleep 1000']);
    const until = Date.now() + 20_000;
    let r = await cli(['logs', id]);
    while (!r.stdout.includes('bg-line-1') && Date.now() < until) r = await cli(['logs', id]);
    expect(r.stdout).toMatch(/==> \/tmp\/warden-background\.log <==\nbg-line-1/);
    let followed = '';
    const follow = cli(['logs', '-f', '--tail', '5', id], { onStdout: (s) => (followed = s) });
    // the follower shows what is there once it follows (under load the CLI takes a while to get there):
    // only a line written after that tests the following
    await vi.waitFor(() => expect(followed).toContain('bg-line-1'), { timeout: 60_000, interval: 50 });
    const marker = `bg-line-2-${Date.now()}`;
    await sb.exec(['sh', '-c', `echo ${marker} >> /tmp/warden-background.log`]);
    await vi.waitFor(() => expect(followed).toContain(marker), { timeout: 30_000, interval: 50 });
    await sb.stop({ timeoutMs: 2_000 });
    const f = await follow;
    expect(f.code).toBe(0);
    expect(f.stdout).toContain(marker);
  });

  it('inspect: JSON array with spec, limits, policy, mounts, labels; --format; unique prefixes; ambiguity named', async () => {
    const id = await create('--memory', '256m', '--cpus', '0.5', '--network', 'allowlist', '--allow', 'example.test', '--credentials', 'github', '--max-runtime', '1h');
    const r = await cli(['inspect', id]);
    expect(r.code, r.stderr).toBe(0);
    const [v] = JSON.parse(r.stdout) as Array<Record<string, any>>;
    expect(v).toMatchObject({ ID: id, State: 'running', Owner: owner, Limits: { memory: 268435456, cpus: 0.5 }, MaxRuntime: 3600000, Network: { mode: 'allowlist', egress: { allow: ['example.test'], credentials: ['github'] } } });
    expect(v?.Labels['warden.owner']).toBe(owner);
    const fmt = await cli(['inspect', '--format', '{{.State}} {{.Limits.memory}} {{index .Labels "warden.owner"}}', id.slice(0, 9)]);
    expect(fmt.stdout).toBe(`running 268435456 ${owner}\n`);
    // the hex part alone works too, as with docker ids
    expect((await cli(['inspect', '-f', '{{.ID}}', id.slice(4, 12)])).stdout).toBe(`${id}\n`);
    const amb = await cli(['inspect', 'sbx-']);
    expect(amb.code).toBe(1);
    expect(amb.stderr).toMatch(/'sbx-' is the start of \d+ sandbox ids/);
    expect((await cli(['inspect', '--format', '{{range .X}}', id])).stderr).toMatch(/not understood/);
  });

  it('rm goes on past unknown ids, reports each, exits 1; stop and kill alike', async () => {
    const a = await create();
    const b = await create();
    const r = await cli(['rm', '-f', 'no-such-1', a, 'no-such-2', b]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(`${a}\n${b}\n`);
    expect(r.stderr).toMatch(/no-such-1[\s\S]*no-such-2/);
    expect(await warden.find(a)).toBeUndefined();
    expect(await warden.find(b)).toBeUndefined();
    const k = await cli(['kill', 'no-such-3']);
    expect(k.code).toBe(1);
  });

  it('stats with no id shows every running sandbox', async () => {
    const a = await create();
    const b = await create();
    const r = await cli(['stats', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const ids = (JSON.parse(r.stdout) as Array<{ id: string; stats?: { pids?: number } }>).map((x) => x.id);
    expect(ids).toEqual(expect.arrayContaining([a, b]));
    const table = await cli(['stats']);
    expect(table.stdout).toMatch(/^ID\s+NAME\s+CPU %\s+MEM USAGE \/ LIMIT/);
  });

  it('a missing command exits 127 with the reason on stderr (not the runtime\'s text on stdout); not executable: 126', async () => {
    const id = await create();
    const r = await cli(['exec', id, '--', 'no-such-command-xyz']);
    expect(r).toMatchObject({ code: 127, stdout: '' });
    expect(r.stderr).toBe('warden: no-such-command-xyz: command not found\n');
    const x = await cli(['exec', id, '--', '/etc/passwd']);
    expect(x.code).toBe(126);
    expect(x.stderr).toMatch(/permission denied/);
    const run = await cli(['run', '--', 'no-such-command-xyz']);
    expect(run.code).toBe(127);
  });

  it('stop says what it waits for when processes take their time', async () => {
    const id = await create();
    await cli(['exec', id, '--', 'sh', '-c', "nohup sh -c 'trap \"sleep 3; exit 0\" TERM; while :; do sleep 1; done' >/dev/null 2>&1 &"]);
    const r = await cli(['stop', '-t', '20s', id]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/waiting for \d+ process(es)? to exit/);
  });

  it('create --template says it waits for the dev server', async () => {
    const r = await cli(['create', '--template', 'react-vite']);
    made.push(r.stdout.trim());
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/waiting for the react-vite dev server on port 3001/);
    // the dev server's own output is part of the sandbox's logs
    expect((await cli(['logs', r.stdout.trim()])).stdout).toMatch(/==> \/tmp\/warden-dev-server\.log <==[\s\S]*VITE/);
  }, 120_000);

  it('completion scripts for bash, zsh and fish come from the command tree; bash completes commands and flags', async () => {
    const bash = await cli(['completion', 'bash']);
    expect(bash.code).toBe(0);
    for (const c of ['exec', 'shell', 'logs', 'inspect', 'completion']) expect(bash.stdout).toContain(c);
    const words = async (line: string): Promise<string[]> => {
      const parts = line.split(' ');
      const script = `${bash.stdout}\nCOMP_WORDS=(${parts.map((p) => `'${p}'`).join(' ')}); COMP_CWORD=${parts.length - 1}; _warden; printf '%s\\n' "\${COMPREPLY[@]}"`;
      return (await promisify(execFile)('bash', ['-c', script])).stdout.trim().split('\n');
    };
    expect(await words('warden in')).toEqual(['inspect']);
    expect(await words('warden exec --t')).toEqual(expect.arrayContaining(['--timeout', '--tty']));
    expect(await words('warden images b')).toEqual(expect.arrayContaining(['build', 'bootstrap']));
    const sh = promisify(execFile);
    const zsh = (await cli(['completion', 'zsh'])).stdout;
    expect(zsh).toMatch(/^#compdef warden/);
    await sh('zsh', ['-n', '-c', zsh]); // valid zsh
    await sh('zsh', ['-c', `autoload -U compinit; compinit -u; ${zsh}`]); // and it loads
    const fish = (await cli(['completion', 'fish'])).stdout;
    const fishSays = (await sh('fish', ['-c', `${fish}\ncomplete -C 'warden ins'; complete -C 'warden exec --t'`])).stdout;
    expect(fishSays).toMatch(/^inspect\t/m);
    expect(fishSays).toMatch(/^--tty\t/m);
    expect((await cli(['completion', 'tcsh'])).stderr).toMatch(/choose bash, zsh or fish/);
  });

  it('--version prints the package version', async () => {
    const r = await cli(['--version']);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });
});
