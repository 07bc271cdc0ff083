/** How a test sees that the event loop kept running during a long async call. */

/** What {@link ticksDuring} measured. */
export interface Ticks {
  /** Firings of a 2 ms interval while the call ran. */
  readonly ticks: number;
  /** Milliseconds from the start until the call settled. */
  readonly elapsed: number;
  /** Milliseconds until `start` returned its promise (the main thread's share of the call). */
  readonly returnedAfter: number;
}

/** Runs `start` (which queues a long async call) while a 2 ms interval counts ticks. */
export async function ticksDuring(start: () => Promise<unknown>): Promise<Ticks> {
  let ticks = 0;
  const timer = setInterval(() => {
    ticks++;
  }, 2);
  try {
    const t0 = performance.now();
    const pending = start();
    const returnedAfter = performance.now() - t0;
    await pending;
    return { ticks, elapsed: performance.now() - t0, returnedAfter };
  } finally {
    clearInterval(timer);
  }
}
