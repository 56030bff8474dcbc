/** One Server-Sent Event as Warden's server writes them: an event name and one JSON `data` line. */
export interface SseEvent {
  event: string;
  data: unknown;
}

/**
 * The events of an SSE response body, in order (frames end with a blank line; `event:` names them,
 * `data:` lines are joined and parsed as JSON; frames without data, such as comments and keep-alives,
 * are skipped). Small on purpose: Warden's server is the only writer it has to read.
 */
export async function* readSse(body: ReadableStream<Uint8Array>): AsyncGenerator<SseEvent> {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += value;
      for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
        const frame = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const data = frame.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
        if (!data) continue;
        yield { event: /^event: (.*)$/m.exec(frame)?.[1] ?? 'message', data: JSON.parse(data) as unknown };
      }
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}
