import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExecTimeoutError, WardenError } from '../src/errors.js';
import type { Sandbox } from '../src/sandbox/sandbox.js';
import { sandboxPool, testWarden } from './support/fixture.js';
import { engineOf } from './support/engine.js';

const warden = testWarden();
const pool = sandboxPool(warden);
let sb: Sandbox;

/** Processes in the sandbox whose command line matches (as seen by a fresh exec). */
async function running(pattern: string): Promise<string[]> {
  const r = await sb.exec(['ps', '-eo', 'pid,args']);
  return r.stdout
    .split('\n')
    .map((l) => l.trim().replace(/^\d+\s+/, ''))
    .filter((args) => args.startsWith(pattern));
}

beforeAll(async () => {
  sb = await pool.create({ resources: { memory: '1g' } });
});
afterAll(() => pool.cleanup());

describe('exec (buffered)', () => {
  it('returns exit code, stdout and stderr apart', async () => {
    const r = await sb.exec(['sh', '-c', 'echo out; echo err >&2; exit 3']);
    expect(r).toMatchObject({ exitCode: 3, stdout: 'out\n', stderr: 'err\n' });
    expect(r.durationMs).toBeGreaterThan(0);
  });

  it('honours cwd, env and user', async () => {
    const r = await sb.exec(['sh', '-c', 'pwd; echo $GREETING; id -u'], { cwd: '/tmp', env: { GREETING: 'hi' } });
    expect(r.stdout).toBe('/tmp\nhi\n1000\n');
    expect((await sb.exec(['id', '-u'], { user: '1234' })).stdout).toBe('1234\n');
  });

  it('feeds stdin and closes it', async () => {
    const r = await sb.exec(['sh', '-c', 'cat; echo "[eof]"'], { stdin: 'line1\nline2\n' });
    expect(r.stdout).toBe('line1\nline2\n[eof]\n');
  });

  it('refuses a command that is not an argv array', async () => {
    await expect(sb.exec('ls -la' as unknown as string[])).rejects.toThrow(/array of strings/);
    await expect(sb.exec([])).rejects.toThrow(/non-empty/);
  });

  it('returns 100 MB of output whole, stdout and stderr apart even when interleaved', async () => {
    const r = await sb.exec(['sh', '-c', '(yes out | head -c 52428800) & (yes err | head -c 52428800 >&2) & wait'], { timeoutMs: 120_000 });
    expect(r.exitCode).toBe(0);
    expect(r.stdout.length).toBe(52428800);
    expect(r.stderr.length).toBe(52428800);
    expect(r.stdout.replaceAll('out\n', '')).toBe('');
    expect(r.stderr.replaceAll('err\n', '')).toBe('');
  });
});

