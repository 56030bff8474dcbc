import { WardenError } from '../errors.js';

/**
 * Instance settings from the environment, read once at the CLI's edge:
 * `WARDEN_OWNER` (label warden.owner) and `WARDEN_LABELS` (`k=v,k2=v2`, added to every object created).
 */
export function instanceFromEnv(env: NodeJS.ProcessEnv = process.env): { owner?: string; labels: Record<string, string> } {
  const labels: Record<string, string> = {};
  for (const pair of (env.WARDEN_LABELS ?? '').split(',').filter(Boolean)) {
    const i = pair.indexOf('=');
    if (i <= 0) throw new WardenError('INVALID_ARGUMENT', `WARDEN_LABELS entry '${pair}' must be key=value`);
    labels[pair.slice(0, i).trim()] = pair.slice(i + 1).trim();
  }
  return { ...(env.WARDEN_OWNER ? { owner: env.WARDEN_OWNER } : {}), labels };
}
