/**
 * Runs `fn` every `intervalMs` after the previous run finished (never two at once), until stopped.
 * The timer does not keep the process alive.
 */
export class Periodic {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly intervalMs: number,
    private readonly fn: () => Promise<unknown>,
  ) {}

  start(): void {
    this.stop();
    const tick = (): void => {
      void this.fn()
        .catch(() => undefined)
        .finally(() => {
          if (this.timer) this.timer = setTimeout(tick, this.intervalMs).unref();
        });
    };
    this.timer = setTimeout(tick, this.intervalMs).unref();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/** A policy that checks sandboxes once (`checkOnce`) and can run that check every `policy.interval`. */
export abstract class PeriodicCheck<R> {
  private loop: Periodic | undefined;
  abstract readonly policy: { interval: number };
  abstract checkOnce(filter?: { labels?: Record<string, string> }): Promise<R[]>;

  /** Check every `policy.interval` until stop(). */
  start(filter: { labels?: Record<string, string> } = {}): void {
    this.stop();
    this.loop = new Periodic(this.policy.interval, () => this.checkOnce(filter));
    this.loop.start();
  }

  stop(): void {
    this.loop?.stop();
    this.loop = undefined;
  }
}
