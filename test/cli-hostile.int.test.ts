import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from './support/cli.js';
import { runId, sandboxPool, testWarden } from './support/fixture.js';

// Issue 14: careless or hostile arguments to the SDK and the CLI: a coded error naming the problem and
// the fix, never a crash, a stack trace, or a silent no-op.
const warden = testWarden();
const pool = sandboxPool(warden);
let id: string;
beforeAll(async () => {
  id = (await pool.create()).id;
});
afterAll(() => pool.cleanup());

const oneLine = (stderr: string): void => {
  expect(stderr).not.toMatch(/\n\s+at /); // no stack trace
  expect(stderr.trim().split('\n')).toHaveLength(1);
};

describe('the SDK refuses hostile arguments with a code, and the program lives on', () => {
  it('ids that are no sandbox reference', async () => {
    for (const ref of ['../../etc', 'ü', 'a/b', '', 'x?y=1', '..', '\u0000']) {
      await expect(warden.get(ref), ref).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      await expect(warden.stop(ref), ref).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      await expect(warden.remove(ref), ref).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    }
    await new Promise((r) => setTimeout(r, 1500)); // the crash of the issue came ~1 s later
  });

  it("list() with the HTTP spelling `label` is an error naming `labels`, not everything", async () => {
    await expect(warden.list({ label: 'a=b' } as never)).rejects.toThrow(/labels/);
  });

  it('unknown signals are refused (SDK: sandbox and process)', async () => {
    await expect(warden.kill(id, 'SIGFOO')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    const sb = await warden.get(id);
    const p = await sb.spawn(['sleep', '30']);
    await expect(p.kill('SIGFOO')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(await p.kill('TERM')).toBeGreaterThan(0);
    await p.wait();
    expect((await sb.refreshInfo()).state).toBe('running');
  });

  it('an env value or argument over the kernel limit is INVALID_ARGUMENT naming it (SDK)', async () => {
    const sb = await warden.get(id);
    await expect(sb.exec(['true'], { env: { BIG: 'x'.repeat(200 * 1024) } })).rejects.toThrow(/BIG=\.\.\. is \d+ bytes; Linux takes at most/);
    await expect(sb.exec(['echo', 'x'.repeat(200 * 1024)])).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('writing many files into a stopped sandbox fails at once, never hangs (found by the fuzzer)', async () => {
    const sb = await pool.create({ lifetime: 'persistent' });
    await sb.stop({ timeoutMs: 1000 });
    const files = Array.from({ length: 3000 }, (_, i) => ({ path: `f${i}`, content: 'x'.repeat(1000) }));
    const r = await Promise.race([sb.writeFiles(files).catch((e: unknown) => e), new Promise((res) => setTimeout(() => res('still pending after 20 s'), 20_000).unref())]);
    expect(r).toMatchObject({ code: 'SANDBOX_NOT_RUNNING' });
  });

  it('a memory cap above the engine, or more CPUs than it has, is INVALID_SPEC before anything is made', async () => {
    const before = (await warden.list()).length;
    await expect(warden.create({ resources: { memory: '99999999g' } })).rejects.toThrow(/resources.memory: .* more than the engine has/);
    await expect(warden.create({ resources: { cpus: 250 } })).rejects.toThrow(/resources.cpus: .* more than the engine's/);
    expect((await warden.list()).length).toBe(before);
  });
});

describe('the CLI refuses with exit 125 and one line naming the fix', () => {
  it('a reader that closes the pipe early (`warden --help | head -1`) ends it quietly with 0, no stack', () => {
    const out = execFileSync('bash', ['-c', 'node bin/warden.js --help 2>/tmp/warden-epipe-$$.err | head -1; echo "rc=${PIPESTATUS[0]}"; cat /tmp/warden-epipe-$$.err; rm -f /tmp/warden-epipe-$$.err'], { encoding: 'utf8' });
    expect(out).toBe('Usage: warden [options] [command]\nrc=0\n');
  });

  it('warden stats ../../etc', async () => {
    const r = await cli(['stats', '../../etc']);
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/INVALID_ARGUMENT/);
    oneLine(r.stderr);
  });

  it('kill -s SIGFOO does nothing and says so', async () => {
    const r = await cli(['kill', '-s', 'SIGFOO', id]);
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/'SIGFOO' is not a signal/);
    expect((await warden.get(id)).info.state).toBe('running');
  });

  it('exec -e NOEQ', async () => {
    const r = await cli(['exec', '-e', 'NOEQ', id, '--', 'true']);
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/--env 'NOEQ' must be KEY=VALUE/);
  });

  it('--add-host or --allow with a network that is not allowlist', async () => {
    for (const args of [['--add-host', 'db:10.0.0.5'], ['--network', 'open', '--allow', 'example.com']]) {
      const r = await cli(['run', ...args, '--', 'true']);
      expect(r.code, args.join(' ')).toBe(125);
      expect(r.stderr).toMatch(/needs network: 'allowlist'/);
    }
  });

  it('--memory 99999999g', async () => {
    const r = await cli(['run', '--memory', '99999999g', '--', 'true']);
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/more than the engine has/);
  });

  it('up --pool with an unknown template, and up --workspace-root that does not exist, refuse to start', async () => {
    const a = await cli(['up', '--port', '0', '--pool', 'angular:2'], { env: { WARDEN_HOME: `/tmp/warden-h-${runId()}`, WARDEN_TOKEN: 'x'.repeat(20) } });
    expect(a.code).toBe(125);
    expect(a.stderr).toMatch(/no template 'angular'; known: react-vite/);
    const b = await cli(['up', '--port', '0', '--workspace-root', '/nope'], { env: { WARDEN_HOME: `/tmp/warden-h-${runId()}`, WARDEN_TOKEN: 'x'.repeat(20) } });
    expect(b.code).toBe(125);
    expect(b.stderr).toMatch(/workspace root '\/nope' does not exist/);
  });
});
