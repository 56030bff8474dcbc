import { EventEmitter } from 'node:events';

/** What the dashboard and API clients can follow live. */
export type ServerEvent =
  | { type: 'sandbox'; sandboxId: string; state: string; reason?: string }
  | { type: 'sample'; sandboxId: string; ts: string; status: string; cpuPercent?: number; memoryBytes?: number; memoryLimit?: number; diskPercent?: number; pids?: number }
  | { type: 'exec-start'; sandboxId: string; execId: string; command: string[] }
  | { type: 'output'; sandboxId: string; execId: string; stream: 'stdout' | 'stderr'; data: string; seq: number }
  | { type: 'exec-exit'; sandboxId: string; execId: string; exitCode: number; durationMs: number; killedBy?: string; seq: number }
  | { type: 'egress'; sandboxId: string; allowed: number; denied: number }
  | { type: 'panic'; containers: number };

/** Output and exit events kept per sandbox, so a page opened late still sees recent output. */
const RING = 500;

/**
 * In-process publish/subscribe of server events, plus a bounded ring of each sandbox's recent
 * output. Subscribers get events in publish order; the output sequence numbers let a client see
 * that it missed nothing (they are gap-free per sandbox).
 */
export class EventBus {
  private readonly emitter = new EventEmitter();
  private readonly rings = new Map<string, Array<Extract<ServerEvent, { seq: number }>>>();
  private readonly seqs = new Map<string, number>();

  constructor() {
    this.emitter.setMaxListeners(0);
  }

  /** The next output sequence number of a sandbox. */
  nextSeq(sandboxId: string): number {
    const n = (this.seqs.get(sandboxId) ?? 0) + 1;
    this.seqs.set(sandboxId, n);
    return n;
  }

  publish(e: ServerEvent): void {
    if (e.type === 'output' || e.type === 'exec-exit') {
      let ring = this.rings.get(e.sandboxId);
      if (!ring) this.rings.set(e.sandboxId, (ring = []));
      ring.push(e);
      if (ring.length > RING) ring.splice(0, ring.length - RING);
    }
    this.emitter.emit('event', e);
  }

  /** Recent output of a sandbox (oldest first). */
  recent(sandboxId: string): Array<Extract<ServerEvent, { seq: number }>> {
    return [...(this.rings.get(sandboxId) ?? [])];
  }

  forget(sandboxId: string): void {
    this.rings.delete(sandboxId);
  }

  subscribe(fn: (e: ServerEvent) => void): () => void {
    this.emitter.on('event', fn);
    return () => this.emitter.off('event', fn);
  }
}
