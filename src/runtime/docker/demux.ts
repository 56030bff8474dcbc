import { PassThrough, type Readable } from 'node:stream';

/**
 * Split Docker's multiplexed attach stream (8-byte frame headers: type, 0, 0, 0, big-endian length)
 * into stdout and stderr, with backpressure: when a consumer is slow the source is paused, so Warden
 * never buffers more than a stream's highWaterMark plus one socket chunk. (dockerode's demuxStream
 * writes regardless of the consumer, which buffers without bound.)
 */
export function demuxDockerStream(source: Readable, highWaterMark = 1024 * 1024): { stdout: PassThrough; stderr: PassThrough } {
  const stdout = new PassThrough({ highWaterMark });
  const stderr = new PassThrough({ highWaterMark });
  let pending: Buffer = Buffer.alloc(0);
  let frameType = -1;
  let frameLeft = 0;
  let waiting = 0;

  const target = (type: number): PassThrough => (type === 2 || type === 3 ? stderr : stdout);
  const onDrain = (): void => {
    waiting--;
    if (waiting === 0) source.resume();
  };
  const write = (type: number, chunk: Buffer): void => {
    const t = target(type);
    if (!t.write(chunk)) {
      waiting++;
      t.once('drain', onDrain);
    }
  };

  source.on('data', (chunk: Buffer) => {
    let buf = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    pending = Buffer.alloc(0);
    while (buf.length > 0) {
      if (frameLeft === 0) {
        if (buf.length < 8) {
          pending = Buffer.from(buf);
          break;
        }
        frameType = buf[0] ?? 1;
        frameLeft = buf.readUInt32BE(4);
        buf = buf.subarray(8);
        continue;
      }
      const n = Math.min(frameLeft, buf.length);
      write(frameType, buf.subarray(0, n));
      frameLeft -= n;
      buf = buf.subarray(n);
    }
    if (waiting > 0) source.pause();
  });
  const finish = (): void => {
    stdout.end();
    stderr.end();
  };
  source.once('end', finish);
  source.once('close', finish);
  source.once('error', (err) => {
    stdout.destroy(err);
    stderr.destroy(err);
  });
  return { stdout, stderr };
}

/** A whole multiplexed buffer (e.g. container logs without a TTY) as text, stdout and stderr in order. */
export function demuxBuffer(buf: Buffer): string {
  const parts: Buffer[] = [];
  let i = 0;
  while (i + 8 <= buf.length && (buf[i] === 0 || buf[i] === 1 || buf[i] === 2) && buf[i + 1] === 0 && buf[i + 2] === 0 && buf[i + 3] === 0) {
    const len = buf.readUInt32BE(i + 4);
    parts.push(buf.subarray(i + 8, i + 8 + len));
    i += 8 + len;
  }
  return i === 0 ? buf.toString('utf8') : Buffer.concat(parts).toString('utf8');
}
