// Linearizable reads by ReadIndex (Raft thesis §6.4). The leader records its commit index for a
// read, proves it is still the leader by a round of heartbeats acknowledged by a quorum, and then
// releases the read: the reader serves it once its state machine has applied that index.

import type { Message, NodeId } from './types.js';

export const ReadOnlyOption = {
  /** Confirm leadership with a heartbeat quorum for every batch of reads. Always safe. */
  Safe: 'safe',
  /**
   * Trust the leader's lease (no heartbeat round). Only valid with check-quorum, and only as safe
   * as the clocks' drift is bounded: a leader that cannot hear a quorum steps down after an
   * election timeout, before any other node can have been elected.
   */
  LeaseBased: 'lease-based',
} as const;
export type ReadOnlyOption = (typeof ReadOnlyOption)[keyof typeof ReadOnlyOption];

export interface ReadIndexStatus {
  readonly request: Message;
  readonly index: number;
  readonly acks: Set<NodeId>;
}

/** Contexts identify reads; they compare as bytes. */
export function contextKey(ctx: Uint8Array): string {
  let s = '';
  for (const b of ctx) s += b.toString(16).padStart(2, '0');
  return s;
}

export class ReadOnly {
  private pending = new Map<string, ReadIndexStatus>();
  /** Keys in arrival order; every read before an acknowledged one is confirmed too. */
  private queue: string[] = [];

  constructor(readonly option: ReadOnlyOption) {}

  get size(): number {
    return this.queue.length;
  }

  /** Records a read at the leader's commit index. A repeated context is ignored. */
  addRequest(index: number, request: Message): void {
    const key = contextKey(request.context);
    if (this.pending.has(key)) return;
    this.pending.set(key, { request, index, acks: new Set() });
    this.queue.push(key);
  }

  /** Records a heartbeat acknowledgement; returns who has acknowledged that read so far. */
  recvAck(from: NodeId, ctx: Uint8Array): ReadonlySet<NodeId> | undefined {
    const rs = this.pending.get(contextKey(ctx));
    if (rs === undefined) return undefined;
    rs.acks.add(from);
    return rs.acks;
  }

  /** Releases the read with this context and every read queued before it. */
  advance(ctx: Uint8Array): ReadIndexStatus[] {
    const key = contextKey(ctx);
    const at = this.queue.indexOf(key);
    if (at < 0) return [];
    const released: ReadIndexStatus[] = [];
    for (const k of this.queue.slice(0, at + 1)) {
      const rs = this.pending.get(k);
      if (rs !== undefined) released.push(rs);
      this.pending.delete(k);
    }
    this.queue = this.queue.slice(at + 1);
    return released;
  }

  lastPendingContext(): Uint8Array | undefined {
    const key = this.queue[this.queue.length - 1];
    return key === undefined ? undefined : this.pending.get(key)?.request.context;
  }
}
