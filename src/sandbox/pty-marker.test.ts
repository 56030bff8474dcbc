import { describe, expect, it } from 'vitest';
import { ExitMarkerFilter } from './pty-marker.js';

async function run(chunks: Array<string | Buffer>, nonce = 'abcdef0123'): Promise<{ out: string; code: number | undefined }> {
  let code: number | undefined;
  const f = new ExitMarkerFilter(nonce, (c) => (code = c));
  const out: Buffer[] = [];
  f.on('data', (b: Buffer) => out.push(b));
  for (const c of chunks) f.write(Buffer.from(c));
  f.end();
  await new Promise((r) => f.on('end', r));
  return { out: Buffer.concat(out).toString('latin1'), code };
}

describe('ExitMarkerFilter', () => {
  const marker = '\x1b]5379;warden-exit;abcdef0123;42\x07';

  it('passes output through and takes the marker out', async () => {
    expect(await run([`hello\r\n${marker}`])).toEqual({ out: 'hello\r\n', code: 42 });
  });

  it('finds a marker split at every byte', async () => {
    const all = `out\x1b]0;title\x07more${marker}`;
    for (let i = 1; i < all.length; i++) {
      expect(await run([all.slice(0, i), all.slice(i)])).toEqual({ out: 'out\x1b]0;title\x07more', code: 42 });
    }
    expect(await run(all.split(''))).toEqual({ out: 'out\x1b]0;title\x07more', code: 42 });
  });

  it('leaves look-alikes with another nonce (a program forging markers) in the output', async () => {
    const fake = '\x1b]5379;warden-exit;zzzzzzzz;0\x07';
    expect(await run([`a${fake}b`])).toEqual({ out: `a${fake}b`, code: undefined });
  });

  it('gives back a held partial marker when the stream ends without one', async () => {
    expect(await run(['x\x1b]5379;warden'])).toEqual({ out: 'x\x1b]5379;warden', code: undefined });
  });
});
