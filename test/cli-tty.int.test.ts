import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from './support/cli.js';
import { sandboxPool, testWarden } from './support/fixture.js';
import { TmuxTerminal } from './support/tmux.js';
import type { Sandbox } from '../src/sandbox/sandbox.js';

const warden = testWarden();
const pool = sandboxPool(warden);
let sb: Sandbox;
const terms: TmuxTerminal[] = [];

beforeAll(async () => {
  sb = await pool.create({ lifetime: 'persistent' });
});
afterAll(async () => {
  await Promise.all(terms.map((t) => t.close()));
  await pool.cleanup();
});

async function terminal(name: string, opts: Parameters<typeof TmuxTerminal.open>[1] = {}): Promise<TmuxTerminal> {
  const t = await TmuxTerminal.open(name, opts);
  terms.push(t);
  return t;
}

describe('warden exec -it / run -it / shell in a real terminal (tmux)', () => {
  it('exec -it: a shell with our window size, resize, Ctrl-C to the command, exit code through, terminal restored', async () => {
    const t = await terminal('exec', { cols: 120, rows: 40 });
    await t.type(`node bin/warden.js exec -it ${sb.id}; echo "[warden exited $?]"`);
    await t.waitFor(/agent@|\$ $/m);
    await t.type('echo "size=$(tput cols)x$(tput lines) term=$TERM"');
    await t.waitFor(/size=120x40 term=xterm-256color/);
    // the resize reaches the session asynchronously (tmux -> SIGWINCH to the CLI -> the server's resize
    // -> the session's terminal): a command typed right after it could still see 120x40 (seen in a full
    // run). The session's own SIGWINCH says it arrived: a foreground shell prints the size on each one.
    await t.type(`sh -c 'trap "echo winch=\\$(tput cols)x\\$(tput lines)" WINCH; echo waiting-for-winch; while :; do sleep 0.05; done'`);
    await t.waitFor(/^waiting-for-winch/m);
    await t.resize(100, 30);
    await t.waitFor(/winch=100x30/);
    await t.keys('C-c');
    await t.type('echo "resized=$(tput cols)x$(tput lines)"');
    await t.waitFor(/resized=100x30/);
    // the command itself says it runs: only then is it the terminal's foreground group (a Ctrl-C
    // typed while bash is still starting it goes to bash, and the sleep runs on)
    await t.type(`sh -c 'echo "sleeping:$$"; exec sleep 300'`);
    await t.waitFor(/sleeping:\d+/);
    await t.keys('C-c');
    await t.type('echo "still-here $?"');
    await t.waitFor(/still-here 130/);
    await t.type('exit 7');
    await t.waitFor(/\[warden exited 7\]/);
    // the local terminal is back in cooked mode with echo
    await t.type('stty -a | tr " " "\\n" | grep -x -e icanon -e echo | tr "\\n" " "; echo "<stty"');
    await t.waitFor(/icanon echo <stty|echo icanon <stty/);
  });

  it('run -it: a fresh sandbox with a shell, removed afterwards', async () => {
    const t = await terminal('run');
    await t.type(`node bin/warden.js run -it --name tty-run-${Date.now()}; echo "[run exited $?]"`);
    await t.waitFor(/agent@|\$ $/m);
    await t.type('echo "in=$(id -un)"; exit 3');
    await t.waitFor(/in=agent/);
    await t.waitFor(/\[run exited 3\]/);
  });

  it('shell ID is the short form, and a command with -t gets a terminal', async () => {
    const t = await terminal('shell');
    await t.type(`node bin/warden.js shell ${sb.id.slice(0, 6)}; echo "[shell exited $?]"`);
    await t.waitFor(/agent@|\$ $/m);
    await t.type('exit');
    await t.waitFor(/\[shell exited 0\]/);
    await t.type(`node bin/warden.js exec -t ${sb.id} -- sh -c 'test -t 0 && test -t 1 && echo "both-ttys"'; echo "[code $?]"`);
    await t.waitFor(/both-ttys[\s\S]*\[code 0\]/);
  });

  it('Ctrl-P Ctrl-Q detaches (the session goes on); warden attach takes it up again, exit code through', async () => {
    const t = await terminal('detach');
    await t.type(`node bin/warden.js exec -it ${sb.id} -- bash --norc -i; echo "[exec exited $?]"`);
    await t.waitFor(/bash-[\d.]+\$ $/m);
    await t.type('export KEPT=still-here');
    await t.keys('C-p', 'C-q');
    const m = await t.waitFor(/detached from terminal session ([0-9a-f]{16}), which goes on; attach again: warden attach \S+ \1/);
    await t.waitFor(/\[exec exited 0\]/);
    await t.type(`node bin/warden.js attach ${sb.id} ${m[1]}; echo "[attach exited $?]"`);
    await t.type('echo "kept=$KEPT"');
    await t.waitFor(/kept=still-here/);
    await t.type('exit 5');
    await t.waitFor(/\[attach exited 5\]/);
  });

  it('-t without a terminal is an error that names the fix', async () => {
    const r = await cli(['exec', '-t', sb.id, '--', 'true']);
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/not a terminal.*drop -t/);
    expect(r.stderr).toMatch(/NOT_A_TERMINAL/);
  });
});
