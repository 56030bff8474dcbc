import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WardenError } from '../src/errors.js';
import type { Sandbox } from '../src/sandbox/sandbox.js';
import { sandboxPool, testWarden } from './support/fixture.js';
import { Screen } from './support/pty-screen.js';

const warden = testWarden();
const pool = sandboxPool(warden);
let sb: Sandbox;

/** Workload processes still carrying a session's exec mark. */
async function marked(id: string): Promise<number> {
  const r = await sb.exec(['sh', '-c', `grep -lsxzF WARDEN_EXEC_ID=${id} /proc/[0-9]*/environ | wc -l`]);
  return Number(r.stdout.trim());
}

beforeAll(async () => {
  sb = await pool.create({ resources: { memory: '512m' } });
});
afterAll(() => pool.cleanup());

describe('terminal sessions (sb.pty)', () => {
  it('runs the login shell on a terminal: typing, size, resize, exit code', async () => {
    const pty = await sb.pty({ cols: 100, rows: 30 });
    const screen = new Screen(pty);
    pty.write('echo "[$((6*7))] $(tput cols)x$(tput lines) tty=$(tty) $0"\r');
    const line = await screen.waitFor(/\[42\] \d+x\d+ tty=\/dev\/pts\/\d+ \S+/);
    expect(line).toMatch(/100x30/);
    expect(line).toMatch(/bash/);
    const mark = screen.mark();
    await pty.resize(132, 43);
    pty.write('echo "now $(tput cols)x$(tput lines)"\r');
    await screen.waitFor(/now 132x43/, mark);
    pty.write('exit 3\r');
    expect((await pty.wait()).exitCode).toBe(3);
  });

  it('Ctrl-C goes to the program on the terminal, not to Warden', async () => {
    const pty = await sb.pty({ cmd: ['sh', '-c', 'trap "echo got-sigint; exit 5" INT; echo armed; sleep 100 & wait'] });
    const screen = new Screen(pty);
    await screen.waitFor(/armed/);
    pty.write('\x03');
    await screen.waitFor(/got-sigint/);
    expect((await pty.wait()).exitCode).toBe(5);
  });

  it('a missing command exits 127 with the reason on the terminal', async () => {
    const pty = await sb.pty({ cmd: ['no-such-command-xyz'] });
    const screen = new Screen(pty);
    expect((await pty.wait()).exitCode).toBe(127);
    expect(screen.all).toMatch(/no-such-command-xyz: command not found/);
  });

  it('kill() ends the whole process tree, setsid escapees included', async () => {
    const pty = await sb.pty({ cmd: ['bash', '--norc', '-i'] });
    const screen = new Screen(pty);
    pty.write('setsid sleep 1000 & nohup sleep 1001 >/dev/null 2>&1 & echo started\r');
    await screen.waitFor(/^started/m);
    expect(await marked(pty.id)).toBeGreaterThanOrEqual(3);
    expect(await pty.kill()).toBeGreaterThanOrEqual(3);
    expect((await pty.wait()).exitCode).toBe(137);
    expect(await marked(pty.id)).toBe(0);
  });

  it('timeoutMs kills the tree (also armed inside the sandbox) and says so', async () => {
    const pty = await sb.pty({ cmd: ['sleep', '1000'], timeoutMs: 1_000 });
    const exit = await pty.wait();
    expect(exit.killedBy).toBe('timeout');
    expect(exit.exitCode).toBe(137);
    expect(await marked(pty.id)).toBe(0);
  });

  it('survives its handle: detach, list, and attach again from another process by id', async () => {
    const pty = await sb.pty({ cmd: ['bash', '--norc', '-i'] });
    const screen = new Screen(pty);
    pty.write('PS1="$ "; echo before-detach\r');
    await screen.waitFor(/^before-detach/m);
    await pty.detach();
    await expect(pty.wait()).rejects.toMatchObject({ code: 'PTY_DETACHED' });
    expect(await sb.ptys.list()).toContainEqual({ id: pty.id, state: 'running' });

    const child = await promisify(execFile)('node', ['test/support/pty-child.mjs', sb.id, pty.id, 'echo "from-child $(tput cols)"; exit 7\r'], { timeout: 30_000 });
    const r = JSON.parse(child.stdout) as { exit: { exitCode: number }; seen: string };
    expect(r.exit.exitCode).toBe(7);
    expect(r.seen).toMatch(/before-detach/); // the replayed recent output
    expect(r.seen).toMatch(/from-child 90/);
    expect(await sb.ptys.list()).toContainEqual({ id: pty.id, state: 'exited', exitCode: 7 });
    await expect(sb.ptys.connect(pty.id)).rejects.toMatchObject({ code: 'PTY_NOT_FOUND' });
  });

  it('two attachments share one session', async () => {
    const a = await sb.pty({ cmd: ['bash', '--norc', '-i'] });
    const sa = new Screen(a);
    const b = await sb.ptys.connect(a.id);
    const sb2 = new Screen(b);
    b.write('echo typed-in-b\r');
    await sa.waitFor(/^typed-in-b/m);
    await sb2.waitFor(/^typed-in-b/m);
    a.write('exit 4\r');
    expect((await a.wait()).exitCode).toBe(4);
    expect((await b.wait()).exitCode).toBe(4);
  });

  it('a flood of output arrives whole and in order (backpressure, no drops)', async () => {
    const pty = await sb.pty({ cmd: ['sh', '-c', 'seq 1 200000; echo flood-done'] });
    let text = '';
    pty.onData((b) => (text += b.toString('latin1')));
    expect((await pty.wait()).exitCode).toBe(0);
    const lines = text.split('\r\n').filter(Boolean);
    expect(lines.length).toBe(200001);
    expect(lines[0]).toBe('1');
    expect(lines[199999]).toBe('200000');
    expect(lines[200000]).toBe('flood-done');
  });

  it('the workload writing garbage to the session socket does not break the session', async () => {
    const pty = await sb.pty({ cmd: ['bash', '--norc', '-i'] });
    const screen = new Screen(pty);
    pty.write('echo alive-1\r');
    await screen.waitFor(/^alive-1/m);
    // from inside: connect to the holder and send frames with absurd lengths, unknown types and junk
    const attack = await sb.exec(['perl', '-MSocket', '-e', `socket(my $s, AF_UNIX, SOCK_STREAM, 0) or die; connect($s, pack_sockaddr_un("/tmp/.warden-pty-1000/${pty.id}.sock")) or die "connect: $!"; syswrite($s, "z\\0\\0\\0\\3abc" . "r\\0\\0\\0\\1x" . ("\\xff" x 5000)); close $s; print "sent"`]);
    expect(attack.stdout, attack.stderr).toBe('sent');
    const mark = screen.mark();
    pty.write('echo alive-2\r');
    await screen.waitFor(/alive-2/, mark);
    pty.write('exit 0\r');
    expect((await pty.wait()).exitCode).toBe(0);
  });

  it('refuses bad arguments with coded errors', async () => {
    await expect(sb.pty({ cmd: [] })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(sb.pty({ cols: 0 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(sb.pty({ rows: 1.5 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(sb.ptys.connect('../../etc')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(sb.ptys.connect('0123456789abcdef')).rejects.toBeInstanceOf(WardenError);
  });

  it('a session folder planted by the workload as a symlink is refused, not followed', async () => {
    const other = await pool.create({});
    await other.exec(['sh', '-c', 'mkdir -p /tmp/elsewhere && ln -s /tmp/elsewhere /tmp/.warden-pty-1000']);
    await expect(other.pty({ cmd: ['true'] })).rejects.toMatchObject({ code: 'EXEC_FAILED' });
    expect((await other.exec(['ls', '-A', '/tmp/elsewhere'])).stdout).toBe('');
  });

  it('a graceful stop ends the sessions', async () => {
    const other = await pool.create({});
    const pty = await other.pty({ cmd: ['bash', '--norc', '-i'] });
    const screen = new Screen(pty);
    pty.write('echo up\r');
    await screen.waitFor(/^up/m);
    await other.stop({ timeoutMs: 5_000 });
    const exit = await pty.wait();
    expect(exit.exitCode).not.toBe(0);
  });
});
