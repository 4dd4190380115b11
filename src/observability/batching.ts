/** A timer whose work was dropped (its request's waitUntil cut short) is replaced after this long. */
const LOST_TIMER_GRACE_MS = 30_000;

/**
 * Sends what an isolate accumulates (metric deltas, finished spans) in batches: the first event
 * after a send arms one timer, kept alive with waitUntil, and every event until it fires joins
 * the same batch.
 *
 * No request ever waits on a send another request started: in Workers that promise belongs to
 * the other request, and if that one is cancelled midway it never settles. Sends may therefore
 * overlap; what they carry must tolerate that (metric batches are deduplicated by id, spans are
 * taken by one send only).
 */
export class BatchSchedule {
  private armedAt: number | undefined;

  /** Makes sure `send` runs within `delayMs`; a no-op while a send is already due. */
  arm(send: () => Promise<void>, delayMs: number, defer: (work: Promise<unknown>) => void): void {
    const now = Date.now();
    if (this.armedAt !== undefined && now - this.armedAt < delayMs + LOST_TIMER_GRACE_MS) return;
    this.armedAt = now;
    const fire = async () => {
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      this.armedAt = undefined;
      await send();
    };
    defer(fire());
  }
}
