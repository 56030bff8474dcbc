import { WardenError } from '../errors.js';
import type { SandboxSpecInput } from '../policy/spec.js';
import { REACT_VITE } from './react-vite.js';

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

/** The templates Warden knows, by name. */
export const TEMPLATES: Readonly<Record<string, AppTemplate>> = { [REACT_VITE.name]: REACT_VITE };

/** The template of that name; INVALID_SPEC naming the known ones otherwise. */
export function getTemplate(name: string): AppTemplate {
  const t = TEMPLATES[name];
  if (!t) throw new WardenError('INVALID_SPEC', `template: unknown template '${name}'; known: ${Object.keys(TEMPLATES).join(', ')}`);
  return t;
}

/**
 * The caller's spec on top of the template's defaults: top-level fields replace, `resources` and `egress`
 * merge field by field, `ports` always include the template's port, `egress.presets` add to the template's.
 */
export function withTemplate(given: SandboxSpecInput, t: AppTemplate): SandboxSpecInput {
  const d = t.defaults;
  // a field given as undefined means "not given" (the template's default stays), as zod would treat it
  const input = Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)) as SandboxSpecInput;
  const ports = [...(input.ports ?? [])];
  const has = (p: (typeof ports)[number]): number => (typeof p === 'number' ? p : p.container);
  if (!ports.some((p) => has(p) === t.port)) ports.push(t.port);
  return {
    ...d,
    ...input,
    resources: { ...d.resources, ...input.resources },
    egress: {
      ...d.egress,
      ...input.egress,
      presets: [...new Set([...(d.egress?.presets ?? []), ...(input.egress?.presets ?? [])])],
    },
    ports,
    template: t.name,
  };
}
