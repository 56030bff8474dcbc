import { randomBytes } from 'node:crypto';
import type { AciSettings } from '../../config/aci.js';
import { WardenError } from '../../errors.js';
import { guardTie } from '../../guest/argv.js';
import type { Logger } from '../../log.js';
import type { OwnerLink, OwnerSession } from '../sandbox-runtime.js';
import type { AciArm } from './arm.js';
import { startFramed } from './exec.js';
import type { FramedExec } from './exec-framing.js';
import { TIE_FIFO } from './mapping.js';
import { TAG } from './tags.js';

interface Tie {
  group: string;
  exec: FramedExec | undefined;
  /** Set once the unit is released, stopped or removed: a lost tie is then not made again. */
  done: boolean;
  /** A reconnect in progress. */
  retry?: Promise<void>;
}

/**
 * The dead-man switch of ephemeral units on ACI, where nothing can be attached to a group's PID 1.
 *
 * Each ephemeral unit's guard (init --tie) ends the sandbox once no owner tie has held its FIFO for
 * the tie grace. This session holds one tie per unit it owns: a framed exec of `warden-guard tie`
 * whose helper (warden-aci-exec) kills it when this process stops pinging for the tie dead-man seconds
 * (the process died, even by kill -9, or its connection broke) — so with Warden gone the sandbox ends
 * by itself within dead-man + grace seconds, no Warden process needed. A tie lost while this process
 * lives is made again within the grace.
 *
 * Beside it, a lease tag (`warden.lease-until`) renewed while this process lives tells any sweep when
 * an ephemeral group was abandoned, so its (stopped) container group is deleted too.
 */
export class AciOwner implements OwnerSession {
  readonly link: OwnerLink;
  private readonly ties = new Map<string, Tie>();
  private readonly pending = new Set<Promise<unknown>>();
  private renewTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private seq = 0;

  constructor(
    private readonly arm: AciArm,
    private readonly settings: AciSettings,
    owner: string,
    private readonly log?: Logger,
  ) {
    this.link = { owner, link: `aci-${process.pid}-${randomBytes(6).toString('hex')}` };
  }

  linked(): string[] {
    return [...this.ties.keys()];
  }

  /** Drop this process's links: the units go on, no longer end with it, and no sweep takes them. */
  release(id?: string): void {
    for (const [uid, tie] of [...this.ties]) {
      if (id !== undefined && uid !== id) continue;
      this.ties.delete(uid);
      tie.done = true;
      const p = tie.exec;
      if (p?.stdin) {
        // 'u' unties the guard for good; the tie then ends with its stdin (close() waits for both)
        p.stdin.write('u');
        p.stdin.end();
        this.track(Promise.race([p.wait().catch(() => undefined), new Promise((r) => setTimeout(r, 15_000).unref())]));
      }
      this.track(this.dropLease(tie.group).catch((err: unknown) => this.log?.warn({ err, sandbox: uid }, 'releasing the lease of an ACI sandbox failed')));
    }
    if (this.ties.size === 0) this.stopRenewing();
  }

  /**
   * Tie unit `id` (group `group`) to this process; resolves once the guard has seen the tie. Throws
   * when the tie cannot be made (the unit will then end by itself after the tie grace).
   */
  async tie(id: string, group: string): Promise<void> {
    if (this.closed) throw new WardenError('EXEC_FAILED', 'this Warden runtime is closed');
    const tie: Tie = { group, exec: undefined, done: false };
    this.ties.set(id, tie);
    try {
      await this.connect(id, tie);
    } catch (err) {
      this.ties.delete(id);
      throw err;
    }
    this.startRenewing();
  }

  /** Forget unit `id` without untying (it is being stopped or removed: its guard may end it). */
  forget(id: string): void {
    const tie = this.ties.get(id);
    if (!tie) return;
    this.ties.delete(id);
    tie.done = true;
    tie.exec?.close();
    if (this.ties.size === 0) this.stopRenewing();
  }

  /** Whether unit `id` is tied here. */
  holds(id: string): boolean {
    return this.ties.has(id);
  }

  /** Close every tie (the units end after their grace, as if this process had died) and stop the timers. */
  async close(): Promise<void> {
    this.closed = true;
    for (const id of [...this.ties.keys()]) this.forget(id);
    this.stopRenewing();
    await Promise.allSettled([...this.pending]);
  }

