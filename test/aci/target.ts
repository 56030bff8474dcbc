import { IMAGE_TAG } from '../../src/images/catalog.js';
import { createAciRuntime } from '../../src/runtime/aci/index.js';
import type { ConformanceTarget } from '../conformance/target.js';

/**
 * The ACI backend against the stand-in: the runtime made by the production factory from the
 * environment the global setup pointed at the stand-in (WARDEN_ACI_*, AZURE_*, DefaultAzureCredential).
 */
export function aciTarget(): ConformanceTarget {
  const instance = process.env.WARDEN_CONFORMANCE_INSTANCE;
  if (!instance) throw new Error('WARDEN_CONFORMANCE_INSTANCE is not set: run through npm run test:conformance (its global setup starts the stand-in)');
  return {
    kind: 'aci',
    where: 'against the ACI stand-in',
    instance,
    image: `warden-sandbox:${IMAGE_TAG}`,
    make: () => createAciRuntime({ instance, owner: 'conformance@test', env: process.env, sweep: false }),
    childEnv: () => Object.fromEntries(Object.entries(process.env).filter(([k]) => /^(WARDEN_|AZURE_|NODE_EXTRA_CA_CERTS$)/.test(k)).map(([k, v]) => [k, v ?? ''])),
  };
}
