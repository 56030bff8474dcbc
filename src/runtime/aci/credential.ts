import { AzureCliCredential, ClientSecretCredential, DefaultAzureCredential, ManagedIdentityCredential, type TokenCredential } from '@azure/identity';
import { ACI_ENV, type AciSettings } from '../../config/aci.js';
import { WardenError } from '../../errors.js';

/**
 * The Azure credential of the ACI runtime. `default` is DefaultAzureCredential (environment variables,
 * workload identity, managed identity, Azure CLI, ... in Azure's order); the others pin one source.
 * With an authority host set (another cloud, a stand-in), MSAL's instance discovery is off: it would
 * otherwise ask login.microsoftonline.com whether to trust that host.
 */
export function aciCredential(s: AciSettings, env: NodeJS.ProcessEnv = process.env): TokenCredential {
  const authority = s.authorityHost ? { authorityHost: s.authorityHost, disableInstanceDiscovery: true } : {};
  switch (s.credential) {
    case 'default':
      return new DefaultAzureCredential(authority);
    case 'secret': {
      const missing = ['AZURE_TENANT_ID', 'AZURE_CLIENT_ID', 'AZURE_CLIENT_SECRET'].filter((k) => !env[k]);
      if (missing.length) throw new WardenError('INVALID_ARGUMENT', `${ACI_ENV.credential}=secret needs ${missing.join(', ')} (a service principal's tenant, app id and secret)`);
      return new ClientSecretCredential(env.AZURE_TENANT_ID!, env.AZURE_CLIENT_ID!, env.AZURE_CLIENT_SECRET!, authority);
    }
    case 'managed-identity':
      return env.AZURE_CLIENT_ID ? new ManagedIdentityCredential({ clientId: env.AZURE_CLIENT_ID }) : new ManagedIdentityCredential();
    case 'cli':
      return new AzureCliCredential();
  }
}
