// Callers waiting for a watch cache to reach a revision, each with its own deadline and abort
// signal. Waiters are few (reads and watches that name a revision ahead of the cache, for at most
// the wait timeout), so a plain list is enough.

import type { Clock } from '../../raft/driver/raft-node.js';

interface RevisionWaiter {
  readonly revision: number;
  resolve(): void;
  reject(error: Error): void;
}

export class RevisionWaiters {
  private waiters: RevisionWaiter[] = [];

  constructor(private readonly clock: Clock) {}

  get size(): number {
    return this.waiters.length;
  }

  /**
   * Resolves when reached() is called with `revision` or more; rejects with onTimeout() after
   * timeoutMs, or with the signal's reason when it aborts.
   */
  wait(revision: number, timeoutMs: number, signal: AbortSignal | undefined, onTimeout: () => Error): Promise<void> {
    if (signal?.aborted === true) return Promise.reject(abortReason(signal));
    return new Promise<void>((resolve, reject) => {
      const settle = (): void => {
        this.clock.clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.waiters = this.waiters.filter((w) => w !== waiter);
      };
      const waiter: RevisionWaiter = {
        revision,
        resolve: () => {
          settle();
          resolve();
        },
        reject: (error) => {
          settle();
          reject(error);
        },
      };
      const timer = this.clock.setTimeout(() => waiter.reject(onTimeout()), timeoutMs);
      const onAbort = (): void => waiter.reject(abortReason(signal));
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  /** Resolves every waiter at or below `revision`. */
  reached(revision: number): void {
    if (this.waiters.length === 0) return;
    for (const waiter of this.waiters.filter((w) => w.revision <= revision)) waiter.resolve();
  }

  rejectAll(error: Error): void {
    for (const waiter of [...this.waiters]) waiter.reject(error);
  }
}

function abortReason(signal: AbortSignal | undefined): Error {
  const reason: unknown = signal?.reason;
  return reason instanceof Error ? reason : new Error('the wait was aborted');
}
