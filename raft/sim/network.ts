// The simulated network: every message gets a random delay (so messages reorder), may be dropped
// or duplicated, and is cut by partitions, including one-way cuts.

import type { Message, NodeId } from '../core/types.js';
import type { Rng } from './rng.js';

export interface NetworkFaults {
  /** Probability that a message is lost. */
  dropRate: number;
  /** Probability that a message is delivered twice. */
  duplicateRate: number;
  /** Largest delay in ticks; delays are uniform in [0, maxDelay]. */
  maxDelay: number;
}

export const HEALTHY_NETWORK: NetworkFaults = { dropRate: 0, duplicateRate: 0, maxDelay: 1 };

interface InFlight {
  readonly deliverAt: number;
  /** Send order, so that equal delivery times stay deterministic. */
  readonly seq: number;
  readonly msg: Message;
}

/** Bound on messages in flight: a run that exceeds it has a message storm, itself a bug. */
export const MAX_IN_FLIGHT_MESSAGES = 200_000;

export class SimNetwork {
  faults: NetworkFaults = { ...HEALTHY_NETWORK };
  /** Directed cuts: "from>to" means messages from `from` to `to` are lost. */
  private readonly cuts = new Set<string>();
  private queue: InFlight[] = [];
  private seq = 0;
  sent = 0;
  delivered = 0;
  dropped = 0;

  constructor(private readonly rng: Rng) {}

  cut(from: NodeId, to: NodeId): void {
    this.cuts.add(`${from}>${to}`);
  }

  /** Cuts both directions between every node of `side` and every node outside it. */
  partition(side: readonly NodeId[], all: readonly NodeId[]): void {
    const inSide = new Set(side);
    for (const a of all) {
      for (const b of all) {
        if (inSide.has(a) !== inSide.has(b)) this.cut(a, b);
      }
    }
  }

  isCut(from: NodeId, to: NodeId): boolean {
    return this.cuts.has(`${from}>${to}`);
  }

  healPartitions(): void {
    this.cuts.clear();
  }

  describeCuts(): string {
    return [...this.cuts].sort().join(' ');
  }

  send(msg: Message, now: number): void {
    this.sent++;
    if (this.isCut(msg.from, msg.to) || this.rng.chance(this.faults.dropRate)) {
      this.dropped++;
      return;
    }
    this.enqueue(msg, now);
    if (this.rng.chance(this.faults.duplicateRate)) this.enqueue(msg, now);
  }

  private enqueue(msg: Message, now: number): void {
    if (this.queue.length >= MAX_IN_FLIGHT_MESSAGES) throw new Error(`more than ${MAX_IN_FLIGHT_MESSAGES} messages in flight`);
    this.queue.push({ deliverAt: now + this.rng.int(this.faults.maxDelay + 1), seq: this.seq++, msg });
  }

  /**
   * Removes and returns the messages due at `now` whose receiver `canReceive`, in delivery order.
   * A partition decided after sending also cuts messages already in flight.
   */
  due(now: number, canReceive: (id: NodeId) => boolean): Message[] {
    const out: InFlight[] = [];
    const keep: InFlight[] = [];
    for (const f of this.queue) {
      if (f.deliverAt <= now && canReceive(f.msg.to)) {
        if (this.isCut(f.msg.from, f.msg.to)) this.dropped++;
        else out.push(f);
      } else {
        keep.push(f);
      }
    }
    this.queue = keep;
    out.sort((a, b) => a.deliverAt - b.deliverAt || a.seq - b.seq);
    this.delivered += out.length;
    return out.map((f) => f.msg);
  }

  /** The latest tick at which a message in flight from `from` to `to` is due; undefined when none is. */
  lastDueFrom(from: NodeId, to: NodeId): number | undefined {
    let last: number | undefined;
    for (const f of this.queue) if (f.msg.from === from && f.msg.to === to && (last === undefined || f.deliverAt > last)) last = f.deliverAt;
    return last;
  }

  /** Drops every message to or from a node (it crashed: its sockets are gone). */
  dropFor(id: NodeId): void {
    const before = this.queue.length;
    this.queue = this.queue.filter((f) => f.msg.to !== id);
    this.dropped += before - this.queue.length;
  }

  get inFlight(): number {
    return this.queue.length;
  }
}
