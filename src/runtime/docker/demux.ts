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
