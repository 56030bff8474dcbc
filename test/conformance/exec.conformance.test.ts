import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { guardExec, guardKill } from '../../src/guest/argv.js';
import { collect, contractIt, eventually, Made, plan, run, uniq, WORKLOAD } from './support.js';
import { loadTarget } from './target.js';

const t = await loadTarget();
const rt = t.make();
const made = new Made();
const test = contractIt(t, rt);
let id = '';
beforeAll(async () => {
  id = made.add(await rt.create(plan(t, rt))).id;
});
afterAll(() => made.cleanup(rt));

/** How many processes in the unit run exactly `args` (seen from another exec, as root). */
async function count(args: string): Promise<number> {
  const r = await run(rt, id, ['ps', '-eo', 'args=']);
  return r.stdout.split('\n').filter((l) => l.trim() === args).length;
}

describe('exec (the runtime contract)', () => {
  test('returns exit codes: 0, 3, and 128+N for a signal', [], async () => {
    const t0 = Date.now();
    for (let i = 0; i < 5; i++) expect((await run(rt, id, ['true'])).exitCode).toBe(0);
    console.log(`[conformance] ${t.kind}: exec round trip ${((Date.now() - t0) / 5).toFixed(0)} ms on average ${t.where}`);
    expect((await run(rt, id, ['sh', '-c', 'exit 3'])).exitCode).toBe(3);
    expect((await run(rt, id, ['sh', '-c', 'kill -9 $$'])).exitCode).toBe(137);
    // a command that does not exist: refused with EXEC_FAILED naming it, or run as exit 127 (as a shell would)
    const missing = await run(rt, id, ['no-such-command-x']).then((r) => r.exitCode, (err: { code?: string; message?: string }) => `${err.code}: ${err.message}`);
    expect(String(missing)).toMatch(/^127$|^EXEC_FAILED: .*no-such-command-x/);
  });

  test('keeps stdout and stderr apart, with env and cwd', [], async () => {
    const r = await run(rt, id, ['sh', '-c', 'echo "out $FOO"; echo "err $(pwd)" >&2'], { env: { FOO: 'bar baz' }, cwd: '/tmp' });
    expect(r).toEqual({ stdout: 'out bar baz\n', stderr: 'err /tmp\n', exitCode: 0 });
  });

  test('runs in the unit\'s working directory when no cwd is given', [], async () => {
    expect((await run(rt, id, ['pwd'])).stdout).toBe('/workspace\n');
  });

  test('carries 4 MiB of binary stdout byte for byte', [], async () => {
    const h = await rt.exec(id, { cmd: ['sh', '-c', 'head -c 4194304 /dev/urandom > /tmp/blob && sha256sum /tmp/blob >&2 && cat /tmp/blob'], env: {}, user: '0:0', stdin: false });
    const [out, err, code] = await Promise.all([collect(h.stdout), collect(h.stderr), h.wait()]);
    expect(code).toBe(0);
    expect(out.length).toBe(4 * 1024 * 1024);
    expect(createHash('sha256').update(out).digest('hex')).toBe(err.toString().split(' ')[0]);
  });

  test('delivers stdin and its end (EOF) to the command', ['stdinEof'], async () => {
    const data = randomBytes(1024 * 1024 + 7);
    const r = await run(rt, id, ['sha256sum'], { input: data });
    expect(r.exitCode).toBe(0);
    expect(r.stdout.split(' ')[0]).toBe(createHash('sha256').update(data).digest('hex'));
    expect(await run(rt, id, ['wc', '-c'], { input: '' })).toMatchObject({ stdout: '0\n', exitCode: 0 });
  });

  test('runs an exec as another uid:gid with no privileges left', [], async () => {
    const r = await run(rt, id, ['sh', '-c', 'id -u; id -g; grep -E "^CapEff" /proc/self/status'], { user: '1000:1000' });
    expect(r.stdout).toMatch(/^1000\n1000\nCapEff:\s+0+\n$/);
  });

  test('an exec as another uid:gid shows no-new-privileges in /proc/self/status', [], async () => {
    const r = await run(rt, id, ['grep', '-E', '^NoNewPrivs', '/proc/self/status'], { user: '1000:1000' });
    expect(r.stdout).toMatch(/^NoNewPrivs:\s+1\n$/);
  }, undefined, 'noNewPrivsVisible');

  test('a detached exec goes on after its handle is dropped; execDetached returns at once', [], async () => {
    const mark = uniq('detached');
    const h = await rt.exec(id, { cmd: ['sh', '-c', `sleep 1; echo ${mark} > /tmp/${mark}; exec sleep 7001`], env: {}, user: '0:0', stdin: true });
    h.detach();
    expect(await h.wait()).toBe(-1);
    await eventually(() => run(rt, id, ['cat', `/tmp/${mark}`]), (r) => r.stdout === `${mark}\n`, 'the detached command to write its file');
    await rt.execDetached(id, { cmd: ['sleep', '7002'], env: {}, user: '1000:1000' });
    await eventually(() => count('sleep 7002'), (n) => n === 1, 'the detached sleep to run');
    expect(await count('sleep 7001')).toBe(1);
    await run(rt, id, ['sh', '-c', 'pkill -x -f "sleep 7001"; pkill -x -f "sleep 7002"; true']);
  });

  test('the guard drops every workload command to the workload user, which cannot reach PID 1', ['guard'], async () => {
    const r = await run(rt, id, guardExec(['sh', '-c', 'id -u; grep -E "^CapEff" /proc/self/status; kill -TERM 1 2>&1 || echo refused'], WORKLOAD));
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^1000\nCapEff:\s+0+\n[\s\S]*refused\n$/);
    expect((await rt.find({ id }))?.state).toBe('running');
  });

  test('the guard kills a command\'s whole tree at its timeout, a setsid child included', ['guard'], async () => {
    const t0 = Date.now();
    const r = await run(rt, id, guardExec(['sh', '-c', '(setsid sh -c "exec sleep 7003" >/dev/null 2>&1 &); exec sleep 600'], { ...WORKLOAD, timeoutMs: 1500 }));
    expect(r.exitCode).toBe(137);
    expect(Date.now() - t0).toBeLessThan(30_000);
    await eventually(() => count('sleep 7003'), (n) => n === 0, 'the setsid child to be gone');
  }, undefined, 'subreaper');

  test('the guard\'s tree kill by exec id ends the exec and what it started', ['guard'], async () => {
    const execId = uniq('tree').replace(/-/g, '');
    const h = await rt.exec(id, { cmd: guardExec(['sh', '-c', '(setsid sh -c "exec sleep 7004" >/dev/null 2>&1 &); exec sleep 7005'], { ...WORKLOAD, id: execId }), env: { WARDEN_EXEC_ID: execId }, user: '0:0', stdin: false });
    h.stdout.resume();
    h.stderr.resume();
    await eventually(() => count('sleep 7004'), (n) => n === 1, 'the tree to start');
    await run(rt, id, guardKill(execId, 'KILL', WORKLOAD));
    expect(await h.wait()).toBe(137);
    await eventually(() => count('sleep 7004'), (n) => n === 0, 'the setsid child to be gone');
  });

  test('runs a command on a terminal that it can resize; its input ends with the terminal\'s EOF', ['tty'], async () => {
    // A resize is applied when the backend gets to it: Docker's call returns once it is, but Kubernetes'
    // resize channel is handled beside stdin, not in order with it (the line typed right after a resize
    // can be read first). So the command waits (at most ~10 s) until its terminal has the new size.
    const waitResized = 'i=0; while [ "$(stty size)" != "40 120" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done';
    const h = await rt.exec(id, { cmd: ['sh', '-c', `stty size; read line; ${waitResized}; stty size; echo "got $line"; cat; echo "after eof"`], env: {}, user: '0:0', stdin: true, tty: { cols: 100, rows: 30 } });
    let out = '';
    const seen = (s: string): Promise<void> =>
      new Promise((resolve) => {
        const check = (): void => {
          if (out.includes(s)) {
            h.stdout.off('data', on);
            resolve();
          }
        };
        const on = (d: Buffer): void => {
          out += d.toString('utf8');
          check();
        };
        h.stdout.on('data', on);
        check();
      });
    h.stderr.resume();
    await seen('30 100');
    await h.resize!(120, 40);
    h.stdin!.write('hello\n');
    await seen('got hello');
    h.stdin!.end();
    const rest = collect(h.stdout);
    expect(await h.wait()).toBe(0);
    out += (await rest).toString('utf8');
    expect(out).toMatch(/40 120\r?\n/);
    expect(out).toContain('after eof');
  });

  test('the guard hands an exec\'s terminal to the workload command', ['tty', 'guard'], async () => {
    const g = await rt.exec(id, { cmd: guardExec(['sh', '-c', 'tty; id -u'], { ...WORKLOAD, tty: true }), env: {}, user: '0:0', stdin: false, tty: { cols: 80, rows: 24 } });
    const [gout, gcode] = await Promise.all([collect(g.stdout), g.wait()]);
    expect(gcode).toBe(0);
    expect(gout.toString()).toMatch(/^\/dev\/pts\/\d+\r?\n1000\r?\n$/);
  }, undefined, 'guardTty');
});
