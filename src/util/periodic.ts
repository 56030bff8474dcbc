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
