import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { TEST_RUN_LABEL } from './labels.js';
import { runId } from './fixture.js';

const run = promisify(execFile);

/**
 * A real terminal for CLI tests: a tmux session (its own server socket, named after the test run)
 * running bash, where the test types keys and reads the screen, as a person at a terminal would.
 */
export class TmuxTerminal {
  private readonly socket: string;
  private constructor(readonly name: string) {
    this.socket = `warden-${name}`;
  }

  /** `run`: the test run's id (default: the main tiers' runId; the Kubernetes tier passes its own). */
  static async open(name: string, opts: { cols?: number; rows?: number; env?: Record<string, string>; run?: string } = {}): Promise<TmuxTerminal> {
    const id = opts.run ?? runId();
    const t = new TmuxTerminal(`${name}-${id}`);
    const env = { WARDEN_LOG_LEVEL: 'error', WARDEN_OWNER: `test-${id}`, WARDEN_LABELS: `${TEST_RUN_LABEL}=${id}`, ...opts.env };
    const exports = Object.entries(env).map(([k, v]) => `-e${k}=${v}`);
    await t.tmux('new-session', '-d', '-s', t.name, '-x', String(opts.cols ?? 120), '-y', String(opts.rows ?? 40), ...exports, 'bash --norc --noprofile');
    await t.tmux('set-option', '-t', t.name, 'window-size', 'manual');
    await t.type(`cd ${process.cwd()} && PS1='$ ' && clear`);
    return t;
  }

  private async tmux(...args: string[]): Promise<string> {
    return (await run('tmux', ['-L', this.socket, ...args])).stdout;
  }

  /** Type text and press Enter. */
  async type(text: string): Promise<void> {
    await this.tmux('send-keys', '-t', this.name, '-l', text);
    await this.tmux('send-keys', '-t', this.name, 'Enter');
  }

  /** Press keys by tmux name (C-c, Enter, ...). */
  async keys(...keys: string[]): Promise<void> {
    await this.tmux('send-keys', '-t', this.name, ...keys);
  }

  async resize(cols: number, rows: number): Promise<void> {
    await this.tmux('resize-window', '-t', this.name, '-x', String(cols), '-y', String(rows));
  }

  /** The screen and its scrollback, as text. */
  screen(): Promise<string> {
    return this.tmux('capture-pane', '-p', '-J', '-S', '-200', '-t', this.name);
  }

  /** Wait until the screen matches; the screen is read again after every tmux round trip (no fixed sleeps). */
  async waitFor(re: RegExp, timeoutMs = 30_000): Promise<RegExpMatchArray> {
    const until = Date.now() + timeoutMs;
    let text = '';
    while (Date.now() < until) {
      text = await this.screen();
      const m = text.match(re);
      if (m) return m;
      await run('tmux', ['-L', this.socket, 'wait-for', '-S', 'noop']).catch(() => undefined);
    }
    throw new Error(`the terminal never showed ${re}; it shows:\n${text}`);
  }

  async close(): Promise<void> {
    await run('tmux', ['-L', this.socket, 'kill-server']).catch(() => undefined);
  }
}
