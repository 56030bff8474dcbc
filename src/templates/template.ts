import type { SandboxSpecInput } from '../policy/spec.js';

/**
 * An app template: an image with a base app and a dev server, plus the spec defaults that suit it.
 * `warden.create({ template: name, key })` starts the sandbox, starts the dev server and returns once it
 * answers; `sandbox.url(port)` is then the live preview.
 */
export interface AppTemplate {
  name: string;
  description: string;
  /** The catalog image (`warden images build <imageName>`). */
  imageName: string;
  /** The dev server's port inside the sandbox. */
  port: number;
  /** Spec defaults; what the caller gives wins (resources and egress are merged field by field). */
  defaults: SandboxSpecInput;
  /**
   * The dev server, run in the background as the sandbox user from /workspace; it appends to `logFile`,
   * holds an flock on `$WARDEN_LOCK_FILE` for its life (a start while one runs is a no-op: one server per
   * sandbox, whoever calls) and writes its pid to `$WARDEN_PID_FILE`, which tells "still starting" from
   * "exited".
   */
  start: string[];
  /** Where the dev server's output goes (tmpfs; its last lines go into readiness errors). */
  logFile: string;
  /** The readiness check: GET `path` through the published port answers with a status below 500. */
  readiness: { path: string; timeoutMs: number };
}
