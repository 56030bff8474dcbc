import { EngineError, WardenError } from '../../errors.js';

/** The HTTP status of a dockerode error, if it has one. */
export function statusOf(err: unknown): number | undefined {
  const s = (err as { statusCode?: unknown } | null)?.statusCode;
  return typeof s === 'number' ? s : undefined;
}

function engineMessage(err: unknown): string {
  const e = err as { json?: { message?: string }; reason?: string; message?: string };
  return e?.json?.message ?? e?.message ?? String(err);
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOENT', 'EACCES', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH']);

/**
 * Translate an engine failure into a WardenError, by status code and errno, never by message text.
 * `what` says what Warden was doing ("creating sandbox sbx-…").
 */
export function translateEngineError(err: unknown, what: string): WardenError {
  if (err instanceof WardenError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'EACCES' || code === 'EPERM') {
    const gid = process.getgroups?.().join(',') ?? '?';
    return new EngineError(
      'ENGINE_UNAVAILABLE',
      `${what}: permission denied on the engine socket (${code}; this process runs as uid ${process.getuid?.() ?? '?'}, groups ${gid}). Add the user to the socket's group (\`stat -c %g /var/run/docker.sock\`); Warden in Docker: set DOCKER_GID to it (scripts/docker-start.sh does).`,
      { cause: err },
    );
  }
  if (typeof code === 'string' && UNREACHABLE.has(code)) {
    return new EngineError(
      'ENGINE_UNAVAILABLE',
      `${what}: no Docker engine answers (${code}). Start it (e.g. \`dockerd &\` or \`systemctl start docker\`), or set DOCKER_HOST; \`warden doctor\` checks.`,
      { cause: err },
    );
  }
  switch (statusOf(err)) {
    case 404:
      return new WardenError('SANDBOX_NOT_FOUND', `${what}: not found (${engineMessage(err)})`, { cause: err });
    case 409:
      return new WardenError('NAME_CONFLICT', `${what}: conflict (${engineMessage(err)})`, { cause: err });
    default:
      return new EngineError('ENGINE_ERROR', `${what}: the engine failed: ${engineMessage(err)}`, { cause: err });
  }
}

/**
 * An id or name as it may go into an Engine API path (`/containers/{id}/json`): dockerode pastes it in
 * unescaped, so `../../etc` would leave the route (the engine answers with a redirect dockerode then
 * follows to a bogus host, an 'error' event nobody listens to). Names the engine can hold pass as they
 * are; anything else is percent-encoded and so names nothing (404).
 */
export function engineRef(ref: string): string {
  return /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(ref) ? ref : encodeURIComponent(ref);
}
