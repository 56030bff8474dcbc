import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/identity';
import { ACI_ENV, type AciSettings } from '../../config/aci.js';
import { WardenError } from '../../errors.js';

/**
 * The Azure credential of the ACI runtime. `default` is DefaultAzureCredential (environment variables,
 * workload identity, managed identity, Azure CLI, ... in Azure's order); the others pin one source.
 * With an authority host set (another cloud, a stand-in), MSAL's instance discovery is off: it would
 * otherwise ask login.microsoftonline.com whether to trust that host.
 *
 * Settings are checked now (a missing variable is an error here, not at the first call); `@azure/identity`
 * itself is loaded at the first token (it takes a few hundred ms to load, which commands of other
 * runtimes must not pay).
 */
export function aciCredential(s: AciSettings, env: NodeJS.ProcessEnv = process.env): TokenCredential {
  const authority = s.authorityHost ? { authorityHost: s.authorityHost, disableInstanceDiscovery: true } : {};
  if (s.credential === 'secret') {
    const missing = ['AZURE_TENANT_ID', 'AZURE_CLIENT_ID', 'AZURE_CLIENT_SECRET'].filter((k) => !env[k]);
    if (missing.length) throw new WardenError('INVALID_ARGUMENT', `${ACI_ENV.credential}=secret needs ${missing.join(', ')} (a service principal's tenant, app id and secret)`);
  }
  const { AZURE_TENANT_ID: tenant, AZURE_CLIENT_ID: client, AZURE_CLIENT_SECRET: secret } = env;
  let made: Promise<TokenCredential> | undefined;
  const real = (): Promise<TokenCredential> =>
    (made ??= import('@azure/identity').then((id): TokenCredential => {
      switch (s.credential) {
        case 'default':
          return new id.DefaultAzureCredential(authority);
        case 'secret':
          return new id.ClientSecretCredential(tenant!, client!, secret!, authority);
        case 'managed-identity':
          return client ? new id.ManagedIdentityCredential({ clientId: client }) : new id.ManagedIdentityCredential();
        case 'cli':
          return new id.AzureCliCredential();
      }
    }));
  return {
    async getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken | null> {
      return (await real()).getToken(scopes, options);
    },
  };
}
