// What the inbound and outbound halves of the peer transport share: time, bounds, logs, and the
// registry of open sockets that close() waits on.

import type { WebSocket } from 'ws';
import type { NodeId } from '../core/types.js';
import type { TransportLimits } from './transport-limits.js';
import type { RateLimitedLog, TransportLogger } from './transport-log.js';

/** Time as the transport sees it; a subset of the Raft node's Clock, so the same object fits. */
export interface TransportClock {
  /** Monotonic milliseconds. */
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemTransportClock: TransportClock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** Every socket not yet closed, both directions. */
export class SocketRegistry {
  private readonly open = new Set<WebSocket>();
  private waiters: (() => void)[] = [];

  track(ws: WebSocket): void {
    this.open.add(ws);
  }

  untrack(ws: WebSocket): void {
    this.open.delete(ws);
    if (this.open.size > 0) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Resolves once no socket is open. */
  drained(): Promise<void> {
    if (this.open.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}

export interface TransportContext {
  readonly id: NodeId;
  readonly limits: TransportLimits;
  readonly clock: TransportClock;
  readonly logger: TransportLogger;
  /** For everything a remote party can cause repeatedly. */
  readonly rateLog: RateLimitedLog;
  readonly sockets: SocketRegistry;
  isMember(id: NodeId): boolean;
  isClosed(): boolean;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
