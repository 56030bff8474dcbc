import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { WardenError } from '../errors.js';
import { wardenHome } from './home.js';

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const seconds = (def: number, min: number, max: number, what: string) => z.coerce.number().int().min(min).max(max).default(def).describe(`${what} (seconds; default ${def})`);
const flag = z
  .union([z.boolean(), z.enum(['1', '0', 'true', 'false', 'yes', 'no'])])
  .transform((v) => v === true || v === '1' || v === 'true' || v === 'yes');

/**
 * The settings of the Azure Container Instances runtime (`WARDEN_RUNTIME=aci`). One schema for both
 * sources: the environment (`WARDEN_ACI_*`, named in {@link ACI_ENV}) over the JSON file
 * `$WARDEN_HOME/aci.json` (`WARDEN_ACI_CONFIG` names another), whose keys are the field names below.
 */
export const AciSettingsSchema = z
  .object({
    subscriptionId: z.string().regex(GUID, 'must be a subscription id (a GUID like 00000000-0000-0000-0000-000000000000)').describe('The Azure subscription the container groups are made in.'),
    resourceGroup: z
      .string()
      .regex(/^[-\w.()]{1,90}$/, 'must be a resource group name: 1-90 letters, digits, - _ . ( )')
      .refine((v) => !v.endsWith('.'), 'must not end with a period')
      .describe('The resource group that holds every container group Warden makes (it must exist).'),
    location: z.string().regex(/^[a-z0-9]{2,40}$/, "must be an Azure region name in lower case without spaces, e.g. 'westeurope'").describe('The region container groups run in.'),
    registry: z
      .string()
      .regex(/^[a-z0-9.-]+(?::\d+)?$/, "must be a registry login server such as 'myregistry.azurecr.io' (no scheme, no path)")
      .describe("Where ACI pulls Warden's images from: Warden's image names map to the same names there (push them with `warden images aci --registry`)."),
    registryIdentity: z
      .string()
      .regex(/^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.ManagedIdentity\/userAssignedIdentities\/[^/]+$/i, 'must be the resource id of a user-assigned managed identity (/subscriptions/…/providers/Microsoft.ManagedIdentity/userAssignedIdentities/NAME)')
      .optional()
      .describe('A user-assigned identity with AcrPull on the registry, given to each group to pull its image (no password in Warden).'),
    registryUsername: z.string().min(1).optional().describe('Registry user (an ACR token or admin user), with registryPassword; instead of registryIdentity.'),
    registryPassword: z.string().min(1).optional().describe('Registry password, with registryUsername.'),
    credential: z
      .enum(['default', 'secret', 'managed-identity', 'cli'])
      .default('default')
      .describe("How Warden authenticates to Azure: 'default' is DefaultAzureCredential (environment, workload identity, managed identity, Azure CLI ...); 'secret' a service principal from AZURE_TENANT_ID/AZURE_CLIENT_ID/AZURE_CLIENT_SECRET; 'managed-identity' (AZURE_CLIENT_ID picks a user-assigned one); 'cli' the Azure CLI's login."),
    armEndpoint: z.string().url().default('https://management.azure.com').describe('Azure Resource Manager (another cloud: https://management.usgovcloudapi.net, ...).'),
    armScope: z.string().min(1).default('https://management.azure.com/.default').describe("The token scope for ARM (its audience + '/.default')."),
    authorityHost: z.string().url().optional().describe('The Entra ID authority (another cloud). When set, instance discovery is off: MSAL trusts this host as given.'),
    publicPreview: flag.default(false).describe("Publish a sandbox's preview ports on a public IP of its container group: reachable from the whole internet, with no authentication. Off: sandboxes with ports are refused."),
    leaseSeconds: seconds(600, 10, 86_400, 'how long an ephemeral group outlives the last renewal of its lease by its owner before any sweep deletes it'),
    tieGraceSeconds: seconds(30, 5, 3600, "how long a sandbox runs on without an owner tie (Warden lost) before its guard ends it"),
    tieDeadmanSeconds: seconds(10, 3, 600, 'how long the owner tie outlives a silent owner (no ping) before it is cut'),
    sweepSeconds: seconds(300, 0, 86_400, 'how often a Warden process sweeps abandoned groups (0: never; run `warden prune` from a schedule instead)'),
    maxCpu: z.coerce.number().positive().max(64).default(4).describe('The most CPUs one container group may have in this region (ACI: 4 for standard Linux groups).'),
    maxMemoryGb: z.coerce.number().positive().max(512).default(16).describe('The most memory in GB one container group may have in this region (ACI: 16 for standard Linux groups).'),
  })
  .strict()
  .superRefine((s, ctx) => {
    if ((s.registryUsername === undefined) !== (s.registryPassword === undefined)) {
      ctx.addIssue({ code: 'custom', path: [s.registryUsername === undefined ? 'registryUsername' : 'registryPassword'], message: 'registryUsername and registryPassword go together' });
    }
    if (s.registryIdentity && s.registryUsername) ctx.addIssue({ code: 'custom', path: ['registryIdentity'], message: 'give either registryIdentity or registryUsername/registryPassword, not both' });
  });

