import { spawn, execFile } from 'node:child_process';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitMarkerFilter } from './pty-marker.js';

// guest/pty.pl on the host (perl is everywhere Warden runs): the holder, the relay, status and resize,
// without an engine. The sandbox-side behaviour (hardening, tree kill, re-attach) is in test/pty.int.test.ts.
const SCRIPT = fileURLToPath(new URL('../../guest/pty.pl', import.meta.url));
const run = promisify(execFile);
let dir: string;
let base: string;

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'warden-pty-guest-'));
  dir = join(base, 'sessions');
});
afterAll(() => rm(base, { recursive: true, force: true }));

const perl = (...args: string[]): [string, ...string[]] => ['perl', SCRIPT, '--dir', dir, ...args];
const pl = (...args: string[]) => run('perl', [SCRIPT, '--dir', dir, ...args]);
const { TERM: _term, ...envNoTerm } = process.env;

/** Start a holder; resolves once it said ready. */
async function serve(id: string, cmd: string[], cols = 80, rows = 24): Promise<void> {
  const [bin, ...args] = perl('serve', id, String(cols), String(rows), '--', ...cmd);
  const p = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: envNoTerm });
  let err = '';
  p.stderr.on('data', (b: Buffer) => (err += b.toString()));
  await new Promise<void>((resolve, reject) => {
    p.stdout.on('data', (b: Buffer) => b.toString().includes('ready') && resolve());
    p.once('exit', (code) => reject(new Error(`holder exited ${code}: ${err}`)));
  });
}

/**
 * Attach without a terminal: keys in on stdin, output (exit marker taken out) and the code back;
 * `onOutput` hears the output so far as it comes.
 */
async function attach(id: string, keys: string[], onOutput: (out: string) => void = () => {}): Promise<{ out: string; code: number | null; marker?: number }> {
  const [bin, ...args] = perl('attach', id, 'nonce12345');
  const p = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let marker: number | undefined;
  const f = new ExitMarkerFilter('nonce12345', (c) => {
    marker = c;
    p.stdin.end('\x04'); // the host's answer to the marker
  });
  p.stdout.pipe(f);
  let out = '';
  f.on('data', (b: Buffer) => {
    out += b.toString();
    onOutput(out);
  });
  for (const k of keys) p.stdin.write(k);
  const code = await new Promise<number | null>((resolve) => p.once('exit', resolve));
  return { out, code, ...(marker !== undefined ? { marker } : {}) };
}

describe('guest/pty.pl', () => {
  it('is valid perl', async () => {
    await run('perl', ['-c', SCRIPT]);
  });

  it('serve + attach: the program starts for the first attachment, keys reach it, its code comes back (marker and exit)', async () => {
    await serve('s1', ['sh', '-c', 'echo "tty=$(tty) term=$TERM mark=$WARDEN_EXEC_ID"; read x; echo "got $x"; exit 3']);
    const r = await attach('s1', ['yes\r']);
    expect(r.out).toMatch(/tty=\/dev\/pts\/\d+ term=xterm-256color mark=s1/);
    expect(r.out).toMatch(/got yes/);
    expect(r).toMatchObject({ code: 3, marker: 3 });
    expect((await pl('status', 's1')).stdout).toBe('s1 exited 3\n');
    // attaching to a finished session answers its code at once
    expect((await attach('s1', [])).code).toBe(3);
  });

  it('resize is applied before it returns; a missing program exits 127 with the reason', async () => {
    await serve('s2', ['sh', '-c', 'echo started; read x; stty size; exit 0'], 80, 24);
    // the first attachment starts the program: wait until it did, or the typer's attachment below could
    // come first (two perl start-ups race on a loaded machine) and the program end before this one joins
    let started!: () => void;
    const running = new Promise<void>((r) => (started = r));
    const attached = attach('s2', [], (out) => out.includes('started') && started());
    await Promise.race([running, attached]);
    await pl('resize', 's2', '100', '50');
    const [bin, ...args] = perl('attach', 's2');
    const typer = spawn(bin, args, { stdio: ['pipe', 'ignore', 'ignore'] });
    typer.stdin.write('\r');
    const r = await attached;
    expect(r.out).toMatch(/50 100/);
    typer.kill();
    await serve('s3', ['no-such-program-xyz']);
    const missing = await attach('s3', []);
    expect(missing.code).toBe(127);
    expect(missing.out).toMatch(/no-such-program-xyz: command not found/);
  });

  it('status lists sessions; bad ids and a planted symlink folder are refused', async () => {
    expect((await pl('status')).stdout).toMatch(/s1 exited 3\n/);
    await expect(pl('attach', '../../etc')).rejects.toMatchObject({ code: 255 });
    const other = join(base, 'planted');
    await symlink(base, other);
    await expect(run('perl', [SCRIPT, '--dir', other, 'status'])).rejects.toMatchObject({ stderr: expect.stringMatching(/not a directory owned by uid/) });
  });
});
