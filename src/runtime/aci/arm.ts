import type { ContainerGroup, ContainerInstanceManagementClient } from '@azure/arm-containerinstance';
import type { TokenCredential } from '@azure/identity';
import type { AciSettings } from '../../config/aci.js';
import { ACI_ENV } from '../../config/aci.js';
import { WardenError } from '../../errors.js';

/** How long the exec call (the WebSocket URI and password) may take before it fails. */
const EXEC_CALL_TIMEOUT_MS = 60_000;

/** The one container of every sandbox group. */
export const SANDBOX_CONTAINER = 'sandbox';
/** The Container Instances API version the SDK speaks (the package pins it). */
export const ACI_API_VERSION = '2023-05-01';

interface RestLike {
  name?: string;
  statusCode?: number;
  code?: string;
  message?: string;
}

/** What an error from the SDK or the credential says, without relying on their classes. */
function rest(err: unknown): RestLike {
  return typeof err === 'object' && err !== null ? (err as RestLike) : { message: String(err) };
}

/** The first line of an ARM message (they can be long). */
function brief(m: string | undefined): string {
  return (m ?? '').split('\n')[0]!.slice(0, 400);
}

/**
 * Translate an ARM/credential failure into Warden's coded error, in one place, by status and ARM error
 * code (never by message text), naming the setting to fix where one is at fault.
 */
export function translateArmError(err: unknown, what: string): WardenError {
  if (err instanceof WardenError) return err;
  const e = rest(err);
  const msg = brief(e.message);
  if (e.name !== undefined && /^(CredentialUnavailableError|AggregateAuthenticationError|AuthenticationError|AuthenticationRequiredError)$/.test(e.name)) {
    return new WardenError('ENGINE_UNAVAILABLE', `${what}: no Azure credential works (${msg}); set ${ACI_ENV.credential} and what it needs (AZURE_TENANT_ID/AZURE_CLIENT_ID/AZURE_CLIENT_SECRET, a managed identity, or \`az login\`)`, { cause: err });
  }
  const status = e.statusCode;
  const code = e.code ?? '';
  const detail = { status, armCode: code };
  if (status === undefined) {
    return new WardenError('ENGINE_UNAVAILABLE', `${what}: Azure Resource Manager does not answer (${msg || code}); check ${ACI_ENV.armEndpoint} and the network`, { cause: err, details: detail });
  }
  switch (code) {
    case 'SubscriptionNotFound':
    case 'InvalidSubscriptionId':
      return new WardenError('INVALID_ARGUMENT', `${what}: ${msg} (check ${ACI_ENV.subscriptionId})`, { cause: err, details: detail });
    case 'ResourceGroupNotFound':
      return new WardenError('INVALID_ARGUMENT', `${what}: ${msg} Create it (az group create) or fix ${ACI_ENV.resourceGroup}.`, { cause: err, details: detail });
    case 'LocationNotAvailableForResourceType':
    case 'NoRegisteredProviderFound':
      return new WardenError('INVALID_ARGUMENT', `${what}: ${msg} (check ${ACI_ENV.location})`, { cause: err, details: detail });
    case 'InaccessibleImage':
      return new WardenError('IMAGE_NOT_FOUND', `${what}: ${msg} Push the image's ACI variant to ${ACI_ENV.registry} (\`warden images aci --registry …\`, then docker push) and give Warden the registry's pull identity or credentials.`, { cause: err, details: detail });
    case 'ContainerGroupTransitioning':
      return new WardenError('CONFLICT', `${what}: ${msg}`, { cause: err, details: detail });
    case 'ContainerGroupNotRunning':
      return new WardenError('SANDBOX_NOT_RUNNING', `${what}: the sandbox is not running (${msg})`, { cause: err, details: detail });
  }
  if (status === 401 || status === 403) {
    return new WardenError('ENGINE_ERROR', `${what}: Azure refused Warden's identity: ${msg} Give it the role in docs/ACI.md (deploy guide) on ${ACI_ENV.resourceGroup}.`, { cause: err, details: detail });
  }
  if (status === 404) return new WardenError('SANDBOX_NOT_FOUND', `${what}: ${msg}`, { cause: err, details: detail });
  if (status === 409) return new WardenError('CONFLICT', `${what}: ${msg}`, { cause: err, details: detail });
  if (status === 429) return new WardenError('ENGINE_ERROR', `${what}: Azure throttled Warden's requests (${msg}); retry later or sweep less often (${ACI_ENV.sweepSeconds})`, { cause: err, details: detail });
  return new WardenError('ENGINE_ERROR', `${what}: Azure answered ${status} ${code}: ${msg}`, { cause: err, details: detail });
}

