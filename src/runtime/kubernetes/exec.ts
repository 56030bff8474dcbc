import { PassThrough, Readable, Transform, Writable } from 'node:stream';
import type { KubeConfig } from '@kubernetes/client-node';
import { WardenError } from '../../errors.js';
import { GUARD } from '../../guest/argv.js';
import type { ExecHandle, ExecRequest } from '../sandbox-runtime.js';
import { openExec, type ExecStream } from './exec-stream.js';
import { CONTAINER } from './names.js';

/** What the guard's `env --tty` writes before it reads the environment (the terminal is raw by then). */
export const ENV_MARKER = Buffer.from('\u001b]5379;warden-env\u0007');
/** What the guard's `env --detach` writes once it has read the environment. */
export const READY_MARKER = Buffer.from('\u001b]5379;warden-ready\u0007');

/**
 * The environment block the guard's `env --stdin-env` reads: "<length>\n" then NUL-terminated K=V
 * entries. Kubernetes' exec carries no environment, and its argv travels in the request's URL (API
 * server and audit logs), so values, secrets among them, go over stdin instead.
 */
export function envBlock(env: Record<string, string>): Buffer {
  const entries = Object.entries(env).map(([k, v]) => {
    if (!k || k.includes('=') || k.includes('\0') || v.includes('\0')) {
      throw new WardenError('INVALID_ARGUMENT', `environment variable ${JSON.stringify(k)}: names must be non-empty without '=' or NUL, values without NUL`);
    }
    return `${k}=${v}\0`;
  });
  const body = Buffer.from(entries.join(''), 'utf8');
  return Buffer.concat([Buffer.from(`${body.length}\n`), body]);
}

/** argv of an exec through the guard's `env` mode. */
export function envArgv(req: Pick<ExecRequest, 'cmd' | 'cwd'> & { tty?: boolean; detach?: boolean }): string[] {
  return [GUARD, 'env', '--stdin-env', ...(req.tty ? ['--tty'] : []), ...(req.detach ? ['--detach'] : []), ...(req.cwd ? ['--cwd', req.cwd] : []), '--', ...req.cmd];
}

/**
 * Strips `marker` from the start of a stream (it must be its first bytes) and resolves `seen` when it
 * went by; everything after passes through with backpressure. Output that does not start with the
 * marker (the guard could not run) passes through whole and `seen` rejects.
 */
export function stripMarker(marker: Buffer): { transform: Transform; seen: Promise<void> } {
  let head: Buffer | undefined = Buffer.alloc(0);
  let resolveSeen!: () => void;
  let rejectSeen!: (e: Error) => void;
  const seen = new Promise<void>((res, rej) => {
    resolveSeen = res;
    rejectSeen = rej;
  });
  seen.catch(() => undefined);
  const transform = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      if (head === undefined) return cb(null, chunk);
      head = Buffer.concat([head, chunk]);
      const n = Math.min(head.length, marker.length);
      if (!head.subarray(0, n).equals(marker.subarray(0, n))) {
        const all = head;
        head = undefined;
        rejectSeen(new WardenError('EXEC_FAILED', `the guard did not start the command: ${all.subarray(0, 300).toString('utf8')}`));
        return cb(null, all);
      }
      if (head.length < marker.length) return cb();
      const rest = head.subarray(marker.length);
      head = undefined;
      resolveSeen();
      cb(null, rest.length ? rest : undefined);
    },
    flush(cb) {
      if (head !== undefined) {
        rejectSeen(new WardenError('EXEC_FAILED', `the command ended before the guard took its environment${head.length ? `: ${head.toString('utf8')}` : ''}`));
        if (head.length) this.push(head);
      }
      cb();
    },
  });
  return { transform, seen };
}

/** The terminal's end of input (Ctrl-D): what ends a program's input on a tty. */
const TTY_EOF = Buffer.from([4]);

/**
 * A Writable that holds writes until `ready` resolves, then forwards to `inner` (with its backpressure).
 * With `ttyEof`, its end types Ctrl-D instead: on a terminal, closing the exec's stdin does not end the
 * program's input (the pseudo-terminal stays open), so it ends as a user would end it.
 */
function gated(inner: Writable, ready: Promise<void>, ttyEof = false): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      ready.then(
        () => inner.write(chunk, (err) => cb(err ?? null)),
        (err: Error) => cb(err),
      );
    },
    final(cb) {
      ready.then(
        // on a terminal, Ctrl-D and no half-close: closing the exec's stdin there can hang up the
        // terminal under the program (seen: its last output lost) before it acted on the Ctrl-D
        () => (ttyEof ? inner.write(TTY_EOF, (err) => cb(err ?? null)) : inner.end(() => cb())),
        (err: Error) => cb(err),
      );
    },
    destroy(err, cb) {
      inner.destroy(err ?? undefined);
      cb(err);
    },
  });
}

