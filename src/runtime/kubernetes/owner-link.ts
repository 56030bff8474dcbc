import { randomBytes } from 'node:crypto';
import type { V1Job, V1OwnerReference, V1Pod } from '@kubernetes/client-node';
import type { Logger } from '../../log.js';
import type { OwnerLink, OwnerSession } from '../sandbox-runtime.js';
import { call, KubeApi, orMissing } from './api.js';
import { openExec, type ExecStream } from './exec-stream.js';
import { jobOwner, linkJob, type ManifestContext } from './manifests.js';
import { CONTAINER, KLABEL, labelValue, linkJobName, ROLE, selector } from './names.js';
import { isRunning, podProblem } from './pod-status.js';
import { waitList } from './wait.js';

/** What a unit needs to be tied to its owner: the reference to put on it, and when the tie holds. */
export interface LinkHandle {
  ownerRef: V1OwnerReference;
  /** Resolves once the owner holds the link's stdin (the dead-man switch is armed). */
  attached: Promise<void>;
}

/**
 * The dead-man switch of one Warden process on Kubernetes. Its ephemeral units are owned
 * (ownerReferences) by a Job of its own, whose pod runs the guard's init tied to its stdin; this
 * process keeps that stdin attached (writing a byte every `keepaliveMs`). When the process dies, even
 * by kill -9, its connection to the API server closes, the kubelet closes the pod's stdin (stdinOnce),
 * the guard ends, the Job finishes, Kubernetes' TTL controller deletes it at once and its garbage
 * collector deletes everything it owned. Nothing of Warden has to run, and the cluster grants nothing
 * to any pod for it. A link whose stream breaks (an API server restart) ends the same way: its units
 * end, and the next ephemeral unit gets a new link.
 */
export class KubeOwnerLink implements OwnerSession {
  readonly link: OwnerLink;
  private readonly ids = new Set<string>();
  private current?: Promise<{ job: V1Job; attached: Promise<void> }>;
  private stream?: ExecStream;
  private timer?: NodeJS.Timeout;
  private readonly pending = new Set<Promise<unknown>>();

  constructor(
    private readonly api: KubeApi,
    private readonly namespace: string,
    private readonly ctx: ManifestContext,
    private readonly o: { link: string; owner: string; linkTimeoutSeconds: number; keepaliveMs: number; releaseUnit: (id: string) => Promise<void> },
    private readonly log?: Logger,
  ) {
    this.link = { link: o.link, owner: o.owner };
  }

  /** The link for a new ephemeral unit (made on first use; made again after a broken link). */
  async ensure(): Promise<LinkHandle> {
    if (!this.current) {
      const made = this.make();
      this.current = made;
      made.catch(() => {
        if (this.current === made) this.current = undefined;
      });
    }
    const { job, attached } = await this.current;
    return { ownerRef: jobOwner(job), attached };
  }

  /** Record that a unit is tied to this process. */
  add(id: string): void {
    this.ids.add(id);
  }

  forget(id: string): void {
    this.ids.delete(id);
  }

  linked(): string[] {
    return [...this.ids];
  }

  /**
   * Drop the tie: the units stay and no longer end with this process (their pods lose the Job's owner
   * reference). The API calls run in the background; `settled()` awaits them. Releasing all also closes
   * the link once they are done (its Job then finishes and is deleted, owning nothing).
   */
  release(id?: string): void {
    const ids = id === undefined ? [...this.ids] : this.ids.has(id) ? [id] : [];
    for (const u of ids) this.ids.delete(u);
    const work = Promise.all(ids.map((u) => this.o.releaseUnit(u).catch((err: unknown) => this.log?.warn({ err, id: u }, 'releasing a unit from the owner link failed')))).then(() => {
      if (id === undefined) this.close();
    });
    this.pending.add(work);
    void work.finally(() => this.pending.delete(work));
  }

  /** Resolves when every release started so far is done. */
  async settled(): Promise<void> {
    await Promise.all([...this.pending]);
  }

  /** Drop the link's stream: every unit still tied to it ends (a planned exit after removing them). */
  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.stream?.close();
    this.stream = undefined;
    this.current = undefined;
  }

  private async make(): Promise<{ job: V1Job; attached: Promise<void> }> {
    // a fresh name per link generation: a broken link's Job may still be on its way out
    const name = `${linkJobName(this.o.link)}-${randomBytes(3).toString('hex')}`;
    const body = linkJob(this.ctx, { name, link: this.o.link, owner: this.o.owner, linkTimeoutSeconds: this.o.linkTimeoutSeconds });
    const job = await call('creating the owner link (a Job)', () => this.api.batch.createNamespacedJob({ namespace: this.namespace, body }));
    const attached = this.attach(job);
    attached.catch(() => {
      if (this.current) this.current = undefined;
      void orMissing('removing a failed owner link', () => this.api.batch.deleteNamespacedJob({ name, namespace: this.namespace, propagationPolicy: 'Background' }));
    });
    return { job, attached };
  }

  private async attach(job: V1Job): Promise<void> {
    const name = job.metadata?.name ?? '';
    const what = `starting the owner link ${name}`;
    const [pod] = await waitList<V1Pod>(
      this.api,
      `/api/v1/namespaces/${this.namespace}/pods`,
      (sel) => this.api.core.listNamespacedPod({ namespace: this.namespace, ...sel }),
      { labelSelector: selector({ 'batch.kubernetes.io/job-name': name, [KLABEL.role]: ROLE.link, [KLABEL.ownerLink]: labelValue(this.o.link) }) },
      (pods) => {
        const p = pods[0];
        if (!p) return false;
        if (isRunning(p, CONTAINER.link)) return true;
        const problem = podProblem(p, what);
        if (problem) throw problem;
        return false;
      },
      { timeoutMs: this.o.linkTimeoutSeconds * 1000, what },
    );
    const stream = await openExec(this.api.kc, {
      namespace: this.namespace,
      pod: pod?.metadata?.name ?? '',
      container: CONTAINER.link,
      command: [],
      mode: 'attach',
      stdin: true,
      unref: true,
    });
    stream.stdout.resume();
    stream.stderr?.resume();
    this.stream = stream;
    // the first byte tells the link its owner is here (else it ends after linkTimeoutSeconds)
    await new Promise<void>((resolve, reject) => stream.stdin?.write('\n', (err) => (err ? reject(err) : resolve())));
    this.timer = setInterval(() => stream.stdin?.write('\n', () => undefined), this.o.keepaliveMs);
    this.timer.unref();
    void stream.exit.then((exit) => {
      if (this.stream !== stream) return;
      // broken (not closed by us): its units end with it; the next ephemeral unit gets a new link
      this.log?.warn({ job: name, exit }, "the owner link's stream closed: its ephemeral units end");
      clearInterval(this.timer);
      this.stream = undefined;
      this.current = undefined;
    });
  }
}
