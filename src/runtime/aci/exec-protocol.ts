/**
 * The framing spoken with `warden-aci-exec` (guest/aci-exec.c, a mode of the guard) over ACI's one terminal
 * stream: lines of printable ASCII, `~` + a type letter + a payload, so neither the tty's line
 * discipline nor ACI's UTF-8 text frames can change a byte. Pure functions only; the session lives in
 * exec-framing.ts. The C file's header comment is the reference for the record types.
 */
import { WardenError } from '../../errors.js';
import { GUEST_DIR } from '../../guest/argv.js';

/** What ACI's executeCommand starts: the guard under the name that selects its framed-exec mode. */
export const ACI_EXEC = `${GUEST_DIR}/warden-aci-exec`;

/** Protocol version this side speaks (the helper announces its own in the hello record). */
export const PROTOCOL_VERSION = 2;
/** Raw bytes per stdin record (64 KiB of base64 on the wire, well under the helper's line limit). */
export const STDIN_CHUNK = 48 * 1024;
/** Longest line accepted from the helper before the stream is declared corrupt. */
export const MAX_RECORD = 64 * 1024;

/** What the command should be: everything Docker's exec create would take, minus the user. */
export interface FramedExecRequest {
  /** argv; argv[0] is looked up in PATH. */
  argv: string[];
  /** Set over the container's environment (names must be non-empty and have no `=`). */
  env?: Record<string, string>;
  cwd?: string;
  /** Open a pipe to the command's stdin (else it reads /dev/null). */
  stdin?: boolean;
  /** The helper kills the command's tree after this many seconds, with Warden gone or not. */
  timeoutSeconds?: number;
  /** The helper kills the command's tree when no record arrived for this long (the client pings). */
  deadmanSeconds?: number;
  /** The exec's mark (WARDEN_EXEC_ID), how the helper finds the tree again after setsid/double forks. */
  execId?: string;
  /**
   * When the client is lost (hangup, or silent past deadmanSeconds), let the command go on unseen
   * instead of killing its tree (and `FramedExec.detach()` works). Warden's ordinary execs ask for it.
   */
  keepOnLoss?: boolean;
  /** Run the command on a new terminal of this size (one output stream; stdin's end is the terminal's EOF character). */
  tty?: { rows: number; cols: number };
}

/** One record from the helper. */
export type HelperRecord =
  | { type: 'hello'; version: number; window: number }
  | { type: 'started'; pid: number }
  | { type: 'stdout'; data: Buffer }
  | { type: 'stderr'; data: Buffer }
  | { type: 'credit'; bytes: number }
  | { type: 'exit'; exitCode: number; signal?: number; reason?: ExitReason }
  /** The helper is alive (sent when it had nothing else to write for a while). */
  | { type: 'ping' }
  /** The helper gave up on this client (`deadman`: no record from it for the dead-man seconds); the command goes on unseen. */
  | { type: 'lost'; reason: string }
  | { type: 'fatal'; message: string };

/** Why the helper itself ended the command, when it did. */
export type ExitReason = 'timeout' | 'deadman' | 'hangup';

const NUL = '\0';

/** The request record's payload: NUL-terminated tagged fields (see the C file). */
export function encodeRequest(req: FramedExecRequest): Buffer {
  if (req.argv.length === 0) throw new WardenError('INVALID_ARGUMENT', 'exec needs a command: argv is empty');
  const fields: string[] = [];
  for (const a of req.argv) {
    if (a.includes(NUL)) throw new WardenError('INVALID_ARGUMENT', 'an argv element contains a NUL byte, which no process can receive');
    fields.push(`a${a}`);
  }
  for (const [k, v] of Object.entries(req.env ?? {})) {
    if (!k || k.includes('=') || k.includes(NUL) || v.includes(NUL)) {
      throw new WardenError('INVALID_ARGUMENT', `environment variable ${JSON.stringify(k)} is invalid: names are non-empty without '=' and neither name nor value may hold a NUL byte`);
    }
    fields.push(`e${k}=${v}`);
  }
  if (req.cwd !== undefined) {
    if (!req.cwd || req.cwd.includes(NUL)) throw new WardenError('INVALID_ARGUMENT', 'cwd must be a non-empty path without NUL bytes');
    fields.push(`c${req.cwd}`);
  }
  if (req.stdin) fields.push('i1');
  for (const [tag, v, name] of [['t', req.timeoutSeconds, 'timeoutSeconds'], ['d', req.deadmanSeconds, 'deadmanSeconds']] as const) {
    if (v === undefined) continue;
    if (!Number.isInteger(v) || v <= 0) throw new WardenError('INVALID_ARGUMENT', `${name} must be a positive whole number of seconds, got ${v}`);
    fields.push(`${tag}${v}`);
  }
  if (req.execId !== undefined) {
    if (!/^[A-Za-z0-9_.-]{1,100}$/.test(req.execId)) throw new WardenError('INVALID_ARGUMENT', 'execId must be 1-100 characters of [A-Za-z0-9_.-]');
    fields.push(`m${req.execId}`);
  }
  if (req.keepOnLoss) fields.push('k1');
  if (req.tty) fields.push(`y${terminalSize(req.tty.rows, req.tty.cols)}`);
  return Buffer.from(fields.map((f) => f + NUL).join(''), 'utf8');
}

/** `~R...` */
export function requestRecord(req: FramedExecRequest): string {
  return `~R${encodeRequest(req).toString('base64')}\n`;
}

