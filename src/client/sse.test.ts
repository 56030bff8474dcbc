import { describe, expect, it } from 'vitest';
import { readSse } from './sse.js';

const streamOf = (chunks: Uint8Array[]): ReadableStream<Uint8Array> =>
  new ReadableStream({
    start(c) {
      for (const x of chunks) c.enqueue(x);
      c.close();
    },
  });

describe('readSse', () => {
  it('yields named JSON events in order, whatever the chunk boundaries, and skips keep-alives', async () => {
    const text = ': keep-alive\n\nevent: start\ndata: {"execId":"x1"}\n\nevent: stdout\ndata: {"data":"h€llo","seq":1}\nid: 1\n\ndata: {"plain":true}\n\n';
    const bytes = new TextEncoder().encode(text);
    for (const size of [1, 2, 7, bytes.length]) {
      // byte-wise: a chunk may end inside the three bytes of '€'
      const chunks: Uint8Array[] = [];
      for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
      const got = [];
      for await (const e of readSse(streamOf(chunks))) got.push(e);
      expect(got).toEqual([
        { event: 'start', data: { execId: 'x1' } },
        { event: 'stdout', data: { data: 'h€llo', seq: 1 } },
        { event: 'message', data: { plain: true } },
      ]);
    }
  });
});
