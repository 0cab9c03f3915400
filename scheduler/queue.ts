// The scheduling queue (kube-scheduler's PriorityQueue), three parts:
//   activeQ        pods to schedule now: highest priority first, then first come first served;
//   backoffQ       pods that failed and wait out a per-pod exponential backoff (1 s, 2 s, ... 10 s);
//   unschedulable  pods no node fit, parked until a cluster event that could make them fit (a node
//                  added, a node with more room / fewer taints / schedulable again, a pod deleted).
// A pod is in at most one of the three, or in flight (popped, being scheduled or bound).
//
// A pod that failed while an event it might care about arrived (moveRequestCycle ≥ the cycle it
// was popped in) goes to backoffQ, not unschedulable: it would otherwise miss that event. The
// periodic flushes move finished backoffs to activeQ and, so no pod waits forever on an event that
// never comes, move pods parked longer than MAX_UNSCHEDULABLE_MS.

import type { Pod } from '../proto/api/types.js';
import type { ClusterEvent } from './framework/interfaces.js';
import { podKey } from './framework/node-info.js';
import { PriorityFifo } from './fifo.js';
import { KeyedHeap } from './heap.js';

export const INITIAL_BACKOFF_MS = 1_000;
export const MAX_BACKOFF_MS = 10_000;
/** How often finished backoffs move to activeQ (pop also checks). */
export const BACKOFF_FLUSH_INTERVAL_MS = 1_000;
/** How often parked pods are checked against MAX_UNSCHEDULABLE_MS. */
export const UNSCHEDULABLE_FLUSH_INTERVAL_MS = 30_000;
/** Longest a pod stays parked without an event (Kubernetes' podMaxInUnschedulablePodsDuration). */
export const MAX_UNSCHEDULABLE_MS = 5 * 60_000;

export interface QueuedPodInfo {
  pod: Pod;
  readonly key: string;
  /** When the pod first entered the queue (for create→bind latency). */
  readonly initialTimestamp: number;
  /** When it last entered activeQ or was parked (FIFO order, time parked). */
  timestamp: number;
  /** Scheduling attempts so far. */
  attempts: number;
  /** Plugins that rejected it in its last attempt; empty: any event may help. */
  unschedulablePlugins: Set<string>;
  backoffExpiry: number;
  /** Tie-breaker for equal timestamps. */
  seq: number;
}

export interface QueueOptions {
  readonly now?: () => number;
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
  readonly maxUnschedulableMs?: number;
  /** Whether `event` could make a pod that `plugin` rejected fit (Framework.isInterested). */
  readonly isInterested?: (plugin: string, event: ClusterEvent) => boolean;
}

export interface QueueLengths {
  readonly active: number;
  readonly backoff: number;
  readonly unschedulable: number;
  readonly inFlight: number;
}

/** Whether the parts of a pod scheduling looks at (spec, labels) differ. */
export function schedulingInputsChanged(a: Pod, b: Pod): boolean {
  if (a.spec === b.spec && a.metadata.labels === b.metadata.labels) return false;
  return JSON.stringify(a.spec ?? {}) !== JSON.stringify(b.spec ?? {}) || JSON.stringify(a.metadata.labels ?? {}) !== JSON.stringify(b.metadata.labels ?? {});
}

export class SchedulingQueue {
  /** Highest priority first, then FIFO (every pod enters with timestamp = now, so FIFO is by time). */
  private readonly activeQ = new PriorityFifo<QueuedPodInfo>(
    (p) => p.key,
    (p) => p.pod.spec?.priority ?? 0,
  );
  private readonly backoffQ = new KeyedHeap<QueuedPodInfo>(
    (p) => p.key,
    (a, b) => (a.backoffExpiry !== b.backoffExpiry ? a.backoffExpiry < b.backoffExpiry : a.seq < b.seq),
  );
  private readonly unschedulable = new Map<string, QueuedPodInfo>();
  private readonly inFlight = new Map<string, QueuedPodInfo>();
  private readonly waiters: (() => void)[] = [];
  private readonly timers: ReturnType<typeof setInterval>[] = [];
  /** Wakes the queue when the earliest backoff ends, so a waiting loop does not sleep through it. */
  private backoffWake: { at: number; timer: ReturnType<typeof setTimeout> } | undefined;
  private useTimers = false;
  private seq = 0;
  /** Incremented at each pop. */
  schedulingCycle = 0;
  /** The schedulingCycle when the last move event arrived. */
  private moveRequestCycle = -1;
  private readonly now: () => number;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly maxUnschedulableMs: number;
  private readonly isInterested: (plugin: string, event: ClusterEvent) => boolean;
  private closed = false;

