import { WardenError } from '../errors.js';
import type { SandboxSpecInput } from '../policy/spec.js';
import type { AppTemplate } from './template.js';
import { REACT_VITE } from './react-vite.js';

export type { AppTemplate } from './template.js';


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
