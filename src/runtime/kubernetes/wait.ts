import { WardenError } from '../../errors.js';
import type { KubeApi } from './api.js';

/** Lists a collection with selectors (a client-node list call). */
export type Lister<T> = (sel: { fieldSelector?: string; labelSelector?: string }) => Promise<{ items: T[]; metadata?: { resourceVersion?: string } }>;

interface Named {
  metadata?: { name?: string };
}

/**
 * Resolves with the collection's matching objects once `done` holds for them. Lists, then watches from
 * that list's version, so no change between the two is missed; a watch that ends (client-node ends one
 * after 30 s without events, the server after its timeout) is followed by a new list and watch. `done`
 * may throw to fail the wait (a pod that failed, say). `timeoutMs` is a guard against a stuck cluster,
 * never the expected way out; `signal` aborts.
 */
export async function waitList<T extends Named>(
  api: KubeApi,
  path: string,
  list: Lister<T>,
  sel: { fieldSelector?: string; labelSelector?: string },
  done: (items: T[]) => boolean,
  opts: { timeoutMs: number; what: string; signal?: AbortSignal },
): Promise<T[]> {
  const deadline = Date.now() + opts.timeoutMs;
  let items = new Map<string, T>();
  for (;;) {
    const initial = await list(sel);
    items = new Map(initial.items.map((o) => [o.metadata?.name ?? '', o]));
    if (done([...items.values()])) return [...items.values()];
    if (Date.now() > deadline) break;
    if (opts.signal?.aborted) throw new WardenError('EXEC_ABORTED', `${opts.what}: aborted`);
    const outcome = await new Promise<boolean>((resolve, reject) => {
      let settled = false;
      let ctrl: AbortController | undefined;
      const finish = (fn: () => void): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        ctrl?.abort();
        fn();
      };
      const onAbort = (): void => finish(() => reject(new WardenError('EXEC_ABORTED', `${opts.what}: aborted`)));
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      const timer = setTimeout(() => finish(() => resolve(false)), Math.max(0, deadline - Date.now()));
      void api
        .watch()
        .watch(
          path,
          { ...sel, resourceVersion: initial.metadata?.resourceVersion, allowWatchBookmarks: false },
          (type: string, obj: T) => {
            const name = obj?.metadata?.name ?? '';
            if (type === 'DELETED') items.delete(name);
            else if (type === 'ADDED' || type === 'MODIFIED') items.set(name, obj);
            else return; // BOOKMARK, ERROR (the watch ends; we list again)
            try {
              if (done([...items.values()])) finish(() => resolve(true));
            } catch (err) {
              finish(() => reject(err as Error));
            }
          },
          () => finish(() => resolve(false)), // ended: list and watch again
        )
        .then(
          (c) => {
            ctrl = c;
            if (settled) c.abort();
          },
          () => finish(() => resolve(false)),
        );
    });
    if (outcome) return [...items.values()];
    if (Date.now() > deadline) break;
  }
  throw new WardenError('ENGINE_ERROR', `${opts.what}: the cluster did not get there within ${Math.round(opts.timeoutMs / 1000)} s`);
}
