import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { demuxBuffer, demuxDockerStream } from './demux.js';

const frame = (type: number, data: string | Buffer): Buffer => {
  const body = Buffer.isBuffer(data) ? data : Buffer.from(data);
  const h = Buffer.alloc(8);
  h[0] = type;
  h.writeUInt32BE(body.length, 4);
  return Buffer.concat([h, body]);
};

const collect = (s: NodeJS.ReadableStream): Promise<string> =>
  new Promise((resolve) => {
    const parts: Buffer[] = [];
    s.on('data', (d: Buffer) => parts.push(d));
    s.on('end', () => resolve(Buffer.concat(parts).toString()));
  });

describe('demuxDockerStream', () => {
  it('splits stdout and stderr even when headers and bodies are cut across chunks', async () => {
    const src = new PassThrough();
    const { stdout, stderr } = demuxDockerStream(src);
    const out = collect(stdout);
    const err = collect(stderr);
    const all = Buffer.concat([frame(1, 'hello '), frame(2, 'oops'), frame(1, 'world')]);
    for (let i = 0; i < all.length; i += 3) src.write(all.subarray(i, i + 3));
    src.end();
    expect(await out).toBe('hello world');
    expect(await err).toBe('oops');
  });

  it('pauses the source while a consumer is slow (bounded buffering)', async () => {
    const src = new PassThrough({ highWaterMark: 64 * 1024 });
    const { stdout, stderr } = demuxDockerStream(src, 64 * 1024);
    stderr.resume();
    const chunk = frame(1, Buffer.alloc(256 * 1024, 97));
    let written = 0;
    // Producer writes until the source pushes back; nobody reads stdout.
    while (src.write(chunk) && written < 200) written++;
    await new Promise((r) => setTimeout(r, 50));
    expect(src.isPaused()).toBe(true);
    expect(stdout.readableLength).toBeLessThanOrEqual(64 * 1024 + 256 * 1024 + 8);
    expect(written).toBeLessThan(200);
    // Reading resumes the flow and everything arrives.
    src.end();
    const got = (await collect(stdout)).length;
    expect(got).toBe((written + 1) * 256 * 1024);
  });
});

describe('demuxBuffer', () => {
  it('strips frame headers from whole log buffers, and leaves raw text alone', () => {
    expect(demuxBuffer(Buffer.concat([frame(1, 'warden: stopped: over quota\n'), frame(2, 'err\n')]))).toBe('warden: stopped: over quota\nerr\n');
    expect(demuxBuffer(Buffer.from('plain tty text'))).toBe('plain tty text');
  });
});
