import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { aciSettingsFromEnv, parseAciSettings } from './aci.js';

const SUB = '00000000-1111-2222-3333-444444444444';
const home = (): string => mkdtempSync(join(tmpdir(), 'warden-aci-settings-'));
const base = { WARDEN_ACI_SUBSCRIPTION_ID: SUB, WARDEN_ACI_RESOURCE_GROUP: 'warden-rg', WARDEN_ACI_LOCATION: 'westeurope', WARDEN_ACI_REGISTRY: 'myacr.azurecr.io' };

describe('ACI settings (no engine)', () => {
  it('reads the environment with defaults for everything optional', () => {
    const s = aciSettingsFromEnv({ ...base, WARDEN_HOME: home() });
    expect(s).toMatchObject({ subscriptionId: SUB, resourceGroup: 'warden-rg', location: 'westeurope', registry: 'myacr.azurecr.io', credential: 'default', armEndpoint: 'https://management.azure.com', armScope: 'https://management.azure.com/.default', publicPreview: false, leaseSeconds: 600, tieGraceSeconds: 30, tieDeadmanSeconds: 10, sweepSeconds: 300, maxCpu: 4, maxMemoryGb: 16 });
  });

  it('names every missing required setting by its variable and its config key', () => {
    const dir = home();
    expect(() => aciSettingsFromEnv({ WARDEN_HOME: dir })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringContaining(`WARDEN_ACI_SUBSCRIPTION_ID (subscriptionId in ${join(dir, 'aci.json')}) is required for WARDEN_RUNTIME=aci`) }),
    );
    try {
      aciSettingsFromEnv({ WARDEN_HOME: dir });
    } catch (err) {
      for (const name of ['WARDEN_ACI_SUBSCRIPTION_ID', 'WARDEN_ACI_RESOURCE_GROUP', 'WARDEN_ACI_LOCATION', 'WARDEN_ACI_REGISTRY']) expect((err as Error).message).toContain(name);
    }
  });

  it('says what is wrong with a value, naming the setting', () => {
    const bad = (env: Record<string, string>, text: string): void => {
      expect(() => aciSettingsFromEnv({ ...base, WARDEN_HOME: home(), ...env }), text).toThrow(text);
    };
    bad({ WARDEN_ACI_SUBSCRIPTION_ID: 'not-a-guid' }, 'WARDEN_ACI_SUBSCRIPTION_ID (subscriptionId in');
    bad({ WARDEN_ACI_LOCATION: 'West Europe' }, "WARDEN_ACI_LOCATION (location in");
    bad({ WARDEN_ACI_REGISTRY: 'https://myacr.azurecr.io/x' }, 'WARDEN_ACI_REGISTRY (registry in');
    bad({ WARDEN_ACI_CREDENTIAL: 'password' }, 'WARDEN_ACI_CREDENTIAL (credential in');
    bad({ WARDEN_ACI_LEASE_SECONDS: '5' }, 'WARDEN_ACI_LEASE_SECONDS (leaseSeconds in');
    bad({ WARDEN_ACI_TIE_GRACE_SECONDS: 'soon' }, 'WARDEN_ACI_TIE_GRACE_SECONDS (tieGraceSeconds in');
    bad({ WARDEN_ACI_PUBLIC_PREVIEW: 'maybe' }, 'WARDEN_ACI_PUBLIC_PREVIEW (publicPreview in');
    bad({ WARDEN_ACI_REGISTRY_USERNAME: 'u' }, 'WARDEN_ACI_REGISTRY_PASSWORD (registryPassword in');
    bad({ WARDEN_ACI_REGISTRY_IDENTITY: '/subscriptions/x/resourceGroups/y/providers/Microsoft.ManagedIdentity/userAssignedIdentities/z', WARDEN_ACI_REGISTRY_USERNAME: 'u', WARDEN_ACI_REGISTRY_PASSWORD: 'p' }, 'not both');
    bad({ WARDEN_ACI_REGISTRY_IDENTITY: 'my-identity' }, 'WARDEN_ACI_REGISTRY_IDENTITY (registryIdentity in');
    bad({ WARDEN_ACI_RESOURCE_GROUP: 'rg.' }, 'must not end with a period');
  });

  it('reads $WARDEN_HOME/aci.json under the environment, which wins', () => {
    const dir = home();
    writeFileSync(join(dir, 'aci.json'), JSON.stringify({ subscriptionId: SUB, resourceGroup: 'from-file', location: 'eastus', registry: 'file.azurecr.io', publicPreview: true, leaseSeconds: 120 }));
    const s = aciSettingsFromEnv({ WARDEN_HOME: dir, WARDEN_ACI_RESOURCE_GROUP: 'from-env' });
    expect(s).toMatchObject({ resourceGroup: 'from-env', location: 'eastus', registry: 'file.azurecr.io', publicPreview: true, leaseSeconds: 120 });
  });

  it('refuses a config file that is not JSON, not an object, has unknown keys, or is named and missing', () => {
    const dir = home();
    const f = join(dir, 'aci.json');
    writeFileSync(f, '{ nope');
    expect(() => aciSettingsFromEnv({ WARDEN_HOME: dir })).toThrow(`the ACI config ${f} is not valid JSON`);
    writeFileSync(f, '[1]');
    expect(() => aciSettingsFromEnv({ WARDEN_HOME: dir })).toThrow('must be a JSON object of settings');
    writeFileSync(f, JSON.stringify({ subscription: SUB }));
    expect(() => aciSettingsFromEnv({ ...base, WARDEN_HOME: dir })).toThrow(`${f} has settings Warden does not know: subscription`);
    expect(() => aciSettingsFromEnv({ ...base, WARDEN_ACI_CONFIG: join(dir, 'missing.json') })).toThrow('WARDEN_ACI_CONFIG');
  });

  it('validates settings given as an object the same way', () => {
    expect(() => parseAciSettings({ subscriptionId: SUB, resourceGroup: 'rg', location: 'eastus', registry: 'r.azurecr.io', maxCpu: 0 })).toThrow('WARDEN_ACI_MAX_CPU (maxCpu in the ACI settings)');
  });
});