function ended(s: Readable): Promise<void> {
  return new Promise((resolve) => {
    if (s.readableEnded || s.destroyed) return resolve();
    s.once('end', resolve);
    s.once('close', resolve);
  });
}

/** The exit code of an ended exec stream: -1 when the server could not tell; EXEC_FAILED when it could not run. */
async function exitCode(ex: ExecStream): Promise<number> {
  const exit = await ex.exit;
  if (exit.kind === 'exited') return exit.exitCode;
  if (exit.kind === 'failed') throw new WardenError('EXEC_FAILED', `the command could not run: ${exit.message} (${exit.reason})`);
  return -1;
}

/**
 * Runs `req` in the sandbox container of `pod` through the guard's `env` mode: environment and working
 * directory over stdin (never in the URL), stdout/stderr apart with backpressure, stdin closed when the
 * caller did not ask for it (the command reads EOF, as on Docker) or when it ends it.
 */
export async function podExec(kc: KubeConfig, namespace: string, pod: string, req: ExecRequest, signal?: AbortSignal): Promise<ExecHandle> {
  const block = envBlock(req.env);
  const tty = req.tty;
  const ex = await openExec(kc, {
    namespace,
    pod,
    container: CONTAINER.sandbox,
    command: envArgv({ cmd: req.cmd, ...(req.cwd ? { cwd: req.cwd } : {}), tty: Boolean(tty) }),
    stdin: true,
    tty: Boolean(tty),
    ...(tty ? { terminalSize: { columns: tty.cols, rows: tty.rows } } : {}),
    ...(signal ? { signal } : {}),
  });
  const raw = ex.stdin as Writable;
  let stdout: Readable = ex.stdout;
  let envSent: Promise<void>;
  const send = (): Promise<void> => new Promise<void>((resolve, reject) => raw.write(block, (err) => (err ? reject(err) : resolve())));
  if (tty) {
    // the guard puts the terminal in raw mode and says so before reading: nothing is echoed
    const { transform, seen } = stripMarker(ENV_MARKER);
    stdout = ex.stdout.pipe(transform);
    envSent = seen.then(send);
  } else {
    envSent = send();
  }
  envSent.catch(() => undefined);
  // no stdin wanted: closed once the environment went (the command reads EOF, as on Docker); on a
  // terminal it stays open, since a half-close there can hang the terminal up under the command
  if (!req.stdin && !tty) void envSent.then(() => raw.end(), () => undefined);
  // a terminal has one stream: stderr is empty, and ended at once (nobody need read it)
  const stderr = ex.stderr ?? new PassThrough().end().resume();
  let detached = false;
  const handle: ExecHandle = {
    stdout,
    stderr,
    wait: async () => {
      if (detached) return -1;
      await Promise.all([ended(stdout), ended(stderr)]);
      return detached ? -1 : exitCode(ex);
    },
    // the command goes on (closing the exec's socket stops nothing but its stdin); what it still
    // writes is dropped, and wait() answers -1 (not known) at once
    detach: () => {
      detached = true;
      ex.close();
      stdout.resume();
      stderr.resume();
    },
  };
  if (req.stdin) handle.stdin = gated(raw, envSent, Boolean(tty));
  if (tty) handle.resize = async (cols, rows) => ex.resize(cols, rows);
  return handle;
}

/** Starts `req` and returns once the guard has its environment; the command runs on with no streams. */
export async function podExecDetached(kc: KubeConfig, namespace: string, pod: string, req: Omit<ExecRequest, 'stdin' | 'tty'>): Promise<void> {
  const block = envBlock(req.env);
  const ex = await openExec(kc, {
    namespace,
    pod,
    container: CONTAINER.sandbox,
    command: envArgv({ cmd: req.cmd, ...(req.cwd ? { cwd: req.cwd } : {}), detach: true }),
    stdin: true,
  });
  const { transform, seen } = stripMarker(READY_MARKER);
  ex.stdout.pipe(transform).resume();
  ex.stderr?.resume();
  ex.stdin?.end(block);
  try {
    await Promise.race([seen, ex.exit.then((e) => Promise.reject(new WardenError('EXEC_FAILED', `the command did not start: ${JSON.stringify(e)}`)))]);
  } finally {
    ex.close();
  }
}
