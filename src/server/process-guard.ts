import type { Logger } from '../log.js';

/**
 * The server's last line of defence: an 'error' event nobody listens to, or a rejection nobody awaits,
 * would end the process (and with it every ephemeral sandbox it owns, by the dead-man switch). Both are
 * logged with their stack and counted, and the server keeps serving; each one is a bug to fix, which
 * the log line says. Installed by `startServer`, never on import (a library must not take over a
 * program's process handlers). Returns the uninstall function.
 */
export function installProcessGuard(log: Logger, onFault?: (kind: 'uncaughtException' | 'unhandledRejection') => void): () => void {
  const onException = (err: Error): void => {
    log.error({ err }, 'BUG: uncaught exception; the server keeps serving (please report it)');
    onFault?.('uncaughtException');
  };
  const onRejection = (reason: unknown): void => {
    log.error({ err: reason }, 'BUG: unhandled promise rejection; the server keeps serving (please report it)');
    onFault?.('unhandledRejection');
  };
  process.on('uncaughtException', onException);
  process.on('unhandledRejection', onRejection);
  return () => {
    process.off('uncaughtException', onException);
    process.off('unhandledRejection', onRejection);
  };
}
