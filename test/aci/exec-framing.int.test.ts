import { createHash, randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAciTerminal } from '../../src/runtime/aci/aci-terminal.js';
import { FramedExec } from '../../src/runtime/aci/exec-framing.js';
import type { FramedExecRequest } from '../../src/runtime/aci/exec-protocol.js';
import type { WardenError } from '../../src/errors.js';
import { aciClient, collect, eventually, groupName, sandboxGroup, standin } from './support.js';

const HELPER = '/.warden/warden-aci-exec';

describe('honest exec over ACI\'s one terminal stream (warden-aci-exec + FramedExec), against the ACI stand-in', () => {
  const client = aciClient();
  const name = groupName('framed');
  const rg = (): string => standin().resourceGroup;
  beforeAll(async () => {
    await client.containerGroups.beginCreateOrUpdateAndWait(rg(), name, sandboxGroup());
  });
  afterAll(async () => {
    await client.containerGroups.beginDeleteAndWait(rg(), name).catch(() => undefined);
  });

  async function framed(req: FramedExecRequest, group = name): Promise<FramedExec> {
    const r = await client.containers.executeCommand(rg(), group, 'sandbox', { command: HELPER, terminalSize: { rows: 24, cols: 80 } });
    return FramedExec.start(await openAciTerminal(r.webSocketUri!, r.password!), req);
  }
  async function run(req: FramedExecRequest, stdin?: Buffer | string): Promise<{ stdout: string; stderr: string; exitCode: number; signal?: number; reason?: string }> {
    const p = await framed(stdin !== undefined ? { ...req, stdin: true } : req);
    if (stdin !== undefined) p.stdin!.end(stdin);
    const [out, err, exit] = await Promise.all([collect(p.stdout), collect(p.stderr), p.wait()]);
    return { stdout: out.toString(), stderr: err.toString(), ...exit };
  }
  /** How many processes in the sandbox have `needle` in their command line (seen by another exec). */
  async function count(needle: string): Promise<number> {
    const r = await run({ argv: ['sh', '-c', `ps -eo args= | grep -c '^${needle}' || true`] });
    return Number(r.stdout.trim());
  }

  it('returns exit codes (0, 3, and 128+N for a signal) against the ACI stand-in', async () => {
    expect((await run({ argv: ['true'] })).exitCode).toBe(0);
    expect((await run({ argv: ['sh', '-c', 'exit 3'] })).exitCode).toBe(3);
    const killed = await run({ argv: ['sh', '-c', 'kill -9 $$'] });
    expect(killed).toMatchObject({ exitCode: 137, signal: 9 });
  });

  it('keeps stdout and stderr apart, with env and cwd, against the ACI stand-in', async () => {
    const r = await run({ argv: ['sh', '-c', 'echo "out $FOO"; echo "err $(pwd)" >&2'], env: { FOO: 'bar baz' }, cwd: '/tmp' });
    expect(r).toMatchObject({ stdout: 'out bar baz\n', stderr: 'err /tmp\n', exitCode: 0 });
  });

  it('carries 8 MiB of binary stdout byte for byte (compared by hash) against the ACI stand-in', async () => {
    const p = await framed({ argv: ['sh', '-c', 'head -c 8388608 /dev/urandom > /tmp/blob && sha256sum /tmp/blob >&2 && cat /tmp/blob'] });
    const t0 = Date.now();
    const [out, err, exit] = await Promise.all([collect(p.stdout), collect(p.stderr), p.wait()]);
    const secs = (Date.now() - t0) / 1000;
    console.log(`[framing] 8 MiB of stdout in ${secs.toFixed(2)} s (${(8 / secs).toFixed(1)} MiB/s) through the stand-in`);
    expect(exit.exitCode).toBe(0);
    expect(out.length).toBe(8 * 1024 * 1024);
    expect(createHash('sha256').update(out).digest('hex')).toBe(err.toString().split(' ')[0]);
  });

  it('delivers stdin with an explicit EOF (binary, 2 MiB, beyond the credit window) against the ACI stand-in', async () => {
    const data = randomBytes(2 * 1024 * 1024);
    const r = await run({ argv: ['sha256sum'] }, data);
    expect(r.exitCode).toBe(0);
    expect(r.stdout.split(' ')[0]).toBe(createHash('sha256').update(data).digest('hex'));
    expect(await run({ argv: ['cat'] }, '')).toMatchObject({ stdout: '', exitCode: 0 }); // EOF with no data at all
  });

  it('finishes a command that never reads its stdin while the client is still writing, against the ACI stand-in', async () => {
    const p = await framed({ argv: ['sh', '-c', 'echo done'], stdin: true });
    const writing = new Promise<void>((resolve) => p.stdin!.write(randomBytes(4 * 1024 * 1024), () => resolve()));
    const [out, exit] = await Promise.all([collect(p.stdout), p.wait()]);
    expect(out.toString()).toBe('done\n');
    expect(exit.exitCode).toBe(0);
    await writing; // the write settles (the helper dropped what nobody reads), it does not hang
  });

  it('signals the whole process tree, including a setsid child that left the group, against the ACI stand-in', async () => {
    const p = await framed({ argv: ['sh', '-c', 'setsid sleep 4243 & exec sleep 4242'], execId: `t${randomBytes(4).toString('hex')}` });
    await eventually(() => count('sleep 4243'), (n) => n === 1, 'the setsid child to run');
    p.kill('SIGTERM');
    expect(await p.wait()).toMatchObject({ exitCode: 143, signal: 15 });
    await eventually(() => count('sleep 424'), (n) => n === 0, 'the tree to be gone');
  });

  it('ends the command at its timeout inside the sandbox, against the ACI stand-in', async () => {
    const r = await run({ argv: ['sleep', '4244'], timeoutSeconds: 1 });
    expect(r).toMatchObject({ exitCode: 137, signal: 9, reason: 'timeout' });
  });

  /** Blocks this process's event loop, as a loaded machine does: no ping leaves while it runs. */
  function stall(ms: number): void {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      // busy: timers (the dead-man pings) cannot fire
    }
  }

  it('keeps a client whose pings stall past the dead-man seconds: the exit and all the output still arrive, against the ACI stand-in', async () => {
    // the runtime's own exec shape (keepOnLoss + a dead-man switch); the client is silent for 4 s, twice its dead-man seconds
    const p = await framed({ argv: ['sh', '-c', 'sleep 3; echo done'], deadmanSeconds: 2, keepOnLoss: true });
    stall(4000);
    const [out, exit] = await Promise.all([collect(p.stdout), p.wait()]);
    expect(out.toString()).toBe('done\n');
    expect(exit).toEqual({ exitCode: 0 });
    expect(p.report()).toMatchObject({ exitRecord: true });
  });

  it('tells a silent client with stdin open that it was given up, and fails its exec saying so, against the ACI stand-in', async () => {
    // its stdin must end when its client is gone (as an engine ends an attach's), so silence with stdin open does count
    const p = await framed({ argv: ['sh', '-c', 'sleep 3; echo late'], deadmanSeconds: 2, keepOnLoss: true, stdin: true });
    stall(3500);
    const err = await p.wait().then(() => undefined, (e: unknown) => e as WardenError);
    expect(err).toMatchObject({ code: 'EXEC_FAILED', message: expect.stringContaining('the helper gave up on this client (deadman') });
    console.log(`[framing] a silent client given up: ${err?.message}`);
    expect(err?.details?.stream, err?.message).toMatchObject({ exitRecord: false, helperLost: 'deadman' });
  });

  it('fails an exec whose stream ends without the exit record with a coded error saying how it ended, against the ACI stand-in', async () => {
    // the helper itself dies (kill -9 from the command, which runs as root here): no exit record can come
    // (only once the command started: it waits for a line on its stdin)
    const p = await framed({ argv: ['sh', '-c', 'read go; kill -9 $PPID; sleep 1'], stdin: true });
    p.stdin!.write('go\n');
    const [, err] = await Promise.all([collect(p.stdout), p.wait().then(() => undefined, (e: unknown) => e as WardenError)]);
    expect(err).toMatchObject({ code: 'EXEC_FAILED', message: expect.stringMatching(/ended before the command's exit status arrived.*closed by the server \(WebSocket 1000 "engine stream ended; the exec's process exit 137.*exit record NOT received/) });
    expect(err?.details?.stream, err?.message).toMatchObject({ closedBy: 'server', closeCode: 1000, exitRecord: false, lastRecord: expect.stringMatching(/^(started|credit)$/) });
  });

  it('kills the command when the client vanishes (dead-man pings stop), against the ACI stand-in', async () => {
    const r = await client.containers.executeCommand(rg(), name, 'sandbox', { command: HELPER });
    const ws = await openAciTerminal(r.webSocketUri!, r.password!);
    const p = await FramedExec.start(ws, { argv: ['sleep', '4245'], deadmanSeconds: 2 });
    await eventually(() => count('sleep 4245'), (n) => n === 1, 'the command to run');
    ws.terminate(); // the client dies: no close handshake, no more pings
    await p.wait().catch(() => undefined);
    await eventually(() => count('sleep 4245'), (n) => n === 0, 'the dead-man switch to end the command', 15_000);
  });

  it('applies backpressure: a slow reader bounds what is buffered, against the ACI stand-in', async () => {
    const p = await framed({ argv: ['head', '-c', String(16 * 1024 * 1024), '/dev/zero'] });
    let maxBuffered = 0;
    let total = 0;
    const slow = new Writable({
      highWaterMark: 64 * 1024,
      write(chunk: Buffer, _enc, cb) {
        total += chunk.length;
        maxBuffered = Math.max(maxBuffered, p.stdout.readableLength + p.stdout.writableLength);
        setTimeout(cb, 1);
      },
    });
    await Promise.all([pipeline(p.stdout, slow), collect(p.stderr), p.wait()]);
    expect(total).toBe(16 * 1024 * 1024);
    expect(maxBuffered).toBeLessThan(4 * 1024 * 1024);
  });

  it('refuses what cannot start with a coded error (missing binary, bad cwd, bad request) against the ACI stand-in', async () => {
    await expect(framed({ argv: ['no-such-binary-x'] })).rejects.toMatchObject({ code: 'EXEC_FAILED', message: expect.stringContaining('cannot run no-such-binary-x: No such file or directory') });
    await expect(framed({ argv: ['true'], cwd: '/no/such/dir' })).rejects.toMatchObject({ code: 'EXEC_FAILED', message: expect.stringContaining('cannot change to directory /no/such/dir') });
    await expect(framed({ argv: [] })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('says so when the image lacks the helper, against the ACI stand-in', async () => {
    const s = standin();
    const plain = groupName('nohelper');
    const group = sandboxGroup();
    void s;
    group.containers[0]!.image = `warden-sandbox:${process.env.WARDEN_IMAGE_TAG || 'latest'}`; // Warden's image itself, not its ACI variant
    try {
      await client.containerGroups.beginCreateOrUpdateAndWait(rg(), plain, group);
      await expect(framed({ argv: ['true'] }, plain)).rejects.toMatchObject({ code: 'EXEC_FAILED', message: expect.stringContaining('may lack /.warden/warden-aci-exec') });
    } finally {
      await client.containerGroups.beginDeleteAndWait(rg(), plain).catch(() => undefined);
    }
  });
});
