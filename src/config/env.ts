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

/** Instance names: what a label value and a compose project name can both hold. */
export const INSTANCE_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;

/**
 * The instance this process acts for: `WARDEN_INSTANCE`, else a `warden.instance=` entry of
 * `WARDEN_LABELS` (how deployments named it before), else `default`. Both set and different is an error.
 */
export function instanceName(env: NodeJS.ProcessEnv = process.env): string {
  const fromLabels = /(?:^|,)\s*warden\.instance=([^,]*)/.exec(env.WARDEN_LABELS ?? '')?.[1]?.trim();
  const direct = env.WARDEN_INSTANCE?.trim();
  if (direct && fromLabels && direct !== fromLabels) {
    throw new WardenError('INVALID_ARGUMENT', `WARDEN_INSTANCE=${direct} and WARDEN_LABELS' warden.instance=${fromLabels} disagree; set only WARDEN_INSTANCE`);
  }
  const name = direct || fromLabels || 'default';
  if (!INSTANCE_RE.test(name)) throw new WardenError('INVALID_ARGUMENT', `instance name '${name}' (WARDEN_INSTANCE) must be 1-63 letters, digits, _ . - starting with a letter or digit`);
  return name;
}