describe('spawn (streamed)', () => {
  it('streams output while the command runs', async () => {
    const p = await sb.spawn(['sh', '-c', 'for i in 1 2 3; do echo tick $i; sleep 0.3; done']);
    const seen: Array<{ t: number; s: string }> = [];
    const t0 = Date.now();
    p.stderr.resume();
    for await (const chunk of p.stdout) seen.push({ t: Date.now() - t0, s: String(chunk) });
    expect((await p.wait()).exitCode).toBe(0);
    expect(seen.map((x) => x.s).join('')).toBe('tick 1\ntick 2\ntick 3\n');
    expect(seen[0]!.t).toBeLessThan(seen[seen.length - 1]!.t - 400); // the first line arrived long before the last
  });

  it('talks over stdin, and ending stdin ends the command', async () => {
    const p = await sb.spawn(['sh', '-c', 'while read l; do echo "got:$l"; done; echo bye'], { stdin: true });
    p.stderr.resume();
    const lines: string[] = [];
    p.stdout.on('data', (d: Buffer) => lines.push(d.toString()));
    // the answer comes while stdin is still open (awaited, not slept for: a fixed sleep flakes under load)
    const answered = new Promise<void>((resolve) => p.stdout.on('data', () => lines.join('').includes('got:a\n') && resolve()));
    p.stdin!.write('a\n');
    await answered;
    expect(lines.join('')).toBe('got:a\n'); // answered before stdin closed
    p.stdin!.end('b\n');
    expect((await p.wait()).exitCode).toBe(0);
    expect(lines.join('')).toBe('got:a\ngot:b\nbye\n');
  });

  it('delivers SIGINT and SIGTERM to the process inside', async () => {
    for (const [sig, code] of [['SIGINT', 7], ['SIGTERM', 8]] as const) {
      const p = await sb.spawn(['sh', '-c', `trap 'echo caught; exit ${code}' ${sig.slice(3)}; echo ready; while :; do sleep 0.1; done`]);
      p.stderr.resume();
      const out: string[] = [];
      await new Promise<void>((resolve) => p.stdout.on('data', (d: Buffer) => (out.push(String(d)), resolve())));
      await p.kill(sig);
      expect((await p.wait()).exitCode).toBe(code);
      expect(out.join('')).toContain('caught');
    }
  });

  it('bounds buffering when the consumer is slow (backpressure), then delivers everything', async () => {
    const total = 200 * 1024 * 1024;
    const p = await sb.spawn(['sh', '-c', `head -c ${total} /dev/zero`]);
    p.stderr.resume();
    await new Promise((r) => setTimeout(r, 1500)); // nobody reads stdout meanwhile
    expect(p.stdout.readableLength).toBeLessThan(4 * 1024 * 1024);
    let got = 0;
    for await (const c of p.stdout) got += (c as Buffer).length;
    expect(got).toBe(total);
    expect((await p.wait()).exitCode).toBe(0);
  });
});

describe('killing what an exec started', () => {
  it('a timeout kills the whole process tree, background and setsid children included', async () => {
    const err = await sb
      .exec(['sh', '-c', 'sleep 301 & setsid sleep 302 >/dev/null 2>&1 & (setsid sh -c "sleep 303 >/dev/null 2>&1 &" &); echo started; wait'], { timeoutMs: 1500 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExecTimeoutError);
    expect((err as ExecTimeoutError).partial.stdout).toBe('started\n');
    expect((err as ExecTimeoutError).message).toMatch(/timeout of 1500 ms.*Raise timeoutMs/);
    expect(await running('sleep 30')).toEqual([]);
  });

  it('an AbortSignal kills the tree too', async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 500);
    const err = await sb.exec(['sh', '-c', 'sleep 311 & sleep 312'], { signal: ac.signal }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WardenError);
    expect((err as WardenError).code).toBe('EXEC_ABORTED');
    expect(await running('sleep 31')).toEqual([]);
  });

  it('dropping the connection does not stop the process (engine trap), kill() does', async () => {
    const p = await sb.spawn(['sh', '-c', 'sleep 321']);
    await new Promise((r) => setTimeout(r, 300));
    p.detach();
    await new Promise((r) => setTimeout(r, 500));
    expect(await running('sleep 321')).toHaveLength(1); // still there: the engine does not kill it
    expect(await p.kill('SIGKILL')).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 200));
    expect(await running('sleep 321')).toEqual([]);
  });

  it('a double-forked escapee started by an exec is still found and killed', async () => {
    const p = await sb.spawn(['sh', '-c', '(setsid sh -c "nohup sleep 331 >/dev/null 2>&1 &" &); echo launched']);
    p.stderr.resume();
    p.stdout.resume();
    expect((await p.wait()).exitCode).toBe(0);
    expect(await running('sleep 331')).toHaveLength(1); // it outlived its exec
    await p.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 200));
    expect(await running('sleep 331')).toEqual([]);
  });
});

describe('exec errors', () => {
  it('says the sandbox is not running, or gone', async () => {
    const other = await pool.create({});
    await other.stop({ timeoutMs: 500 });
    await expect(other.exec(['true'])).rejects.toMatchObject({ code: 'SANDBOX_NOT_RUNNING' });
    await engineOf(warden).remove(other.containerId, { force: true }); // vanished underneath
    await expect(other.exec(['true'])).rejects.toMatchObject({ code: 'SANDBOX_NOT_FOUND' });
    await expect(other.refreshInfo()).rejects.toMatchObject({ code: 'SANDBOX_NOT_FOUND' });
  });
});
