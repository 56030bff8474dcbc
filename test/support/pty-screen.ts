import type { Readable } from 'node:stream';

/** Collects a terminal's output and waits for text in it (escape sequences left in; matching is on the raw text). */
export class Screen {
  private text = '';
  private waiters: Array<{ re: RegExp; from: number; resolve: (m: string) => void }> = [];
  constructor(output: Readable | { onData(cb: (b: Buffer) => void): unknown }) {
    const on = (b: Buffer): void => {
      this.text += b.toString('utf8');
      this.waiters = this.waiters.filter((w) => {
        const m = this.text.slice(w.from).match(w.re);
        if (m) w.resolve(m[0]);
        return !m;
      });
    };
    if ('onData' in output) output.onData(on);
    else output.on('data', on);
  }
  get all(): string {
    return this.text;
  }
  /** Mark the current end: later waits look only at what comes after it. */
  mark(): number {
    return this.text.length;
  }
  /** Resolves with the first match of `re` after `from` (default: anywhere). Rejects after `timeoutMs` with the screen so far. */
  waitFor(re: RegExp, from = 0, timeoutMs = 20_000): Promise<string> {
    const m = this.text.slice(from).match(re);
    if (m) return Promise.resolve(m[0]);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`terminal never showed ${re}; it shows:\n${this.text.slice(-2000)}`)), timeoutMs);
      this.waiters.push({ re, from, resolve: (s) => (clearTimeout(t), resolve(s)) });
    });
  }
}