function statusOf(err: unknown): number | undefined {
  return rest(err).statusCode;
}

/**
 * The ARM calls the backend makes, on the real SDK: container groups in one resource group, each
 * failure translated once. Long-running operations are polled as ARM says (Azure-AsyncOperation,
 * Retry-After).
 */
export class AciArm {
  private made: Promise<ContainerInstanceManagementClient> | undefined;

  constructor(
    readonly settings: AciSettings,
    private readonly credential: TokenCredential,
  ) {}

  /**
   * The SDK's client, loaded on first use: the Azure packages take ~0.5 s to load, which no command of
   * another runtime (that imports the runtime factory) should pay.
   */
  client(): Promise<ContainerInstanceManagementClient> {
    this.made ??= import('@azure/arm-containerinstance').then(
      ({ ContainerInstanceManagementClient: Client }) => new Client(this.credential, this.settings.subscriptionId, { endpoint: this.settings.armEndpoint, credentialScopes: [this.settings.armScope] }),
    );
    return this.made;
  }

  private get rg(): string {
    return this.settings.resourceGroup;
  }

  /** A group with its instance view; undefined when there is none. */
  async get(name: string): Promise<ContainerGroup | undefined> {
    try {
      return await (await this.client()).containerGroups.get(this.rg, name);
    } catch (err) {
      if (statusOf(err) === 404 && rest(err).code !== 'ResourceGroupNotFound') return undefined;
      throw translateArmError(err, `reading container group ${name}`);
    }
  }

  /** Every group of the resource group (ARM's list carries no instance views). */
  async list(): Promise<ContainerGroup[]> {
    const out: ContainerGroup[] = [];
    try {
      for await (const g of (await this.client()).containerGroups.listByResourceGroup(this.rg)) out.push(g);
    } catch (err) {
      throw translateArmError(err, `listing the container groups of ${this.rg}`);
    }
    return out;
  }

  /**
   * PUT a new group and poll until it is provisioned. `created` is false when ARM answered 200: the
   * name already had a group (made by someone else since we looked), which this PUT has updated.
   */
  async create(name: string, body: ContainerGroup): Promise<{ created: boolean; group: ContainerGroup }> {
    let first: number | undefined;
    const failed = (e: WardenError): WardenError => Object.assign(e, { initialStatus: first });
    let poller: Awaited<ReturnType<ContainerInstanceManagementClient['containerGroups']['beginCreateOrUpdate']>>;
    try {
      poller = await (await this.client()).containerGroups.beginCreateOrUpdate(this.rg, name, body, {
        onResponse: (raw) => {
          first ??= raw.status;
        },
      });
    } catch (err) {
      throw failed(translateArmError(err, `creating container group ${name}`));
    }
    try {
      const group = await poller.pollUntilDone();
      return { created: first === 201, group };
    } catch (err) {
      // ARM accepted the group and its provisioning failed (the poller's error carries ARM's reason as text)
      if (rest(err).statusCode !== undefined) throw failed(translateArmError(err, `provisioning container group ${name}`));
      throw failed(new WardenError('ENGINE_ERROR', `container group ${name} failed to provision: ${brief(rest(err).message)}`, { cause: err, details: { provisioningFailed: true } }));
    }
  }

