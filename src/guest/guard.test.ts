import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { linkSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The guard (guest/*.c) built with the host's gcc exactly as guest/Dockerfile builds it (-Wall -Wextra
 * -Werror, static), and its exec holder and tree kill tried on the host, where this test runs as root
 * like the guard in a sandbox (the engine tests attack it inside real sandboxes). The shell helpers
 * are linted with Debian's shellcheck.
 */
const GUEST = fileURLToPath(new URL('../../guest/', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'warden-guard-'));
const guard = join(dir, 'warden-guard');
const root = process.getuid?.() === 0;
const has = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const alive = (pattern: string): string[] =>
  execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).split('\n').map((l) => l.trim()).filter((l) => l.startsWith(pattern));

beforeAll(() => {
  execFileSync('gcc', ['-static', '-O2', '-Wall', '-Wextra', '-Werror', '-std=c11', '-pthread', '-o', guard, 'main.c', 'proc.c', 'init.c', 'exec.c', 'reap.c', 'disk.c', 'aci-exec.c', 'tie.c', 'pod.c'], { cwd: GUEST, stdio: 'pipe' });
});
/** Pids of host processes whose command line is exactly `args` (ours, started by these tests). */
const pidsOf = (args: string): number[] =>
  execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' }).split('\n').map((l) => l.trim()).filter((l) => l.endsWith(` ${args}`) && l.split(' ').slice(1).join(' ') === args).map((l) => Number.parseInt(l, 10));
afterAll(() => {
  for (const args of ['sleep 6161', 'sleep 6162', 'sleep 6163', 'sleep 6164', 'sleep 6165', 'sleep 6166']) for (const pid of pidsOf(args)) process.kill(pid, 'SIGKILL');
});

describe('warden-guard', () => {
  it('builds with -Wall -Wextra -Werror and reports its version', () => {
    expect(execFileSync(guard, ['version'], { encoding: 'utf8' })).toMatch(/^warden-guard /);
  });

  it.runIf(root)('exec drops to the given uid with no capabilities, and its exit code is the command\'s', () => {
    const r = spawnSync(guard, ['exec', '--uid', '65534', '--gid', '65534', '--', 'sh', '-c', 'id -u; id -G; grep -E "^Cap(Eff|Prm)" /proc/self/status; exit 7'], { encoding: 'utf8' });
    expect(r.status).toBe(7);
    expect(r.stdout).toMatch(/^65534\n65534\nCapPrm:\s+0+\nCapEff:\s+0+\n$/);
  });

  it.runIf(root)('a deadline kills the whole tree, a child that left with setsid env -i included', () => {
    const t0 = Date.now();
    const r = spawnSync(guard, ['exec', '--uid', '65534', '--gid', '65534', '--timeout-ms', '800', '--', 'sh', '-c', '(setsid env -i sh -c "exec sleep 6161" >/dev/null 2>&1 &); sleep 600'], { encoding: 'utf8' });
    expect(r.status).toBe(137);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(alive('sleep 6161')).toEqual([]);
  });

  it.runIf(root)('without a deadline, background children outlive the command (a dev server)', async () => {
    const r = spawnSync(guard, ['exec', '--uid', '65534', '--gid', '65534', '--', 'sh', '-c', '(sleep 6162 >/dev/null 2>&1 &); exit 0'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    for (let i = 0; i < 40 && alive('sleep 6162').length === 0; i++) await new Promise((res) => setTimeout(res, 50)); // the child may not have exec'd yet
    expect(alive('sleep 6162')).toHaveLength(1);
    for (const pid of pidsOf('sleep 6162')) process.kill(pid, 'SIGKILL');
  });

  it.runIf(root)('kill --id signals the tree of that exec only, and the holder reports the signal', async () => {
    const held = spawn(guard, ['exec', '--uid', '65534', '--gid', '65534', '--id', 'abc123', '--', 'sh', '-c', '(setsid env -i sh -c "exec sleep 6163" >/dev/null 2>&1 &); exec sleep 6164'], { stdio: 'ignore' });
    const other = spawn(guard, ['exec', '--uid', '65534', '--gid', '65534', '--id', 'other', '--', 'sleep', '6165'], { stdio: 'ignore' });
    for (let i = 0; i < 50 && (alive('sleep 6163').length === 0 || alive('sleep 6164').length === 0 || alive('sleep 6165').length === 0); i++) await new Promise((r) => setTimeout(r, 50));
    const n = Number(execFileSync(guard, ['kill', '--id', 'abc123', '--signal', 'TERM'], { encoding: 'utf8' }).trim());
    expect(n).toBeGreaterThanOrEqual(2); // both sleeps (and the subshell between them if it has not exited yet)
    const code = await new Promise<number | null>((res) => held.on('exit', (c) => res(c)));
    expect(code).toBe(143);
    // the signal is sent; on a loaded machine the process may take a moment to act on it
    for (let i = 0; i < 40 && alive('sleep 6163').length > 0; i++) await new Promise((res) => setTimeout(res, 50));
    expect(alive('sleep 6163')).toEqual([]);
    expect(alive('sleep 6165')).toHaveLength(1);
    other.kill('SIGKILL');
    execFileSync(guard, ['kill', '--id', 'other', '--signal', 'KILL']);
  });

  it.runIf(root)('kill --id still finds what an ended exec left behind by its mark, read as the workload user', async () => {
    const r = spawnSync(guard, ['exec', '--uid', '65534', '--gid', '65534', '--id', 'gone1', '--', 'sh', '-c', '(setsid sh -c "exec sleep 6166" >/dev/null 2>&1 &); exit 0'], { encoding: 'utf8', env: { ...process.env, WARDEN_EXEC_ID: 'gone1' } });
    expect(r.status).toBe(0);
    for (let i = 0; i < 40 && alive('sleep 6166').length === 0; i++) await new Promise((res) => setTimeout(res, 50)); // the child may not have exec'd yet
    expect(alive('sleep 6166')).toHaveLength(1);
    expect(execFileSync(guard, ['kill', '--id', 'gone1', '--signal', 'KILL', '--uid', '65534', '--gid', '65534'], { encoding: 'utf8' }).trim()).toBe('1');
    for (let i = 0; i < 40 && alive('sleep 6166').length > 0; i++) await new Promise((res) => setTimeout(res, 50));
    expect(alive('sleep 6166')).toEqual([]);
  });

  /** Runs the guard as `nobody` with no capabilities: how it runs in a "restricted" Kubernetes pod. */
  const asNobody = (args: string[], opts: { input?: string | Buffer } = {}) =>
    spawnSync('setpriv', ['--reuid', '65534', '--regid', '65534', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all', guard, ...args], { encoding: 'utf8', ...opts });

  it.runIf(root && has('setpriv'))('without privileges, exec runs the command as the guard\'s own uid and refuses any other', () => {
    const same = asNobody(['exec', '--uid', '65534', '--gid', '65534', '--', 'sh', '-c', 'id -u; exit 4']);
    expect(same.status).toBe(4);
    expect(same.stdout).toBe('65534\n');
    const other = asNobody(['exec', '--uid', '1000', '--gid', '1000', '--', 'id']);
    expect(other.status).toBe(126);
    expect(other.stderr).toMatch(/cannot switch to 1000:1000: the guard runs as 65534:65534 without privileges/);
  });

  it.runIf(root && has('setpriv'))('without privileges, kill --id finds the holder of its own uid and kills the tree', async () => {
    const held = spawn('setpriv', ['--reuid', '65534', '--regid', '65534', '--clear-groups', guard, 'exec', '--uid', '65534', '--gid', '65534', '--id', 'np1', '--', 'sh', '-c', '(setsid env -i sh -c "exec sleep 6167" >/dev/null 2>&1 &); exec sleep 6168'], { stdio: 'ignore' });
    for (let i = 0; i < 50 && (alive('sleep 6167').length === 0 || alive('sleep 6168').length === 0); i++) await new Promise((r) => setTimeout(r, 50));
    const r = asNobody(['kill', '--id', 'np1', '--signal', 'KILL']);
    expect(Number(r.stdout.trim())).toBeGreaterThanOrEqual(2);
    expect(await new Promise<number | null>((res) => held.on('exit', (c) => res(c)))).toBe(137);
    for (let i = 0; i < 40 && alive('sleep 6167').length > 0; i++) await new Promise((res) => setTimeout(res, 50));
    expect(alive('sleep 6167')).toEqual([]);
  });

  it('env takes the environment from stdin, exactly, and leaves the rest of stdin to the command', () => {
    const entries = Buffer.from('A=1\0B=two words\0EMPTY=\0');
    const input = Buffer.concat([Buffer.from(`${entries.length}\n`), entries, Buffer.from('rest\0of stdin')]);
    const r = spawnSync(guard, ['env', '--stdin-env', '--cwd', '/tmp', '--', 'sh', '-c', 'printf "%s|%s|%s|%s|" "$A" "$B" "${EMPTY-unset}" "$(pwd)"; cat'], { input });
    expect(r.status).toBe(0);
    expect(r.stdout.toString('utf8')).toBe('1|two words||/tmp|rest\0of stdin');
  });

  it('env refuses a malformed environment and answers a missing command as a shell does', () => {
    expect(spawnSync(guard, ['env', '--stdin-env', '--', 'true'], { input: 'x\n' }).status).toBe(125);
    expect(spawnSync(guard, ['env', '--stdin-env', '--', 'true'], { input: '5\nnoeq\0' }).status).toBe(125);
    expect(spawnSync(guard, ['env', '--stdin-env', '--', 'true'], { input: '100\nA=1\0' }).status).toBe(125); // stdin ended early
    const missing = spawnSync(guard, ['env', '--', 'no-such-command-h17'], { encoding: 'utf8' });
    expect(missing.status).toBe(127);
    expect(missing.stderr).toMatch(/no-such-command-h17: command not found/);
  });

  it('env --detach says it is ready, then gives the command no output to write to', () => {
    const r = spawnSync(guard, ['env', '--stdin-env', '--detach', '--', 'sh', '-c', 'echo "$X"; echo err >&2'], { input: '4\nX=1\0', encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('\u001b]5379;warden-ready\u0007');
    expect(r.stderr).toBe('');
  });

  it('install copies the guest files beside the binary, modes kept', () => {
    const out = mkdtempSync(join(tmpdir(), 'warden-install-'));
    execFileSync('cp', [join(GUEST, 'files.sh'), join(GUEST, 'stats.sh'), dir]);
    const r = spawnSync(guard, ['install', out], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    const listing = execFileSync('stat', ['-c', '%n %a', ...['warden-guard', 'files.sh', 'stats.sh'].map((f) => join(out, f))], { encoding: 'utf8' });
    expect(listing).toContain(`${join(out, 'warden-guard')} 755`);
    expect(listing).toContain(`${join(out, 'files.sh')} 644`);
  });

  it('netgate passes once the denied address refuses (and the allowed one answers), and fails while it still answers', async () => {
    const { createServer } = await import('node:net');
    const server = createServer((c) => c.end());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      const run = (args: string[]) =>
        new Promise<{ code: number | null; stderr: string }>((res) => {
          const p = spawn(guard, ['netgate', ...args]);
          let stderr = '';
          p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
          p.on('exit', (code) => res({ code, stderr }));
        });
      expect((await run(['--deny', '127.0.0.1:1', '--allow', `127.0.0.1:${port}`, '--within', '5'])).code).toBe(0);
      const open = await run(['--deny', `127.0.0.1:${port}`, '--within', '1']);
      expect(open.code).toBe(3);
      expect(open.stderr).toMatch(/nothing enforces its network policy/);
      expect((await run(['--deny', '127.0.0.1:1', '--allow', '127.0.0.1:1', '--within', '1'])).code).toBe(3);
      expect((await run(['--deny', 'nonsense'])).code).toBe(125);
    } finally {
      server.close();
    }
  });

  it('init --tied --link-timeout ends when its owner never says anything, and stays while it does', async () => {
    const silent = spawnSync(guard, ['init', '--tied', '--link-timeout', '1'], { input: '', encoding: 'utf8', timeout: 10_000, stdio: ['pipe', 'pipe', 'pipe'] });
    expect(silent.stdout).toMatch(/owner process is gone|never attached/); // stdin at EOF at once, or silent
    const p = spawn(guard, ['init', '--tied', '--link-timeout', '1'], { stdio: ['pipe', 'pipe', 'ignore'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((res) => p.on('exit', (c) => res(c)));
    await new Promise((r) => setTimeout(r, 1500)); // past the link timeout: nothing arrived
    expect(await exited).toBe(137);
    expect(out).toMatch(/its owner never attached \(nothing within 1 s\)/);
    const kept = spawn(guard, ['init', '--tied', '--link-timeout', '1'], { stdio: ['pipe', 'pipe', 'ignore'] });
    kept.stdin.write('\n');
    const keptExit = new Promise<number | null>((res) => kept.on('exit', (c) => res(c)));
    const raced = await Promise.race([keptExit, new Promise((r) => setTimeout(() => r('alive'), 1800))]);
    expect(raced).toBe('alive');
    kept.stdin.end(); // EOF: the owner link closed
    expect(await keptExit).toBe(137);
  });

  it('measures the workspace like du -sx without recursion: links not followed, hard links once, nesting too deep fails closed', () => {
    const ws = join(dir, 'ws');
    mkdirSync(join(ws, 'a/b'), { recursive: true });
    writeFileSync(join(ws, 'a/b/f'), Buffer.alloc(1024 * 1024, 1));
    linkSync(join(ws, 'a/b/f'), join(ws, 'a/hard'));
    symlinkSync('/usr', join(ws, 'usr-link')); // not followed
    const du = Number(execFileSync('du', ['-sxk', ws], { encoding: 'utf8' }).split('\t')[0]);
    expect(Number(execFileSync(guard, ['du', ws], { encoding: 'utf8' }).trim())).toBe(du);
    // glibc's nftw recursed per level and crashed (SIGSEGV) at ~60,000 levels: the walk is iterative,
    // and a tree deeper than it measures (4096) is reported, so the guard ends the sandbox with the reason
    const deep = join(dir, 'deep');
    mkdirSync(deep);
    // relative steps: the full path is far over PATH_MAX, as a workload would make it
    execFileSync('perl', ['-e', 'chdir $ARGV[0] or die; for (1..4200) { mkdir "d" or die; chdir "d" or die }', deep]);
    expect(spawnSync(guard, ['du', deep]).status).toBe(3);
    execFileSync('rm', ['-rf', deep]);
  });

  it('refuses unknown arguments and missing users with usage errors', () => {
    expect(spawnSync(guard, ['exec', '--', 'true']).status).toBe(125);
    expect(spawnSync(guard, ['exec', '--bogus']).status).toBe(125);
    expect(spawnSync(guard, ['nope']).status).toBe(125);
  });

  it.runIf(has('shellcheck'))('its shell helpers pass shellcheck', () => {
    const r = spawnSync('shellcheck', ['-s', 'sh', 'files.sh', 'stats.sh', 'aci-init.sh'], { cwd: GUEST, encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('answers to the name warden-aci-exec as the framed exec (ACI passes no arguments)', () => {
    const link = join(dir, 'warden-aci-exec');
    execFileSync('ln', ['-sf', 'warden-guard', link]);
    expect(execFileSync(link, ['--version'], { encoding: 'utf8' })).toBe('warden-aci-exec protocol 2\n');
    const r = spawnSync(link, [], { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
    expect(r.status).toBe(125);
    expect(r.stderr).toContain('stdin is not a terminal');
  });
});

/** init --tie and tie, on the host (as root, as both run in an ACI sandbox). */
describe.runIf(root)('warden-guard init --tie (the owner tie of ACI sandboxes)', () => {
  let n = 0;
  const fifo = (): string => join(dir, `tie${n++}`, 'tie');
  /** init with a short grace and a max runtime: which of the two ends it tells whether the tie held. */
  function init(path: string, graceS: number, maxS: number): { done: Promise<{ code: number | null; out: string }> } {
    const p = spawn(guard, ['init', '--tie', path, '--tie-grace', String(graceS), '--max-runtime', String(maxS)], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    return { done: new Promise((res) => p.on('exit', (code) => res({ code, out }))) };
  }
  async function tie(path: string): Promise<{ stdin: NodeJS.WritableStream; gone: Promise<number | null>; kill: () => void }> {
    for (let i = 0; i < 100; i++) {
      try {
        execFileSync('test', ['-p', path]);
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 20)); // init makes the FIFO right after it starts
      }
    }
    const t = spawn(guard, ['tie', '--fifo', path], { stdio: ['pipe', 'pipe', 'inherit'] });
    await new Promise<void>((res, rej) => {
      t.stdout.once('data', (d: Buffer) => (d.toString() === 'tied\n' ? res() : rej(new Error(d.toString()))));
      t.once('exit', (c) => rej(new Error(`tie exited ${c}`)));
    });
    return { stdin: t.stdin, gone: new Promise((res) => t.on('exit', (c) => res(c))), kill: () => t.kill('SIGKILL') };
  }

  it('ends the sandbox when no tie came within the grace', async () => {
    const t0 = Date.now();
    const r = await init(fifo(), 1, 30).done;
    expect(r).toEqual({ code: 137, out: 'warden: stopped: its owner process is gone (no owner tie for 1 s)\n' });
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it('a held tie keeps it until its max runtime; once the tie is killed, it ends after the grace', async () => {
    const path = fifo();
    const held = init(path, 1, 3);
    const t = await tie(path);
    expect((await held.done).out).toBe('warden: stopped: reached its maxRuntime of 3 s\n');
    t.kill();

    const path2 = fifo();
    const run = init(path2, 1, 60);
    const t2 = await tie(path2);
    t2.kill(); // the owner's exec was killed (its dead-man fired): the FIFO's last writer is gone
    expect(await run.done).toEqual({ code: 137, out: 'warden: stopped: its owner process is gone (no owner tie for 1 s)\n' });
  });

  it("a new tie within the grace takes over, and 'u' unties for good", async () => {
    const path = fifo();
    const run = init(path, 2, 4);
    const a = await tie(path);
    const b = await tie(path);
    a.kill(); // a rotation: the old tie goes after the new one holds
    b.stdin.write('u');
    b.stdin.end();
    expect(await b.gone).toBe(0);
    // untied: neither the closed ties nor the grace end it; its max runtime does
    expect(await run.done).toEqual({ code: 0, out: 'warden: stopped: reached its maxRuntime of 4 s\n' });
  });

  it('tie refuses a FIFO the workload could have made or could reach', () => {
    const open = join(dir, 'open-dir');
    execFileSync('sh', ['-c', `mkdir -p ${open} && chmod 0777 ${open} && rm -f ${open}/tie && mkfifo ${open}/tie`]);
    expect(spawnSync(guard, ['tie', '--fifo', `${open}/tie`], { encoding: 'utf8' })).toMatchObject({ status: 126, stderr: expect.stringContaining("is not init's owner tie") });
    expect(spawnSync(guard, ['tie', '--fifo', join(dir, 'warden-guard')], { encoding: 'utf8' }).status).toBe(126); // not a FIFO
  });
});
