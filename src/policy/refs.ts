import { z } from 'zod';
import { WardenError } from '../errors.js';

/**
 * What a sandbox reference can be: a Warden id (`sbx-0123456789ab`), a name (`my-app`, `warden-my-app`,
 * `k-<key>`), or an engine container id. All are spelled with the characters the engine allows in a
 * container name, so anything else (`../../etc`, `a/b`, unicode, control characters) names no sandbox
 * and is refused at the edge, before it reaches an Engine API path.
 */
export const SANDBOX_REF_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,1099}$/;

const REF_HINT = 'a sandbox id (sbx-0123456789ab), name or container id: letters, digits, _ . - starting with a letter or digit';

/** One schema for a sandbox reference: the SDK, the CLI and the HTTP routes use it. */
export const SandboxRefSchema = z.string().regex(SANDBOX_REF_RE, `must be ${REF_HINT}`).describe('Sandbox id, name or container id.');

/** A sandbox reference, or INVALID_ARGUMENT naming what is wrong and what a reference looks like. */
export function checkSandboxRef(ref: unknown, what = 'sandbox'): string {
  if (typeof ref === 'string' && SANDBOX_REF_RE.test(ref)) return ref;
  const shown = typeof ref === 'string' ? JSON.stringify(ref.length > 80 ? `${ref.slice(0, 80)}…` : ref) : typeof ref;
  throw new WardenError('INVALID_ARGUMENT', `${what} ${shown} is not ${REF_HINT}; \`warden ps\` lists the sandboxes`);
}

/**
 * Control characters have no place in keys, labels or names (they end up in container labels, logs and
 * terminal output).
 */
export const NO_CONTROL_RE = /^[^\u0000-\u001f\u007f]*$/;
