import { z } from 'zod';
import type { SandboxRecord } from '../runtime/sandbox-runtime.js';
import type { SandboxSpec } from './spec.js';

/**
 * The one typed record of a sandbox (runtime/sandbox-runtime.ts `SandboxRecord`): everything Warden
 * writes about it that is longer than a label value may be. Each backend stores it in one place (Docker:
 * the `warden.record` label; Kubernetes: an annotation; ACI: tags) and reads it back through
 * {@link parseRecord}, the only reader.
 */
export const SandboxRecordSchema = z.object({
  version: z.literal(1),
  id: z.string().min(1),
  spec: z.record(z.string(), z.unknown()).describe('The spec as given after parsing, env by names only.'),
  owner: z.string(),
  instance: z.string().min(1),
  key: z.string().min(1).optional(),
  lifetime: z.enum(['ephemeral', 'persistent']),
  createdAt: z.string().min(1),
  policyHash: z.string(),
  user: z.object({ uid: z.number().int().min(0), gid: z.number().int().min(0) }),
  refresh: z.object({ count: z.number().int().min(0), last: z.string(), reason: z.string() }).optional(),
  poolSignature: z.string().optional(),
});

/** A record from its stored JSON (or object); undefined when it is not one (a foreign or damaged label). */
export function parseRecord(stored: unknown): SandboxRecord | undefined {
  let value = stored;
  if (typeof stored === 'string') {
    try {
      value = JSON.parse(stored);
    } catch {
      return undefined;
    }
  }
  const r = SandboxRecordSchema.safeParse(value);
  if (!r.success) return undefined;
  const { key, refresh, poolSignature, ...rest } = r.data;
  return { ...rest, ...(key !== undefined ? { key } : {}), ...(refresh ? { refresh } : {}), ...(poolSignature !== undefined ? { poolSignature } : {}) };
}

/** The record as one JSON text (what a backend stores). */
export function encodeRecord(r: SandboxRecord): string {
  return JSON.stringify(r);
}

/** What the record keeps of a spec: everything but env values (they live only in the unit's environment). */
export function storedSpec(spec: SandboxSpec): Record<string, unknown> {
  return { ...spec, env: Object.keys(spec.env) };
}

/** The spec fields Warden reads back from a record (all optional: records of older versions lack some). */
export type RecordSpec = Partial<Omit<SandboxSpec, 'env'>> & { env?: string[] };

/** The record's spec, typed for reading. */
export function recordSpec(r: SandboxRecord): RecordSpec {
  return r.spec as RecordSpec;
}

/**
 * The spec a sandbox was created from, env values restored from the unit's environment (names the unit
 * no longer has are left out).
 */
export function specOfRecord(r: SandboxRecord, env: Record<string, string> | undefined): Partial<SandboxSpec> & { env: Record<string, string> } {
  const spec = recordSpec(r);
  const names = Array.isArray(spec.env) ? spec.env : [];
  return { ...(spec as Partial<SandboxSpec>), env: Object.fromEntries(names.filter((k) => env?.[k] !== undefined).map((k) => [k, env![k]!])) };
}
