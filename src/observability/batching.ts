/** A timer whose work was dropped (its request's waitUntil cut short) is replaced after this long. */
const LOST_TIMER_GRACE_MS = 30_000;

/**
 * Sends what an isolate accumulates (metric deltas, finished spans) in batches: the first event
 * after a send arms one timer, kept alive with waitUntil, and every event until it fires joins
 * the same batch. Sends never overlap, so batches arrive in order.
 */
export class BatchSchedule {
  private armedAt: number | undefined;
  private sending: Promise<void> | undefined;

  /** Makes sure `send` runs within `delayMs`; a no-op while a send is already due. */
  arm(send: () => Promise<void>, delayMs: number, defer: (work: Promise<unknown>) => void): void {
    const now = Date.now();
    if (this.armedAt !== undefined && now - this.armedAt < delayMs + LOST_TIMER_GRACE_MS) return;
    this.armedAt = now;
    const fire = async () => {
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      this.armedAt = undefined;
      await this.now(send);
    };
    defer(fire());
  }

  /** Sends at once, after any send in progress. */
  async now(send: () => Promise<void>): Promise<void> {
    while (this.sending) await this.sending;
    const sending = send().finally(() => {
      this.sending = undefined;
    });
    this.sending = sending;
    await sending;
  }
}
