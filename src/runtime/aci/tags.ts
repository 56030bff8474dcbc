import { createHash } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { z } from 'zod';
import { WardenError } from '../../errors.js';
import { SandboxRecordSchema } from '../../policy/record.js';
import type { SandboxRecord } from '../sandbox-runtime.js';

/**
 * How a sandbox is written on its container group: ARM tags (at most 50 per resource, names up to 512
 * characters without `<>%&\?/`, values up to 256). Short tags select (`warden.managed`, `warden.id`,
 * `warden.instance`, ...); everything longer (the typed record, the labels, the working directory)
 * is one JSON document, deflated, base64url'd and split over `warden.r.0`, `warden.r.1`, ....
 */
export const TAG = {
  managed: 'warden.managed',
  id: 'warden.id',
  instance: 'warden.instance',
  name: 'warden.name',
  keyHash: 'warden.key-hash',
  owner: 'warden.owner',
  lifetime: 'warden.lifetime',
  pool: 'warden.pool',
  /** A warm pool member whose template's readiness passed (markPoolReady): only then may it be claimed. */
  poolReady: 'warden.pool-ready',
  createdAt: 'warden.created-at',
  /** Ephemeral units: the owning process's link, and until when its lease runs (epoch ms). */
  link: 'warden.link',
  leaseUntil: 'warden.lease-until',
  /** The max runtime's end (epoch ms): the sweep stops a group still running past it. */
  deadline: 'warden.deadline',
  record: 'warden.r.',
} as const;

const MAX_TAGS = 50;
const MAX_VALUE = 256;

/** What the record chunks hold. */
export interface StoredUnit {
  record: SandboxRecord;
  labels: Record<string, string>;
  workdir: string;
}

const StoredSchema = z.object({ record: SandboxRecordSchema, labels: z.record(z.string(), z.string()), workdir: z.string() });

/** The key's short hash (selection without the key itself in a tag). */
export function keyHash(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex').slice(0, 32);
}

/** A tag value within ARM's limit (owner names are free text). */
export function tagValue(v: string): string {
  return v.length <= MAX_VALUE ? v : v.slice(0, MAX_VALUE);
}

/** The record chunks for `stored`, or INVALID_SPEC when it cannot fit beside `fixed` tags. */
export function recordTags(stored: StoredUnit, fixed: number): Record<string, string> {
  const blob = deflateRawSync(Buffer.from(JSON.stringify(stored), 'utf8')).toString('base64url');
  const chunks = Math.ceil(blob.length / MAX_VALUE);
  if (fixed + chunks > MAX_TAGS) {
    throw new WardenError('INVALID_SPEC', `the sandbox's record is ${blob.length} characters once compressed; ACI keeps at most ${(MAX_TAGS - fixed) * MAX_VALUE} in a container group's tags. Shorten the spec (labels, egress lists, mounts).`);
  }
  const out: Record<string, string> = {};
  for (let i = 0; i < chunks; i++) out[`${TAG.record}${i}`] = blob.slice(i * MAX_VALUE, (i + 1) * MAX_VALUE);
  return out;
}

/** The stored unit from a group's tags; undefined when they hold none (not Warden's, or damaged). */
export function readRecordTags(tags: Record<string, string> | undefined): StoredUnit | undefined {
  if (!tags || tags[TAG.managed] !== 'true') return undefined;
  let blob = '';
  for (let i = 0; tags[`${TAG.record}${i}`] !== undefined; i++) blob += tags[`${TAG.record}${i}`];
  if (!blob) return undefined;
  try {
    const r = StoredSchema.safeParse(JSON.parse(inflateRawSync(Buffer.from(blob, 'base64url')).toString('utf8')));
    if (!r.success) return undefined;
    const { key, refresh, poolSignature, ...rest } = r.data.record;
    const record: SandboxRecord = { ...rest, ...(key !== undefined ? { key } : {}), ...(refresh ? { refresh } : {}), ...(poolSignature !== undefined ? { poolSignature } : {}) };
    return { record, labels: r.data.labels, workdir: r.data.workdir };
  } catch {
    return undefined;
  }
}

/** The tags without the record chunks. */
export function shortTags(tags: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(tags).filter(([k]) => !k.startsWith(TAG.record)));
}
