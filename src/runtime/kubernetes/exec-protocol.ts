/**
 * The Kubernetes remote-command websocket subprotocol, version 5 (`v5.channel.k8s.io`), as pure
 * functions: framing and the status document. Read from the protocol's definition in
 * k8s.io/streaming's wsstream package and the apiserver's stream translator (Kubernetes 1.30+):
 *
 * - every binary message starts with one channel byte: 0 stdin (client to server), 1 stdout,
 *   2 stderr, 3 status (server to client, one `metav1.Status` JSON document written once, after all
 *   output), 4 resize (client to server, `{"Width":w,"Height":h}` JSON);
 * - v5 adds a close signal: the message `[255, channel]` half-closes one stream (stdin: the command
 *   reads EOF) while the others go on; in v4 the only way to end stdin was to close the whole socket,
 *   which also cut the output short;
 * - once the upgrade is done the server sends one empty message on the lowest output channel it
 *   opened ("connected"); empty payloads carry nothing and are skipped;
 * - exit: `{"status":"Success"}` for 0; `{"status":"Failure","reason":"NonZeroExitCode","details":
 *   {"causes":[{"reason":"ExitCode","message":"3"}]}}` for a non-zero exit; any other Failure (an
 *   executable that does not exist, a container that is gone, an internal error) has no ExitCode
 *   cause and is a failure to run, not an exit code.
 */

export const EXEC_SUBPROTOCOL = 'v5.channel.k8s.io';

export const Channel = {
  stdin: 0,
  stdout: 1,
  stderr: 2,
  status: 3,
  resize: 4,
  /** v5 only: `[close, channel]` half-closes that channel. */
  close: 255,
} as const;

/** Stdin is sent in frames of at most this many bytes (the server reads each message whole). */
export const MAX_STDIN_FRAME = 64 * 1024;

/** How a remote command ended, as far as the API server told. */
export type ExecExit =
  /** The command ran and exited with this code (a signal death is 128 + the signal, as in a shell). */
  | { kind: 'exited'; exitCode: number }
  /** The API reported a failure that is not an exit code, e.g. the executable does not exist. */
  | { kind: 'failed'; reason: string; message: string }
  /**
   * The socket closed without a status: the command's fate is unknown (it may still be running).
   * Never to be read as success.
   */
  | { kind: 'unknown'; reason: string };

/** One message on `channel` carrying `payload`. */
export function frame(channel: number, payload?: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(1 + (payload?.length ?? 0));
  out[0] = channel;
  if (payload) out.set(payload, 1);
  return out;
}

/** The v5 half-close of one channel. */
export function closeFrame(channel: number): Buffer {
  return Buffer.from([Channel.close, channel]);
}

/** A resize message; sizes must be integers in 1..65535 (the server's TerminalSize is uint16). */
export function resizeFrame(columns: number, rows: number): Buffer {
  return frame(Channel.resize, Buffer.from(JSON.stringify({ Width: columns, Height: rows })));
}

/** Whether `n` is a valid terminal dimension. */
export function isTerminalDimension(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 65535;
}

interface StatusCause {
  reason?: unknown;
  type?: unknown;
  message?: unknown;
}

/**
 * Reads the status channel's document. `undefined` (nothing received) means the socket closed without
 * a status: unknown, never success.
 */
export function parseExecStatus(raw: Buffer | undefined, closeInfo: string): ExecExit {
  if (!raw || raw.length === 0) return { kind: 'unknown', reason: `the connection closed without an exit status (${closeInfo})` };
  let doc: { status?: unknown; reason?: unknown; message?: unknown; details?: { causes?: StatusCause[] } };
  try {
    doc = JSON.parse(raw.toString('utf8')) as typeof doc;
  } catch {
    return { kind: 'unknown', reason: `the exit status was not JSON: ${raw.subarray(0, 200).toString('utf8')}` };
  }
  if (doc.status === 'Success') return { kind: 'exited', exitCode: 0 };
  const causes = Array.isArray(doc.details?.causes) ? doc.details.causes : [];
  // The apiserver writes the cause under "reason" (metav1.StatusCause.Type is serialized as "reason").
  const exitCause = causes.find((c) => c.reason === 'ExitCode' || c.type === 'ExitCode');
  if (doc.status === 'Failure' && exitCause && typeof exitCause.message === 'string' && /^\d+$/.test(exitCause.message)) {
    return { kind: 'exited', exitCode: Number(exitCause.message) };
  }
  const message = typeof doc.message === 'string' ? doc.message : JSON.stringify(doc).slice(0, 500);
  return { kind: 'failed', reason: typeof doc.reason === 'string' && doc.reason ? doc.reason : 'Unknown', message };
}
