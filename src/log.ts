import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Warden's logger: pino, JSON lines on stderr so stdout stays free for command output.
 * Level from `WARDEN_LOG_LEVEL` (default `warn` so the CLI stays quiet).
 */
export function createLogger(level = process.env.WARDEN_LOG_LEVEL ?? 'warn'): Logger {
  return pino({ level, base: { app: 'warden' } }, pino.destination(2));
}