  constructor(opts: QueueOptions = {}) {
    this.now = opts.now ?? Date.now;
    this.initialBackoffMs = opts.initialBackoffMs ?? INITIAL_BACKOFF_MS;
    this.maxBackoffMs = opts.maxBackoffMs ?? MAX_BACKOFF_MS;
    this.maxUnschedulableMs = opts.maxUnschedulableMs ?? MAX_UNSCHEDULABLE_MS;
    this.isInterested = opts.isInterested ?? (() => true);
  }

  get lengths(): QueueLengths {
    return { active: this.activeQ.size, backoff: this.backoffQ.size, unschedulable: this.unschedulable.size, inFlight: this.inFlight.size };
  }

  /** Where a pod is: 'active' | 'backoff' | 'unschedulable' | 'inFlight' | undefined. */
  whereIs(key: string): 'active' | 'backoff' | 'unschedulable' | 'inFlight' | undefined {
    if (this.activeQ.has(key)) return 'active';
    if (this.backoffQ.has(key)) return 'backoff';
    if (this.unschedulable.has(key)) return 'unschedulable';
    if (this.inFlight.has(key)) return 'inFlight';
    return undefined;
  }

  /** Starts the periodic flushes (with real timers). */
  start(): void {
    if (this.timers.length > 0) return;
    this.useTimers = true;
    this.timers.push(setInterval(() => this.flushBackoffCompleted(), BACKOFF_FLUSH_INTERVAL_MS));
    this.timers.push(setInterval(() => this.flushUnschedulableLeftover(), UNSCHEDULABLE_FLUSH_INTERVAL_MS));
    for (const t of this.timers) t.unref?.();
  }

  close(): void {
    this.closed = true;
    this.useTimers = false;
    for (const t of this.timers.splice(0)) clearInterval(t);
    if (this.backoffWake !== undefined) clearTimeout(this.backoffWake.timer);
    this.backoffWake = undefined;
    for (const w of this.waiters.splice(0)) w();
  }

  /** Backoff after `attempts` failures: initial · 2^(attempts−1), capped. */
  backoffDuration(attempts: number): number {
    if (attempts <= 0) return 0;
    let d = this.initialBackoffMs;
    for (let i = 1; i < attempts && d < this.maxBackoffMs; i++) d *= 2;
    return Math.min(d, this.maxBackoffMs);
  }

  private pushBackoff(p: QueuedPodInfo): void {
    this.backoffQ.push(p);
    if (!this.useTimers) return;
    const at = this.backoffQ.peek()?.backoffExpiry ?? p.backoffExpiry;
    if (this.backoffWake !== undefined && this.backoffWake.at <= at) return;
    if (this.backoffWake !== undefined) clearTimeout(this.backoffWake.timer);
    const timer = setTimeout(() => {
      this.backoffWake = undefined;
      this.flushBackoffCompleted();
      const next = this.backoffQ.peek();
      if (next !== undefined) {
        this.backoffQ.delete(next.key);
        this.pushBackoff(next);
      }
    }, Math.max(0, at - this.now()));
    timer.unref?.();
    this.backoffWake = { at, timer };
  }

  private pushActive(p: QueuedPodInfo): void {
    this.activeQ.push(p);
    const w = this.waiters.shift();
    if (w !== undefined) w();
  }

  /** A new pending pod (or one that came back pending). */
  add(pod: Pod): void {
    const key = podKey(pod);
    if (this.inFlight.has(key)) return;
    const now = this.now();
    this.backoffQ.delete(key);
    this.unschedulable.delete(key);
    const existing = this.activeQ.get(key);
    if (existing !== undefined) {
      existing.pod = pod;
      return;
    }
    this.pushActive({ pod, key, initialTimestamp: now, timestamp: now, attempts: 0, unschedulablePlugins: new Set(), backoffExpiry: 0, seq: this.seq++ });
  }