/** `~I...` records for `data`, each at most STDIN_CHUNK raw bytes. */
export function stdinRecords(data: Buffer): string[] {
  const out: string[] = [];
  for (let i = 0; i < data.length; i += STDIN_CHUNK) out.push(`~I${data.subarray(i, i + STDIN_CHUNK).toString('base64')}\n`);
  return out;
}

export const EOF_RECORD = '~Z\n';
export const PING_RECORD = '~P\n';
/** The client goes away; the command goes on unseen (needs keepOnLoss to survive the hangup that follows). */
export const DETACH_RECORD = '~D\n';
/** The exit record arrived: the helper may exit (it waits for this, so the exit record is never the last thing an engine could drop). */
export const ACK_RECORD = '~A\n';
function terminalSize(rows: number, cols: number): string {
  for (const [v, name] of [[rows, 'rows'], [cols, 'cols']] as const) {
    if (!Number.isInteger(v) || v < 1 || v > 10_000) throw new WardenError('INVALID_ARGUMENT', `terminal ${name} must be a whole number from 1 to 10000, got ${v}`);
  }
  return `${rows} ${cols}`;
}

/** `~W<rows> <cols>`: resize the command's terminal. */
export function resizeRecord(rows: number, cols: number): string {
  return `~W${terminalSize(rows, cols)}\n`;
}

export function signalRecord(signal: number): string {
  if (!Number.isInteger(signal) || signal < 1 || signal > 64) throw new WardenError('INVALID_ARGUMENT', `signal must be 1-64, got ${signal}`);
  return `~K${signal}\n`;
}

const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function b64(payload: string, what: string): Buffer {
  if (!B64.test(payload)) throw protocolError(`bad base64 in a ${what} record`);
  return Buffer.from(payload, 'base64');
}

export function protocolError(detail: string): WardenError {
  return new WardenError('EXEC_FAILED', `the exec stream from warden-aci-exec is corrupt (${detail}); the command's output cannot be trusted`);
}

/** Parses one line (without its newline) from the helper. Throws a coded error on anything else. */
export function parseHelperRecord(line: string): HelperRecord {
  if (line.length < 2 || line[0] !== '~') throw protocolError(`unexpected line ${JSON.stringify(line.slice(0, 40))}`);
  const p = line.slice(2);
  switch (line[1]) {
    case 'H': {
      const m = /^(\d+) (\d+)$/.exec(p);
      if (!m) throw protocolError('bad hello');
      return { type: 'hello', version: Number(m[1]), window: Number(m[2]) };
    }
    case 'S': {
      if (!/^\d+$/.test(p)) throw protocolError('bad start record');
      return { type: 'started', pid: Number(p) };
    }
    case 'O':
      return { type: 'stdout', data: b64(p, 'stdout') };
    case 'E':
      return { type: 'stderr', data: b64(p, 'stderr') };
    case 'C': {
      if (!/^\d+$/.test(p)) throw protocolError('bad credit record');
      return { type: 'credit', bytes: Number(p) };
    }
    case 'X': {
      const m = /^([cs])(\d+)(?:,(timeout|deadman|hangup))?$/.exec(p);
      if (!m) throw protocolError('bad exit record');
      const n = Number(m[2]);
      const reason = m[3] as ExitReason | undefined;
      return m[1] === 'c'
        ? { type: 'exit', exitCode: n, ...(reason ? { reason } : {}) }
        : { type: 'exit', exitCode: 128 + n, signal: n, ...(reason ? { reason } : {}) };
    }
    case 'P':
      if (p) throw protocolError('bad ping record');
      return { type: 'ping' };
    case 'L':
      if (!/^[a-z]{1,32}$/.test(p)) throw protocolError('bad lost record');
      return { type: 'lost', reason: p };
    case 'F':
      return { type: 'fatal', message: b64(p, 'fatal').toString('utf8') };
    default:
      throw protocolError(`unknown record type ${JSON.stringify(line[1])}`);
  }
}

/**
 * Splits the terminal's text into records. Before the hello, anything is noise (a banner, the tty's
 * echo of nothing, bytes written before raw mode took effect) and is dropped; from the hello on, every
 * line must be a record.
 */
export class RecordReader {
  private partial = '';
  private greeted = false;
  private noise = '';

  /** Feed text from the terminal; returns the complete records in it. */
  push(text: string): HelperRecord[] {
    const out: HelperRecord[] = [];
    let s = this.partial + text;
    let nl: number;
    while ((nl = s.indexOf('\n')) >= 0) {
      const line = s.slice(0, nl).replace(/\r/g, '');
      s = s.slice(nl + 1);
      if (!this.greeted) {
        const at = line.lastIndexOf('~H');
        if (at < 0) {
          this.noise = `${this.noise}${line}\n`.slice(-300);
          continue;
        }
        const rec = parseHelperRecord(line.slice(at));
        this.greeted = true;
        out.push(rec);
        continue;
      }
      if (line.length === 0) continue;
      out.push(parseHelperRecord(line));
    }
    if (s.length > MAX_RECORD) {
      if (this.greeted) throw protocolError(`a record longer than ${MAX_RECORD} characters`);
      s = s.slice(-16); // noise before the hello: keep only what could start "~H"
    }
    this.partial = s;
    return out;
  }

  /** The end of what arrived that was not a record (for error messages). */
  rest(): string {
    return `${this.noise}${this.partial}`.slice(-300);
  }
}