  /** DELETE and wait until it is gone; a group that is already gone is fine. */
  async delete(name: string): Promise<void> {
    try {
      await (await this.client()).containerGroups.beginDeleteAndWait(this.rg, name);
    } catch (err) {
      if (statusOf(err) === 404 && rest(err).code !== 'ResourceGroupNotFound') return;
      throw translateArmError(err, `deleting container group ${name}`);
    }
  }

  /** POST stop: every container ends, the group is deallocated (synchronous). */
  async stop(name: string): Promise<void> {
    try {
      await (await this.client()).containerGroups.stop(this.rg, name);
    } catch (err) {
      if (statusOf(err) === 404 && rest(err).code !== 'ResourceGroupNotFound') return;
      throw translateArmError(err, `stopping container group ${name}`);
    }
  }

  private readonly tagWrites = new Map<string, Promise<unknown>>();

  /**
   * Read a group's tags, change them with `change`, write the whole set back (ARM replaces tags, with
   * no etag to guard the write): one change of a group's tags at a time in this process, so a lease
   * renewal never writes back tags a claim has just replaced. `change` returning undefined writes
   * nothing. Resolves with the group as written (undefined when it is gone or unchanged).
   */
  async updateTags(name: string, change: (tags: Record<string, string>) => Record<string, string> | undefined): Promise<ContainerGroup | undefined> {
    const prev = this.tagWrites.get(name) ?? Promise.resolve();
    const run = prev.catch(() => undefined).then(async () => {
      const g = await this.get(name);
      if (!g) return undefined;
      const next = change({ ...(g.tags ?? {}) });
      if (!next) return undefined;
      try {
        return await (await this.client()).containerGroups.update(this.rg, name, { tags: next });
      } catch (err) {
        throw translateArmError(err, `updating the tags of container group ${name}`);
      }
    });
    this.tagWrites.set(name, run);
    try {
      return await run;
    } finally {
      if (this.tagWrites.get(name) === run) this.tagWrites.delete(name);
    }
  }

  /** The sandbox container's log (stdout and stderr merged, as ACI keeps it). */
  async logs(name: string, tail?: number): Promise<string> {
    try {
      return (await (await this.client()).containers.listLogs(this.rg, name, SANDBOX_CONTAINER, tail !== undefined ? { tail } : {})).content ?? '';
    } catch (err) {
      throw translateArmError(err, `reading the log of container group ${name}`);
    }
  }

  /** An exec session: the terminal WebSocket and its password. */
  async exec(name: string, command: string, size = { rows: 24, cols: 80 }): Promise<{ webSocketUri: string; password: string }> {
    // bounded: the SDK's pipeline has no timeout of its own, and an exec waits on this answer
    const abortSignal = AbortSignal.timeout(EXEC_CALL_TIMEOUT_MS);
    try {
      const r = await (await this.client()).containers.executeCommand(this.rg, name, SANDBOX_CONTAINER, { command, terminalSize: size }, { abortSignal });
      if (!r.webSocketUri || !r.password) throw new WardenError('EXEC_FAILED', `ACI answered the exec of ${name} without a WebSocket URI or password`);
      return { webSocketUri: r.webSocketUri, password: r.password };
    } catch (err) {
      if (abortSignal.aborted) {
        throw new WardenError('ENGINE_UNAVAILABLE', `starting an exec in container group ${name}: Azure Resource Manager did not answer within ${EXEC_CALL_TIMEOUT_MS / 1000} s; check ${ACI_ENV.armEndpoint} and the network`, { cause: err });
      }
      throw translateArmError(err, `starting an exec in container group ${name}`);
    }
  }

  /** One page of the resource group's groups: proves the credential, the RBAC and the resource group. */
  async probe(): Promise<number> {
    try {
      const page = await (await this.client()).containerGroups.listByResourceGroup(this.rg).byPage().next();
      return page.done ? 0 : page.value.length;
    } catch (err) {
      throw translateArmError(err, `reaching Azure Container Instances in ${this.rg}`);
    }
  }
}
