import { randomBytes, timingSafeEqual, createHash } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WardenError } from '../errors.js';

/** Where the server's bearer token came from (never the token itself, for logs). */
export type TokenSource = 'env' | 'file' | 'generated' | 'data-dir';

/**
 * The API token: `WARDEN_TOKEN`, else the file named by `WARDEN_TOKEN_FILE` (a compose/k8s secret),
 * else `<dataDir>/token`, generated on first start with mode 0600.
 */
export function resolveToken(dataDir: string, env: NodeJS.ProcessEnv = process.env): { token: string; source: TokenSource; file?: string } {
  if (env.WARDEN_TOKEN) return { token: checkToken(env.WARDEN_TOKEN.trim(), 'WARDEN_TOKEN'), source: 'env' };
  if (env.WARDEN_TOKEN_FILE) {
    let raw: string;
    try {
      raw = readFileSync(env.WARDEN_TOKEN_FILE, 'utf8');
    } catch (err) {
      throw new WardenError('INVALID_ARGUMENT', `WARDEN_TOKEN_FILE ${env.WARDEN_TOKEN_FILE} cannot be read (${(err as Error).message}); point it at a file holding the token`);
    }
    return { token: checkToken(raw.trim(), `WARDEN_TOKEN_FILE ${env.WARDEN_TOKEN_FILE}`), source: 'file', file: env.WARDEN_TOKEN_FILE };
  }
  const file = join(dataDir, 'token');
  try {
    const token = readFileSync(file, 'utf8').trim();
    if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
    return { token: checkToken(token, file), source: 'data-dir', file };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const token = `wdn_${randomBytes(24).toString('base64url')}`;
  writeFileSync(file, `${token}\n`, { mode: 0o600, flag: 'wx' });
  return { token, source: 'generated', file };
}

function checkToken(token: string, from: string): string {
  if (token.length < 16) throw new WardenError('INVALID_ARGUMENT', `the token from ${from} is shorter than 16 characters; use a long random value (e.g. \`openssl rand -hex 24\`)`);
  return token;
}

/** Constant-time comparison of a presented bearer token with the expected one. */
export function tokenMatches(presented: string | undefined, expected: string): boolean {
  if (!presented) return false;
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** The token from an `Authorization: Bearer ...` header. */
export function bearer(header: string | undefined): string | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return m?.[1];
}
