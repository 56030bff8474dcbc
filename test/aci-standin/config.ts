import { z } from 'zod';

/** An app registration (service principal) and the RBAC it holds. */
const ClientSchema = z.object({
  tenantId: z.string().uuid(),
  clientId: z.string().uuid(),
  clientSecret: z.string().min(1),
  /** Role assignments: scopes (a subscription or resource-group id) where the principal may act. */
  roleAssignments: z
    .array(z.object({ scope: z.string().startsWith('/subscriptions/'), actions: z.array(z.string()).default(['*']).describe("ACI actions allowed, e.g. 'Microsoft.ContainerInstance/containerGroups/read'; '*' for all") }))
    .default([]),
});
export type ClientConfig = z.infer<typeof ClientSchema>;

export const StandinConfigSchema = z.object({
  /** host[:port] clients use to reach the stand-in (URLs it returns: exec WebSockets, polling). */
  publicHost: z.string().min(1),
  listenPort: z.number().int().min(0).max(65535).default(443),
  tlsCertFile: z.string(),
  tlsKeyFile: z.string(),
  clients: z.array(ClientSchema).min(1),
  subscriptions: z.array(z.object({ id: z.string().uuid(), tenantId: z.string().uuid(), resourceGroups: z.array(z.object({ name: z.string(), location: z.string() })) })).min(1),
  /** The Docker network container groups join (their "IP address" is on it). */
  network: z.string().min(1),
  /** Labels put on every Docker object the stand-in makes (so a test run can sweep them). */
  labels: z.record(z.string(), z.string()).default({}),
  /** Distinguishes this stand-in's objects from another's on the same engine. */
  instance: z.string().regex(/^[a-z0-9-]{1,40}$/),
  /** An Azure Container Registry login server emulated by the engine's local images (e.g. wardentest.azurecr.io). */
  registry: z.string().optional(),
  /** Image of the per-group network holder (any image with `sleep`; the stand-in's own by default). */
  infraImage: z.string().min(1),
  retryAfterSeconds: z.number().int().min(0).default(1),
  tokenLifetimeSeconds: z.number().int().min(60).default(3599),
  locations: z.array(z.string()).default(['eastus', 'westus2', 'westeurope', 'northeurope', 'uksouth', 'australiaeast']),
  /** Per-group caps of a Linux container group in a standard region (the documented defaults). */
  maxCpu: z.number().default(4),
  maxMemoryInGB: z.number().default(16),
  /** SIGTERM grace of stop and restart before SIGKILL, in seconds. */
  stopGraceSeconds: z.number().int().min(0).default(10),
  /** How long an executeCommand session waits for its WebSocket, in seconds. */
  execSessionTtlSeconds: z.number().int().min(1).default(60),
});
export type StandinConfig = z.infer<typeof StandinConfigSchema>;

export function loadConfig(env: NodeJS.ProcessEnv): StandinConfig {
  const raw = env.STANDIN_CONFIG;
  if (!raw) throw new Error('STANDIN_CONFIG (JSON) is required');
  return StandinConfigSchema.parse(JSON.parse(raw));
}

/** api-versions of Microsoft.ContainerInstance/containerGroups that ARM routes (GA and preview). */
export const API_VERSIONS = [
  '2017-08-01-preview', '2017-10-01-preview', '2017-12-01-preview', '2018-02-01-preview', '2018-04-01', '2018-06-01',
  '2018-09-01', '2018-10-01', '2019-12-01', '2020-11-01', '2021-03-01', '2021-07-01', '2021-09-01', '2021-10-01',
  '2022-09-01', '2022-10-01-preview', '2023-02-01-preview', '2023-05-01', '2024-05-01-preview', '2024-10-01-preview',
  '2024-11-01-preview', '2025-09-01',
];