export type AciSettings = z.output<typeof AciSettingsSchema>;
export type AciSettingsInput = z.input<typeof AciSettingsSchema>;

/** The environment variable of each setting. */
export const ACI_ENV: Record<keyof AciSettings, string> = {
  subscriptionId: 'WARDEN_ACI_SUBSCRIPTION_ID',
  resourceGroup: 'WARDEN_ACI_RESOURCE_GROUP',
  location: 'WARDEN_ACI_LOCATION',
  registry: 'WARDEN_ACI_REGISTRY',
  registryIdentity: 'WARDEN_ACI_REGISTRY_IDENTITY',
  registryUsername: 'WARDEN_ACI_REGISTRY_USERNAME',
  registryPassword: 'WARDEN_ACI_REGISTRY_PASSWORD',
  credential: 'WARDEN_ACI_CREDENTIAL',
  armEndpoint: 'WARDEN_ACI_ARM_ENDPOINT',
  armScope: 'WARDEN_ACI_ARM_SCOPE',
  authorityHost: 'WARDEN_ACI_AUTHORITY_HOST',
  publicPreview: 'WARDEN_ACI_PUBLIC_PREVIEW',
  leaseSeconds: 'WARDEN_ACI_LEASE_SECONDS',
  tieGraceSeconds: 'WARDEN_ACI_TIE_GRACE_SECONDS',
  tieDeadmanSeconds: 'WARDEN_ACI_TIE_DEADMAN_SECONDS',
  sweepSeconds: 'WARDEN_ACI_SWEEP_SECONDS',
  maxCpu: 'WARDEN_ACI_MAX_CPU',
  maxMemoryGb: 'WARDEN_ACI_MAX_MEMORY_GB',
};

/** `$WARDEN_HOME/aci.json`, or WARDEN_ACI_CONFIG. */
export function aciConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.WARDEN_ACI_CONFIG || join(wardenHome(env), 'aci.json');
}

/**
 * The ACI settings: the config file (when present) with the environment over it, validated by one
 * schema. Each problem is named by both of its spellings (`WARDEN_ACI_LOCATION (location in
 * ~/.warden/aci.json)`), so the fix is obvious wherever it was set. Never a silent default for a
 * required setting.
 */
export function aciSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): AciSettings {
  const path = aciConfigPath(env);
  let file: Record<string, unknown> = {};
  if (existsSync(path)) {
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(path, 'utf8'));
    } catch (err) {
      throw new WardenError('INVALID_ARGUMENT', `the ACI config ${path} is not valid JSON: ${(err as Error).message}`);
    }
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new WardenError('INVALID_ARGUMENT', `the ACI config ${path} must be a JSON object of settings (${Object.keys(ACI_ENV).join(', ')})`);
    file = raw as Record<string, unknown>;
  } else if (env.WARDEN_ACI_CONFIG) {
    throw new WardenError('INVALID_ARGUMENT', `WARDEN_ACI_CONFIG ${path} does not exist`);
  }
  const merged: Record<string, unknown> = { ...file };
  for (const [key, name] of Object.entries(ACI_ENV)) {
    const v = env[name];
    if (v !== undefined && v !== '') merged[key] = v;
  }
  return parseAciSettings(merged, path);
}

/** Validates settings given as an object (the SDK's `aci` option, a config file's content). */
export function parseAciSettings(input: Record<string, unknown>, path = 'the ACI settings'): AciSettings {
  const r = AciSettingsSchema.safeParse(input);
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => {
    const key = String(i.path[0] ?? '');
    const name = (ACI_ENV as Record<string, string>)[key];
    const missing = i.code === 'invalid_type' && input[key] === undefined;
    const where = name ? `${name} (${key} in ${path})` : `'${key}' in ${path}`;
    if (i.code === 'unrecognized_keys') return `${path} has settings Warden does not know: ${(i as { keys?: string[] }).keys?.join(', ')}; the settings are ${Object.keys(ACI_ENV).join(', ')}`;
    return missing ? `${where} is required for WARDEN_RUNTIME=aci` : `${where} ${i.message}`;
  });
  throw new WardenError('INVALID_ARGUMENT', `invalid settings for the ACI runtime: ${issues.join('; ')}`, { details: { issues } });
}