  /** A pending pod changed: refresh it where it waits; a parked pod gets another try (its spec may now fit). */
  update(pod: Pod): void {
    const key = podKey(pod);
    const inFlight = this.inFlight.get(key);
    if (inFlight !== undefined) {
      inFlight.pod = pod;
      return;
    }
    const active = this.activeQ.get(key);
    if (active !== undefined) {
      const reprioritized = (active.pod.spec?.priority ?? 0) !== (pod.spec?.priority ?? 0);
      active.pod = pod;
      if (reprioritized) this.activeQ.push(active);
      return;
    }
    const backoff = this.backoffQ.get(key);
    if (backoff !== undefined) {
      backoff.pod = pod;
      return;
    }
    const parked = this.unschedulable.get(key);
    if (parked !== undefined) {
      const old = parked.pod;
      parked.pod = pod;
      // Our own status write (the Unschedulable condition) must not wake it: only a change to
      // what scheduling reads can (Kubernetes' isPodUpdated ignores status and metadata churn).
      if (schedulingInputsChanged(old, pod)) {
        this.unschedulable.delete(key);
        this.requeueMoved(parked);
      }
      return;
    }
    this.add(pod);
  }

  /** The pod was deleted, or got bound (by us or another scheduler): forget it everywhere. */
  delete(pod: Pod): void {
    const key = podKey(pod);
    this.activeQ.delete(key);
    this.backoffQ.delete(key);
    this.unschedulable.delete(key);
    this.inFlight.delete(key);
  }

  /** The next pod to schedule, or undefined when activeQ is empty (after moving finished backoffs). */
  pop(): QueuedPodInfo | undefined {
    if (this.backoffQ.size > 0) this.flushBackoffCompleted();
    const p = this.activeQ.pop();
    if (p === undefined) return undefined;
    p.attempts++;
    this.schedulingCycle++;
    this.inFlight.set(p.key, p);
    return p;
  }

  /** Resolves when activeQ has a pod (or the queue closes). */
  waitForPod(): Promise<void> {
    if (this.activeQ.size > 0 || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** The popped pod is bound (or given up on): it leaves the queue's care. */
  done(key: string): void {
    this.inFlight.delete(key);
  }

  /**
   * The attempt that popped `p` in `podCycle` failed. `rejectedBy`: the plugins that rejected it
   * (parks it until an event they care about), or undefined for an error (straight to backoff).
   */
  requeue(p: QueuedPodInfo, podCycle: number, rejectedBy: ReadonlySet<string> | undefined): void {
    if (!this.inFlight.has(p.key)) return; // deleted or bound while in flight
    this.inFlight.delete(p.key);
    const now = this.now();
    p.timestamp = now;
    p.backoffExpiry = now + this.backoffDuration(p.attempts);
    p.seq = this.seq++;
    if (rejectedBy === undefined || this.moveRequestCycle >= podCycle) {
      p.unschedulablePlugins = new Set(rejectedBy ?? []);
      this.pushBackoff(p);
      return;
    }
    p.unschedulablePlugins = new Set(rejectedBy);
    this.unschedulable.set(p.key, p);
  }

  private requeueMoved(p: QueuedPodInfo): void {
    if (p.backoffExpiry > this.now()) {
      this.pushBackoff(p);
    } else {
      p.timestamp = this.now();
      this.pushActive(p);
    }
  }

  private interestedIn(p: QueuedPodInfo, event: ClusterEvent): boolean {
    if (p.unschedulablePlugins.size === 0) return true;
    for (const plugin of p.unschedulablePlugins) if (this.isInterested(plugin, event)) return true;
    return false;
  }

  /** A cluster event: parked pods it could help move to backoffQ (still backing off) or activeQ. */
  moveAllToActiveOrBackoff(event: ClusterEvent): number {
    let moved = 0;
    for (const [key, p] of this.unschedulable) {
      if (!this.interestedIn(p, event)) continue;
      this.unschedulable.delete(key);
      this.requeueMoved(p);
      moved++;
    }
    this.moveRequestCycle = this.schedulingCycle;
    return moved;
  }

  /** Moves every pod whose backoff has ended to activeQ. */
  flushBackoffCompleted(): number {
    const now = this.now();
    let moved = 0;
    for (let top = this.backoffQ.peek(); top !== undefined && top.backoffExpiry <= now; top = this.backoffQ.peek()) {
      this.backoffQ.pop();
      top.timestamp = now;
      this.pushActive(top);
      moved++;
    }
    return moved;
  }

  /** Moves pods parked longer than maxUnschedulableMs, as if an event had come. */
  flushUnschedulableLeftover(): number {
    const now = this.now();
    let moved = 0;
    for (const [key, p] of this.unschedulable) {
      if (now - p.timestamp < this.maxUnschedulableMs) continue;
      this.unschedulable.delete(key);
      this.requeueMoved(p);
      moved++;
    }
    return moved;
  }
}

