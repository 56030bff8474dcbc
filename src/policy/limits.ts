import { constants } from 'node:os';
import { z } from 'zod';
import { WardenError } from '../errors.js';

/**
 * Linux refuses an exec whose single argument or `NAME=value` string is over MAX_ARG_STRLEN (32 pages,
 * 128 KiB) or whose argv + environment together pass ARG_MAX (a quarter of the 8 MiB stack). The
 * engine then fails the exec with a message that reads like a broken image; Warden refuses before,
 * naming the field. The total is kept well under the limit: the image's own environment counts too.
 */
export const MAX_ARG_BYTES = 128 * 1024 - 1;
export const MAX_EXEC_TOTAL_BYTES = 1024 * 1024;

/** An environment variable name. */
export const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Environment variables as every edge takes them: names checked, each `NAME=value` under the kernel's limit. */
export const EnvSchema = z
  .record(z.string().regex(ENV_NAME_RE, 'env names are letters, digits and _ (not starting with a digit)'), z.string())
  .superRefine((env, ctx) => {
    let total = 0;
    for (const [k, v] of Object.entries(env)) {
      const n = Buffer.byteLength(k) + 1 + Buffer.byteLength(v);
      total += n + 1;
      if (v.includes('\0')) ctx.addIssue({ code: 'custom', path: [k], message: 'must not contain NUL characters' });
      if (n > MAX_ARG_BYTES) ctx.addIssue({ code: 'custom', path: [k], message: `${k}=... is ${n} bytes; Linux takes at most ${MAX_ARG_BYTES} per variable. Put large data in a file (writeFiles) and pass its path` });
    }
    if (total > MAX_EXEC_TOTAL_BYTES) ctx.addIssue({ code: 'custom', message: `the environment is ${total} bytes; keep it under ${MAX_EXEC_TOTAL_BYTES} (put large data in files)` });
  });

/** A command's argv: a non-empty array of strings, each under the kernel's per-argument limit. */
export const ArgvSchema = z
  .array(z.string())
  .min(1, "a command is a non-empty array of strings, e.g. ['bash', '-lc', 'npm test']")
  .superRefine((argv, ctx) => {
    let total = 0;
    for (const [i, a] of argv.entries()) {
      const n = Buffer.byteLength(a);
      total += n + 1;
      if (a.includes('\0')) ctx.addIssue({ code: 'custom', path: [i], message: 'must not contain NUL characters' });
      if (n > MAX_ARG_BYTES) ctx.addIssue({ code: 'custom', path: [i], message: `argument ${i} is ${n} bytes; Linux takes at most ${MAX_ARG_BYTES} per argument. Pass large data on stdin or in a file` });
    }
    if (total > MAX_EXEC_TOTAL_BYTES) ctx.addIssue({ code: 'custom', message: `the arguments are ${total} bytes together; keep them under ${MAX_EXEC_TOTAL_BYTES} (use stdin or a file)` });
  });

/** Signal names Node (and so the kill(1) inside the sandbox) knows: SIGTERM, TERM, sigterm or 15 all mean SIGTERM. */
const SIGNALS = constants.signals as Record<string, number>;

/** `SIGTERM`, `TERM`, `term` or `15` -> `SIGTERM`; undefined when it names no signal. */
export function normalizeSignal(sig: unknown): string | undefined {
  if (typeof sig === 'number' || (typeof sig === 'string' && /^\d{1,2}$/.test(sig))) {
    const n = Number(sig);
    return Object.entries(SIGNALS).find(([name, v]) => v === n && name !== 'SIGIOT' && name !== 'SIGPOLL')?.[0];
  }
  if (typeof sig !== 'string') return undefined;
  const up = sig.trim().toUpperCase();
  const name = up.startsWith('SIG') ? up : `SIG${up}`;
  return SIGNALS[name] !== undefined ? name : undefined;
}

/** A signal as the API takes it, normalised to its SIG name. */
export const SignalSchema = z.string().transform((v, ctx) => {
  const s = normalizeSignal(v);
  if (!s) {
    ctx.addIssue({ code: 'custom', message: `'${v}' is not a signal; use a name such as SIGTERM, SIGINT, SIGKILL, SIGHUP or SIGUSR1 (or its number)` });
    return z.NEVER;
  }
  return s;
});

/** The signal, or INVALID_ARGUMENT saying what a signal looks like (SDK and CLI). */
export function checkSignal(sig: unknown, what = 'signal'): string {
  const s = normalizeSignal(sig);
  if (!s) throw new WardenError('INVALID_ARGUMENT', `${what} '${String(sig)}' is not a signal; use a name such as SIGTERM, SIGINT, SIGKILL, SIGHUP or SIGUSR1 (or its number)`);
  return s;
}
