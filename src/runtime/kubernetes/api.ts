import { request as httpsRequest, type RequestOptions } from 'node:https';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import {
  ApiException,
  BatchV1Api,
  CoordinationV1Api,
  CoreV1Api,
  NetworkingV1Api,
  PatchStrategy,
  setHeaderOptions,
  VersionApi,
  Watch,
  type KubeConfig,
} from '@kubernetes/client-node';
import { WardenError, type WardenErrorCode } from '../../errors.js';

/** The typed clients Warden uses, and the cluster's address for raw streams. */
export class KubeApi {
  readonly core: CoreV1Api;
  readonly batch: BatchV1Api;
  readonly net: NetworkingV1Api;
  readonly coord: CoordinationV1Api;
  readonly version: VersionApi;

  constructor(readonly kc: KubeConfig) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.batch = kc.makeApiClient(BatchV1Api);
    this.net = kc.makeApiClient(NetworkingV1Api);
    this.coord = kc.makeApiClient(CoordinationV1Api);
    this.version = kc.makeApiClient(VersionApi);
  }

  /** Options for a merge patch (client-node sends strategic merge patches' content type otherwise). */
  static readonly mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

  /**
   * A raw GET on the API server (pod logs: a stream the generated client would buffer whole). Resolves
   * with the response once its status is known; non-2xx statuses are translated.
   */
  async get(path: string, what: string, signal?: AbortSignal): Promise<IncomingMessage> {
    const server = this.kc.getCurrentCluster()?.server;
    if (!server) throw new WardenError('ENGINE_UNAVAILABLE', 'no Kubernetes cluster configured (KUBECONFIG)');
    const url = new URL(server);
    const opts: RequestOptions = {
      method: 'GET',
      hostname: url.hostname,
      port: url.port,
      path: `${url.pathname.replace(/\/+$/, '')}${path}`,
      headers: { Accept: '*/*' },
      ...(signal ? { signal } : {}),
    };
    await this.kc.applyToHTTPSOptions(opts);
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(opts, resolve);
      req.on('error', (err) => reject(translate(err, what)));
      req.end();
    });
    const status = res.statusCode ?? 0;
    if (status >= 200 && status < 300) return res;
    const chunks: Buffer[] = [];
    for await (const c of res as AsyncIterable<Buffer>) chunks.push(c);
    throw translate(new ApiException(status, `HTTP ${status}`, Buffer.concat(chunks).toString('utf8'), {}), what);
  }

  /** A watch on a collection (client-node's; it ends after 30 s without events, callers list and watch again). */
  watch(): Watch {
    return new Watch(this.kc);
  }
}

/** The HTTP status of a Kubernetes API failure, or undefined for a transport failure. */
export function statusOf(err: unknown): number | undefined {
  return err instanceof ApiException ? err.code : undefined;
}

export const isNotFound = (err: unknown): boolean => statusOf(err) === 404;
export const isConflict = (err: unknown): boolean => statusOf(err) === 409;

function apiMessage(err: ApiException<unknown>): string {
  const body = err.body;
  let doc: unknown = body;
  if (typeof body === 'string') {
    try {
      doc = JSON.parse(body);
    } catch {
      return body.slice(0, 500);
    }
  }
  const message = (doc as { message?: unknown } | undefined)?.message;
  return typeof message === 'string' ? message : String(err.message).slice(0, 500);
}

/**
 * A Kubernetes API failure as a WardenError: 404 SANDBOX_NOT_FOUND (or `notFound`), 409 CONFLICT (or
 * `conflict`), 401/403 ENGINE_ERROR naming the missing right, 422/400 INVALID_SPEC, transport failures
 * ENGINE_UNAVAILABLE. Already-coded errors pass through.
 */
export function translate(err: unknown, what: string, codes: { notFound?: WardenErrorCode; conflict?: WardenErrorCode } = {}): WardenError {
  if (err instanceof WardenError) return err;
  if (err instanceof ApiException) {
    const msg = apiMessage(err);
    const details = { httpStatus: err.code };
    switch (err.code) {
      case 404:
        return new WardenError(codes.notFound ?? 'SANDBOX_NOT_FOUND', `${what}: not found (${msg})`, { cause: err, details });
      case 409:
        return new WardenError(codes.conflict ?? 'CONFLICT', `${what}: ${msg}`, { cause: err, details });
      case 401:
        return new WardenError('ENGINE_ERROR', `${what}: the Kubernetes API did not accept the kubeconfig's credentials (${msg})`, { cause: err, details });
      case 403:
        return new WardenError('ENGINE_ERROR', `${what}: forbidden (${msg}); the kubeconfig's user needs Warden's rights in its namespace (docs/KUBERNETES.md, "RBAC")`, {
          cause: err,
          details,
        });
      case 400:
      case 422:
        return new WardenError('INVALID_SPEC', `${what}: the Kubernetes API refused it: ${msg}`, { cause: err, details });
      default:
        return new WardenError('ENGINE_ERROR', `${what}: the Kubernetes API answered ${err.code}: ${msg}`, { cause: err, details });
    }
  }
  const e = err as Error & { code?: string; cause?: { code?: string } };
  return new WardenError('ENGINE_UNAVAILABLE', `${what}: cannot reach the Kubernetes API (${e?.message ?? String(err)}); check KUBECONFIG and that the cluster is up`, {
    cause: err,
  });
}

/** Runs `fn`, translating its failure. */
export async function call<T>(what: string, fn: () => Promise<T>, codes?: { notFound?: WardenErrorCode; conflict?: WardenErrorCode }): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw translate(err, what, codes);
  }
}

/** Runs `fn`; a 404 is `undefined` (the object is gone), anything else is translated. */
export async function orMissing<T>(what: string, fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn();
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw translate(err, what);
  }
}
