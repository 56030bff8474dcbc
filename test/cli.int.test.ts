import { mkdtemp, readFile, rm, writeFile, chown } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cli as runCli } from './support/cli.js';
import { runId, testWarden } from './support/fixture.js';
import { wardenImage } from '../src/images/catalog.js';

const owner = `test-${runId()}-cli`;
const warden = testWarden(owner);
const cli = (args: string[], opts: Parameters<typeof runCli>[1] = {}) => runCli(args, { ...opts, env: { WARDEN_OWNER: owner, ...opts.env } });
const made: string[] = [];
afterAll(async () => {
  await Promise.all(made.map((id) => warden.remove(id, { force: true }).catch(() => undefined)));
});

describe('warden CLI', () => {
  it('run streams output, exits with the command\'s exit code and removes the sandbox', async () => {
    const r = await cli(['run', '--', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
    expect(r).toMatchObject({ code: 3, stdout: 'out\n' });
    expect(r.stderr).toContain('err\n');
    expect(await warden.list({ owner })).toEqual([]);
  });

  it('run --json prints a summary; stdin is piped with -i', async () => {
    const r = await cli(['run', '--json', '--', 'sh', '-c', 'echo hi']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ exitCode: 0, stdout: 'hi\n', stderr: '' });
    const piped = await cli(['run', '-i', '--', 'tr', 'a-z', 'A-Z'], { input: 'shout\n' });
    expect(piped).toMatchObject({ code: 0, stdout: 'SHOUT\n' });
  });

  it('run --timeout kills the command and exits 124', async () => {
    const r = await cli(['run', '--timeout', '1s', '--', 'sh', '-c', 'echo started; sleep 30']);
    expect(r.code).toBe(124);
    expect(r.stdout).toBe('started\n');
    expect(r.stderr).toMatch(/ran past --timeout 1s/);
  });

  it('applies resource flags inside the sandbox', async () => {
    const r = await cli(['run', '--memory', '256m', '--cpus', '0.5', '--pids', '64', '-e', 'A=b', '--', 'sh', '-c', 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max; echo $A']);
    expect(r.stdout).toBe(`${256 * 1024 * 1024}\n64\nb\n`);
  });

  it('bad input: exit 125, the problem and the fix, no stack trace', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['run', '--memory', '12x', '--', 'true'], /resources.memory: '12x' is not a memory size; use a number with a unit, e.g. 512m or 2g/],
      [['run', '--workspace', '/nonexistent/dir', '--', 'true'], /workspace: '\/nonexistent\/dir' does not exist/],
      [['run', '--network', 'host', '--', 'true'], /network: Invalid option/i],
      [['run', '--image', 'nope:nope', '--', 'true'], /image 'nope:nope' is not on this engine/],
      [['exec', 'sbx-ffffffffffff', '--', 'true'], /no Warden sandbox 'sbx-ffffffffffff'/],
      [['run', '--timeout', 'soon', '--', 'true'], /--timeout 'soon' is not a duration/],
    ];
    for (const [args, msg] of cases) {
      const r = await cli(args);
      expect(r.code, args.join(' ')).toBe(125);
      expect(r.stderr).toMatch(msg);
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack
    }
  });

  it('create, exec, cp both ways, ps, stop and rm', async () => {
    const ws = await mkdtemp(join(tmpdir(), 'warden-cli-'));
    await chown(ws, 1000, 1000);
    const id = (await cli(['create', '--workspace', ws, '--name', `cli-${runId()}`])).stdout.trim();
    made.push(id);
    expect(id).toMatch(/^sbx-/);
    const src = join(tmpdir(), `warden-cp-${runId()}.txt`);
    await writeFile(src, 'copied in');
    expect((await cli(['cp', src, `${id}:/workspace/in.txt`])).code).toBe(0);
    expect((await cli(['exec', id, '--', 'cat', '/workspace/in.txt'])).stdout).toBe('copied in');
    await cli(['exec', id, '--', 'sh', '-c', 'mkdir -p /workspace/out && echo result > /workspace/out/r.txt']);
    const dst = await mkdtemp(join(tmpdir(), 'warden-cp-out-'));
    expect((await cli(['cp', `${id}:/workspace/out`, dst])).code).toBe(0);
    expect(await readFile(join(dst, 'out/r.txt'), 'utf8')).toBe('result\n');
    expect((await cli(['cp', `${id}:/workspace/out/r.txt`, join(dst, 'single.txt')])).code).toBe(0);
    expect(await readFile(join(dst, 'single.txt'), 'utf8')).toBe('result\n');

    const ps = JSON.parse((await cli(['ps', '--json'])).stdout) as Array<{ id: string; state: string }>;
    expect(ps.find((s) => s.id === id)?.state).toBe('running');
    expect((await cli(['stop', id, '--time', '1s'])).code).toBe(0);
    expect((await warden.get(id)).info.state).toBe('exited');
    expect((await cli(['rm', id])).code).toBe(0);
    expect(await warden.find(id)).toBeUndefined();
    await rm(ws, { recursive: true, force: true });
    await rm(dst, { recursive: true, force: true });
    await rm(src, { force: true });
  });

  it('doctor --json and images ls --json report the engine and images', async () => {
    const doc = JSON.parse((await cli(['doctor', '--json'])).stdout) as { ok: boolean; checks: Array<{ name: string; ok: boolean; detail: string }> };
    expect(doc.ok).toBe(true);
    expect(doc.checks.find((c) => c.name === 'engine')).toMatchObject({ ok: true, detail: expect.stringMatching(/Docker \d+/) });
    expect(doc.checks.find((c) => c.name === 'image:sandbox')?.ok).toBe(true);
    const imgs = JSON.parse((await cli(['images', 'ls', '--json'])).stdout) as Array<{ ref: string; present: boolean; hash?: string }>;
    expect(imgs.find((i) => i.ref === wardenImage('sandbox'))).toMatchObject({ present: true, hash: expect.any(String) });
    const down = await cli(['doctor', '--json'], { env: { DOCKER_HOST: 'unix:///nonexistent.sock' } });
    expect(down.code).toBe(1);
    expect(JSON.parse(down.stdout).checks[0]).toMatchObject({ name: 'engine', ok: false, hint: expect.stringContaining('dockerd') });
  });
});
