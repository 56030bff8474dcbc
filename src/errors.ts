/**
 * Warden's errors. Every error a user can meet is a {@link WardenError} with a stable `code`,
 * a message that says what happened and how to fix it, and the underlying `cause` when there is one.
 * HTTP statuses and CLI exit codes are chosen from `code` at the edges (server/, cli/), never here.
 */
export type WardenErrorCode =
  | 'INVALID_SPEC'
  | 'INVALID_ARGUMENT'
  | 'ENGINE_UNAVAILABLE'
  | 'ENGINE_ERROR'
  | 'IMAGE_NOT_FOUND'
  | 'IMAGE_BUILD_FAILED'
  | 'SANDBOX_NOT_FOUND'
  | 'SANDBOX_NOT_RUNNING'
  | 'NAME_CONFLICT'
  | 'RUNTIME_UNAVAILABLE'
  | 'PATH_REFUSED'
  | 'FILE_NOT_FOUND'
  | 'EXEC_TIMEOUT'
  | 'EXEC_ABORTED'
  | 'EXEC_FAILED'
  | 'BOOTSTRAP_FAILED'
  | 'STORE_ERROR'
  | 'EXEC_NOT_FOUND'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'SERVER_UNREACHABLE'
  | 'CONFLICT'
  | 'AGENT_AUTH_MISSING'
  | 'AGENT_API_UNREACHABLE'
  | 'AGENT_FAILED'
  | 'AGENT_CANCELLED'
  | 'TEMPLATE_NOT_READY'
  | 'ROOT_REFUSED'
  | 'PTY_NOT_FOUND'
  | 'PTY_UNSUPPORTED'
  | 'PTY_DETACHED'
  | 'NOT_A_TERMINAL'
  | 'AMBIGUOUS_ID'
  | 'UNSUPPORTED_ON_RUNTIME'
  | 'KEY_TAKEN';

export class WardenError extends Error {
  override readonly name: string = 'WardenError';
  constructor(
    readonly code: WardenErrorCode,
    message: string,
    options?: { cause?: unknown; details?: Record<string, unknown> },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.details = options?.details;
  }
  readonly details: Record<string, unknown> | undefined;
}

/** The engine could not be reached or answered with an unexpected failure. */
export class EngineError extends WardenError {
  override readonly name = 'EngineError';
}

/** A sandbox spec, option or CLI argument was invalid. `issues` lists each field and reason. */
export class ValidationError extends WardenError {
  override readonly name = 'ValidationError';
  constructor(
    message: string,
    readonly issues: Array<{ path: string; message: string }> = [],
  ) {
    super('INVALID_SPEC', message, { details: { issues } });
  }
}

/** An exec ran past its `timeoutMs`; its whole process tree was killed. Partial output is kept. */
export class ExecTimeoutError extends WardenError {
  override readonly name = 'ExecTimeoutError';
  constructor(
    message: string,
    readonly partial: { stdout: string; stderr: string; durationMs: number },
  ) {
    super('EXEC_TIMEOUT', message);
  }
}

export function isWardenError(err: unknown): err is WardenError {
  return err instanceof WardenError;
}

/** Every error code with what it means, for docs and the CLI's `--help`; a test checks none is missing. */
export const ERROR_CODES: Record<WardenErrorCode, string> = {
  INVALID_SPEC: 'A sandbox spec or option is invalid; the message names the field and the fix.',
  INVALID_ARGUMENT: 'A command-line argument or API parameter is invalid.',
  ENGINE_UNAVAILABLE: 'No Docker engine answers; start dockerd or set DOCKER_HOST.',
  ENGINE_ERROR: 'The engine refused or failed an operation.',
  IMAGE_NOT_FOUND: 'The image is not present locally; build it with `warden images build`.',
  IMAGE_BUILD_FAILED: 'An image build failed; the message has the failing step.',
  SANDBOX_NOT_FOUND: 'No Warden sandbox has that id or name (it may have been removed).',
  SANDBOX_NOT_RUNNING: 'The sandbox exists but is not running; start it with `ensure` or `refresh`.',
  NAME_CONFLICT: 'A container with that name already exists.',
  RUNTIME_UNAVAILABLE: 'The requested OCI runtime (e.g. runsc) is not registered with the engine.',
  PATH_REFUSED: 'A file path escapes the allowed roots or goes through a symlink.',
  FILE_NOT_FOUND: 'The file does not exist in the sandbox.',
  EXEC_TIMEOUT: 'A command ran past its timeout; its process tree was killed.',
  EXEC_ABORTED: 'A command was aborted by its AbortSignal; its process tree was killed.',
  EXEC_FAILED: 'A command could not be started in the sandbox.',
  BOOTSTRAP_FAILED: 'Building the offline base image with debootstrap failed.',
  STORE_ERROR: 'The state database (SQLite under WARDEN_HOME) could not be opened or written.',
  EXEC_NOT_FOUND: 'No running command has that exec id on this server (it may have exited).',
  UNAUTHORIZED: 'The Warden server refused the bearer token; set WARDEN_TOKEN to the token in its data dir.',
  NOT_FOUND: 'The named thing (a token, a route) does not exist.',
  FORBIDDEN: "The token's role does not allow this request (read-only: GETs; operator: all but panic and tokens; admin: all).",
  SERVER_UNREACHABLE: 'No Warden server answers at WARDEN_URL; start it with `warden up` or unset WARDEN_URL.',
  CONFLICT: 'The request conflicts with the current state (e.g. the sandbox is already being removed).',
  AGENT_AUTH_MISSING: 'An agent run needs a key or credentials file Warden does not have; the message names the variable or file.',
  AGENT_API_UNREACHABLE: "The agent's model API cannot be reached from its sandbox; check the provider's base URL and the network policy.",
  AGENT_FAILED: 'The agent CLI could not be started, or ended without a result; the message has its last output.',
  AGENT_CANCELLED: 'The agent run was cancelled (or hit its timeout); its whole process tree was killed.',
  TEMPLATE_NOT_READY: "A template's dev server exited or did not answer in time; the message has its last log lines.",
  ROOT_REFUSED: 'A workload as uid 0 was asked for without `allowRoot: true` in the sandbox spec (root would share the guard\'s identity).',
  PTY_NOT_FOUND: 'No terminal session has that id in the sandbox (it ended, or the sandbox was restarted); list them with `sb.ptys.list()`.',
  PTY_UNSUPPORTED: "The sandbox's image cannot hold a terminal session (Warden's session holder needs perl, as every Debian-based image has).",
  PTY_DETACHED: 'This handle was detached from its terminal session; the session goes on: connect again with `sb.ptys.connect(id)`.',
  NOT_A_TERMINAL: '`-t` needs a terminal on stdin; drop `-t` (keep `-i` to pipe stdin) when input comes from a file or a pipe.',
  AMBIGUOUS_ID: 'An id prefix matches more than one sandbox; type more of the id (the message lists the matches).',
  UNSUPPORTED_ON_RUNTIME: "The sandbox runtime (WARDEN_RUNTIME) cannot do what was asked; the message names the missing capability and what to change (the spec, or a runtime that has it).",
  KEY_TAKEN: 'Another sandbox already holds that key (one sandbox per key); ensure() it, or remove it first.',
};
