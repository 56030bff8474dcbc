import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import { WardenError } from '../errors.js';
import type { Db } from './db.js';

/** What a token may do: read (GETs), operate (everything but panic and tokens), or administer. */
export const ROLES = ['read-only', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export const TOKEN_NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;

/** A named token as it is listed (never its secret, which is stored as a SHA-256 only). */
export interface TokenRecord {
  name: string;
  role: Role;
  /** The sandboxes it sees and makes: every one carries these labels (e.g. warden.project=p1). */
  labels: Record<string, string>;
  createdAt: string;
  lastUsedAt?: string;
}

export const TokenInputSchema = z
  .object({
    name: z.string().regex(TOKEN_NAME_RE, 'use 1-63 letters, digits, _ . - starting with a letter or digit').describe('Name of the token (who holds it).'),
    role: z.enum(ROLES).default('operator').describe("read-only (GET only), operator (all but panic and tokens), admin (everything)."),
    labels: z.record(z.string().min(1).max(128), z.string().max(256)).default({}).describe('Label set the token is bound to: it sees only sandboxes with all of them, and what it creates gets them.'),
  })
  .strict();

const hash = (token: string): string => createHash('sha256').update(token).digest('hex');

/** Named API tokens in the server's store (`warden tokens add|ls|rm`). */
export class TokenRepo {
  constructor(private readonly db: Db) {}

  /** Make a token; returns its secret, shown once. NAME_CONFLICT when the name is taken. */
  add(input: z.input<typeof TokenInputSchema>): { token: string; record: TokenRecord } {
    const r = TokenInputSchema.safeParse(input);
    if (!r.success) throw new WardenError('INVALID_ARGUMENT', `token: ${r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
    const token = `wdn_${randomBytes(24).toString('base64url')}`;
    const createdAt = new Date().toISOString();
    try {
      this.db.prepare('INSERT INTO tokens (name, hash, role, labels_json, created_at) VALUES (?, ?, ?, ?, ?)').run(r.data.name, hash(token), r.data.role, JSON.stringify(r.data.labels), createdAt);
    } catch (err) {
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') throw new WardenError('NAME_CONFLICT', `a token named '${r.data.name}' exists; remove it first (warden tokens rm ${r.data.name}) or pick another name`);
      throw err;
    }
    return { token, record: { name: r.data.name, role: r.data.role, labels: r.data.labels, createdAt } };
  }

  list(): TokenRecord[] {
    return (this.db.prepare('SELECT name, role, labels_json, created_at, last_used_at FROM tokens ORDER BY name').all() as Row[]).map(toRecord);
  }

  /** true when a token of that name existed. */
  remove(name: string): boolean {
    return this.db.prepare('DELETE FROM tokens WHERE name = ?').run(name).changes > 0;
  }

  /** The token's record, by its secret (compared by hash: a lookup leaks nothing of other tokens). */
  verify(token: string): TokenRecord | undefined {
    const row = this.db.prepare('SELECT name, role, labels_json, created_at, last_used_at FROM tokens WHERE hash = ?').get(hash(token)) as Row | undefined;
    if (!row) return undefined;
    const now = new Date().toISOString();
    // at most once a minute: a busy client must not turn every request into a write
    if (!row.last_used_at || Date.parse(now) - Date.parse(row.last_used_at) > 60_000) this.db.prepare('UPDATE tokens SET last_used_at = ? WHERE name = ?').run(now, row.name);
    return toRecord(row);
  }
}

interface Row {
  name: string;
  role: string;
  labels_json: string;
  created_at: string;
  last_used_at: string | null;
}

function toRecord(r: Row): TokenRecord {
  return { name: r.name, role: r.role as Role, labels: JSON.parse(r.labels_json) as Record<string, string>, createdAt: r.created_at, ...(r.last_used_at ? { lastUsedAt: r.last_used_at } : {}) };
}
