// Collects binding decisions and sends them in batches: a batch leaves when it reaches
// maxBatchSize or when its oldest decision has waited maxDelayMs, with at most maxInFlight batches
// outstanding (the rest wait, and the scheduler stops popping once maxPending are waiting).

export const BIND_MAX_BATCH_SIZE = 1_000;
export const BIND_MAX_DELAY_MS = 5;
export const BIND_MAX_IN_FLIGHT_BATCHES = 4;
/** Decisions waiting to be sent beyond which the scheduler pauses (backpressure). */
export const BIND_MAX_PENDING = 20_000;

export interface BindBatcherOptions {
  readonly maxBatchSize?: number;
  readonly maxDelayMs?: number;
  readonly maxInFlight?: number;
  readonly maxPending?: number;
}

export class BindBatcher<T> {
  private pending: T[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private inFlight = 0;
  private readonly idleWaiters: (() => void)[] = [];
  private readonly roomWaiters: (() => void)[] = [];
  private stopped = false;
  readonly maxBatchSize: number;
  private readonly maxDelayMs: number;
  private readonly maxInFlight: number;
  readonly maxPending: number;
  batchesSent = 0;

  constructor(
    /** Sends one batch; must not reject (turn failures into per-item results). */
    private readonly send: (batch: T[]) => Promise<void>,
    opts: BindBatcherOptions = {},
  ) {
    this.maxBatchSize = opts.maxBatchSize ?? BIND_MAX_BATCH_SIZE;
    this.maxDelayMs = opts.maxDelayMs ?? BIND_MAX_DELAY_MS;
    this.maxInFlight = opts.maxInFlight ?? BIND_MAX_IN_FLIGHT_BATCHES;
    this.maxPending = opts.maxPending ?? BIND_MAX_PENDING;
  }

  get pendingCount(): number {
    return this.pending.length;
  }

  get hasRoom(): boolean {
    return this.pending.length < this.maxPending;
  }

  add(item: T): void {
    if (this.stopped) return;
    this.pending.push(item);
    if (this.pending.length >= this.maxBatchSize) this.pump();
    else this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.pump(true);
    }, this.maxDelayMs);
  }

  private pump(timerFired = false): void {
    while (this.inFlight < this.maxInFlight && this.pending.length > 0 && (timerFired || this.pending.length >= this.maxBatchSize)) {
      const batch = this.pending.splice(0, this.maxBatchSize);
      this.inFlight++;
      this.batchesSent++;
      void this.send(batch).finally(() => {
        this.inFlight--;
        for (const w of this.roomWaiters.splice(0)) w();
        if (this.pending.length > 0) {
          // What waited behind the in-flight cap leaves at once; a partial batch after maxDelayMs.
          if (this.pending.length >= this.maxBatchSize) this.pump();
          else this.timer ??= setTimeout(() => {
            this.timer = undefined;
            this.pump(true);
          }, this.maxDelayMs);
        } else if (this.inFlight === 0) {
          for (const w of this.idleWaiters.splice(0)) w();
        }
      });
    }
    if (this.pending.length === 0 && this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  /** Resolves when the pending list is below maxPending. */
  waitForRoom(): Promise<void> {
    if (this.hasRoom || this.stopped) return Promise.resolve();
    return new Promise((r) => this.roomWaiters.push(r));
  }

  /** Resolves when nothing is pending or in flight. */
  waitForIdle(): Promise<void> {
    if (this.pending.length === 0 && this.inFlight === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  /** Stops sending; returns the decisions never sent (in-flight batches cannot be recalled). */
  stop(): T[] {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    for (const w of this.roomWaiters.splice(0)) w();
    for (const w of this.idleWaiters.splice(0)) w();
    return this.pending.splice(0);
  }
}
