/**
 * The Azure Container Instances runtime (`WARDEN_RUNTIME=aci`): see docs/ACI.md for the design, the
 * guarantees it gives and the table of those it cannot.
 */
import { hostname, userInfo } from 'node:os';
import { aciSettingsFromEnv, type AciSettings } from '../../config/aci.js';
import type { Logger } from '../../log.js';
import { AciRuntime } from './aci-runtime.js';

export { AciRuntime, type AciRuntimeOptions } from './aci-runtime.js';
export { AciArm, translateArmError } from './arm.js';
export { aciCredential } from './credential.js';

/**
 * The ACI runtime from the environment and `$WARDEN_HOME/aci.json` (read here, at the edge), for the
 * instance `instance`.
 * @example
 * const runtime = createAciRuntime({ instance: 'default' }); // WARDEN_ACI_SUBSCRIPTION_ID, ... set
 * console.log(await runtime.info());
 */
export function createAciRuntime(opts: { instance: string; owner?: string; log?: Logger; settings?: AciSettings; env?: NodeJS.ProcessEnv; sweep?: boolean }): AciRuntime {
  const settings = opts.settings ?? aciSettingsFromEnv(opts.env ?? process.env);
  let user = 'warden';
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry for this uid (a container): keep the default
  }
  return new AciRuntime(settings, {
    instance: opts.instance,
    owner: opts.owner ?? `${user}@${hostname()}`,
    ...(opts.log ? { log: opts.log } : {}),
    ...(opts.sweep !== undefined ? { sweep: opts.sweep } : {}),
  });
}
