import { afterAll, describe, expect, it } from 'vitest';
import { sandboxPool, testWarden } from './support/fixture.js';

// Issue 14: `sb.spawn(...)` then `wait()` must not depend on the caller reading stdout and stderr.
const warden = testWarden();
const pool = sandboxPool(warden);
afterAll(() => pool.cleanup());

const within = <T>(p: Promise<T>, ms: number, what: string): Promise<T> =>
  Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what}: still pending after ${ms} ms`)), ms).unref())]);

describe('spawn().wait() never waits for the caller to read', () => {
  it('returns when neither stream is read, with megabytes on both', async () => {
    const sb = await pool.create();
    const p = await sb.spawn(['sh', '-c', 'head -c 5000000 /dev/zero; head -c 5000000 /dev/zero >&2; exit 3']);
    const exit = await within(p.wait(), 30_000, 'wait() with unread output');
    expect(exit.exitCode).toBe(3);
  });

  it('keeps unread output for a late reader (bounded), and reading stdout alone is enough', async () => {
    const sb = await pool.create();
    const p = await sb.spawn(['sh', '-c', 'echo hello; head -c 3000000 /dev/zero >&2']);
    await within(p.wait(), 30_000, 'wait()');
    let out = '';
    for await (const c of p.stdout) out += (c as Buffer).toString();
    expect(out).toBe('hello\n');

    const q = await sb.spawn(['sh', '-c', 'head -c 3000000 /dev/zero; head -c 3000000 /dev/zero >&2']);
    let n = 0;
    q.stdout.on('data', (c: Buffer) => (n += c.length));
    await within(q.wait(), 30_000, 'wait() with stderr unread');
    expect(n).toBe(3_000_000);
  });

  it("the README's first snippet pattern: spawn, pipe stdout, kill, wait", async () => {
    const sb = await pool.create();
    const p = await sb.spawn(['bash', '-lc', 'for i in $(seq 1 100000); do echo line $i; echo err $i >&2; done; sleep 60'], { stdin: true });
    p.stdout.resume();
    await new Promise((r) => setTimeout(r, 300));
    await p.kill('SIGINT');
    const { exitCode } = await within(p.wait(), 30_000, 'wait() after kill');
    expect(exitCode).not.toBe(0);
  });
});
