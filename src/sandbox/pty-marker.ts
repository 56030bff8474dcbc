import { Transform, type TransformCallback } from 'node:stream';

/**
 * Takes the relay's exit marker (`ESC ] 5379;warden-exit;NONCE;CODE BEL`, see guest/pty.pl) out of a
 * terminal's output: everything before it passes through unchanged (a marker split across chunks
 * included), `onExit(code)` is called once it is complete, and anything after it is dropped.
 */
export class ExitMarkerFilter extends Transform {
  private readonly prefix: Buffer;
  private held = Buffer.alloc(0);
  private done = false;

  constructor(nonce: string, private readonly onExit: (code: number) => void) {
    super();
    this.prefix = Buffer.from(`\x1b]5379;warden-exit;${nonce};`);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.done) return cb();
    const buf = this.held.length ? Buffer.concat([this.held, chunk]) : chunk;
    this.held = Buffer.alloc(0);
    const at = buf.indexOf(this.prefix);
    if (at >= 0) {
      const end = buf.indexOf(0x07, at + this.prefix.length);
      if (end < 0) {
        if (at > 0) this.push(buf.subarray(0, at));
        this.held = Buffer.from(buf.subarray(at));
        return cb();
      }
      if (at > 0) this.push(buf.subarray(0, at));
      const code = Number.parseInt(buf.subarray(at + this.prefix.length, end).toString('latin1'), 10);
      this.done = true;
      this.onExit(Number.isFinite(code) ? code : 255);
      return cb();
    }
    // keep back a tail that could be the start of a marker
    let keep = 0;
    for (let n = Math.min(this.prefix.length - 1, buf.length); n > 0; n--) {
      if (buf.subarray(buf.length - n).equals(this.prefix.subarray(0, n))) {
        keep = n;
        break;
      }
    }
    if (buf.length - keep > 0) this.push(buf.subarray(0, buf.length - keep));
    if (keep) this.held = Buffer.from(buf.subarray(buf.length - keep));
    cb();
  }

  override _flush(cb: TransformCallback): void {
    if (!this.done && this.held.length) this.push(this.held);
    cb();
  }
}