  private track<T>(p: Promise<T>): void {
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  private async connect(id: string, tie: Tie): Promise<void> {
    const exec = await startFramed(this.arm, tie.group, {
      argv: guardTie(TIE_FIFO),
      stdin: true,
      deadmanSeconds: this.settings.tieDeadmanSeconds,
      execId: `tie-${id}-${this.seq++}`.replace(/[^A-Za-z0-9_.-]/g, '-').slice(0, 100),
    });
    exec.stderr.resume(); // the tie writes nothing there; never let it fill and pause the socket
    await new Promise<void>((resolve, reject) => {
      let seen = '';
      const timer = setTimeout(() => fail(new WardenError('EXEC_FAILED', `the owner tie of ${id} did not answer within 30 s`)), 30_000);
      const fail = (err: Error): void => {
        clearTimeout(timer);
        exec.close();
        reject(err);
      };
      exec.stdout.on('data', (d: Buffer) => {
        seen += d.toString('utf8');
        if (seen.startsWith('tied\n')) {
          clearTimeout(timer);
          resolve();
        }
      });
      exec.wait().then(
        (e) => fail(new WardenError('EXEC_FAILED', `the owner tie of ${id} ended at once (exit ${e.exitCode}); is the sandbox's guard started with --tie?`)),
        (err: Error) => fail(err),
      );
    });
    tie.exec = exec;
    // a tie that goes while the unit is still ours is made again (within the guard's grace)
    void exec.wait().then(
      () => this.lost(id, tie, exec),
      () => this.lost(id, tie, exec),
    );
  }

  private lost(id: string, tie: Tie, exec: FramedExec): void {
    if (tie.done || this.closed || tie.exec !== exec || this.ties.get(id) !== tie) return;
    tie.exec = undefined;
    this.log?.warn({ sandbox: id }, 'the owner tie of an ACI sandbox was lost; making it again');
    const deadline = Date.now() + this.settings.tieGraceSeconds * 1000;
    const again = async (): Promise<void> => {
      for (let attempt = 0; !tie.done && !this.closed && Date.now() < deadline; attempt++) {
        try {
          await this.connect(id, tie);
          return;
        } catch (err) {
          const code = (err as WardenError).code;
          if (code === 'SANDBOX_NOT_FOUND') {
            this.ties.delete(id); // removed: nothing left to hold
            return;
          }
          // it ended (max runtime, a stop from elsewhere): it stays linked here, and its lease renewed,
          // so it is removed when this owner dies, as on Docker
          if (code === 'SANDBOX_NOT_RUNNING') return;
          await new Promise((r) => setTimeout(r, Math.min(4000, 250 * 2 ** attempt)));
        }
      }
      if (!tie.done && !this.closed) this.log?.warn({ sandbox: id }, 'the owner tie of an ACI sandbox could not be made again within its grace: its guard ends it');
    };
    tie.retry = again();
    this.track(tie.retry);
  }

  private startRenewing(): void {
    if (this.renewTimer || this.closed) return;
    const every = Math.max(2000, Math.floor((this.settings.leaseSeconds * 1000) / 3)); // three renewals per lease
    this.renewTimer = setInterval(() => this.track(this.renew()), every);
    this.renewTimer.unref();
  }

  private stopRenewing(): void {
    if (this.renewTimer) clearInterval(this.renewTimer);
    this.renewTimer = undefined;
  }

  /** Push every held unit's lease forward (ARM replaces the tag set: read, change one, write). */
  async renew(): Promise<void> {
    const until = String(Date.now() + this.settings.leaseSeconds * 1000);
    await Promise.all(
      [...this.ties].map(async ([id, tie]) => {
        try {
          await this.arm.updateTags(tie.group, (tags) => (tags[TAG.link] === this.link.link ? { ...tags, [TAG.leaseUntil]: until } : undefined));
        } catch (err) {
          this.log?.warn({ err, sandbox: id }, 'renewing the lease of an ACI sandbox failed');
        }
      }),
    );
  }

  private async dropLease(group: string): Promise<void> {
    await this.arm.updateTags(group, (tags) => {
      if (tags[TAG.link] !== this.link.link) return undefined;
      const { [TAG.link]: _l, [TAG.leaseUntil]: _u, ...rest } = tags;
      return rest;
    });
  }
}
