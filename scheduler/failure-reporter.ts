// Tells users why a pod is Pending — its PodScheduled condition (False, Unschedulable, the fit
// message) and a Warning Event (FailedScheduling) — without letting an unschedulable flood flood
// the store: reports are coalesced per pod (only the latest message is kept), the condition is
// written only when its message changes, the same Event for the same pod at most once per
// EVENT_REPEAT_INTERVAL_MS (repeats are counted into the next one), and each flush writes at most
// MAX_REPORT_WRITES_PER_FLUSH objects; the rest wait for the next flush.

import type { Event, Pod, PodCondition } from '../proto/api/types.js';
import type { SchedulerApi } from './api.js';
import { podKey } from './framework/node-info.js';

export const REPORT_FLUSH_INTERVAL_MS = 1_000;
export const MAX_REPORT_WRITES_PER_FLUSH = 200;
/** Bound on pods with a report waiting; beyond it the oldest waiting report is dropped. */
export const MAX_PENDING_REPORTS = 10_000;
export const EVENT_REPEAT_INTERVAL_MS = 10 * 60_000;
/** Bound on pods remembered (last message written); beyond it the oldest are forgotten. */
export const MAX_REMEMBERED_PODS = 100_000;

export const REASON_UNSCHEDULABLE = 'Unschedulable';
/** The condition's reason when the attempt failed with an error rather than a misfit (Kubernetes'). */
export const REASON_SCHEDULER_ERROR = 'SchedulerError';
export const REASON_FAILED_SCHEDULING = 'FailedScheduling';

interface Written {
  conditionMessage: string;
  eventMessage: string;
  eventAt: number;
  suppressed: number;
}

export interface FailureReporterOptions {
  readonly now?: () => number;
  readonly component?: string;
  readonly instance?: string;
  readonly logger?: { warn(msg: string, fields?: Record<string, unknown>): void };
}

export class FailureReporter {
  private pending = new Map<string, { pod: Pod; message: string; reason: string }>();
  private readonly written = new Map<string, Written>();
  private timer: ReturnType<typeof setInterval> | undefined;
  private flushing: Promise<void> | undefined;
  private readonly now: () => number;
  private readonly component: string;
  private readonly instance: string;
  conditionWrites = 0;
  eventWrites = 0;
  droppedReports = 0;

  constructor(private readonly api: Pick<SchedulerApi, 'setPodScheduledCondition' | 'createEvent'>, private readonly opts: FailureReporterOptions = {}) {
    this.now = opts.now ?? Date.now;
    this.component = opts.component ?? 'default-scheduler';
    this.instance = opts.instance ?? this.component;
  }

  start(): void {
    this.timer ??= setInterval(() => void this.flush(), REPORT_FLUSH_INTERVAL_MS);
    this.timer.unref?.();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  report(pod: Pod, message: string, reason: string = REASON_UNSCHEDULABLE): void {
    const key = podKey(pod);
    this.pending.delete(key); // re-insert: newest last
    if (this.pending.size >= MAX_PENDING_REPORTS) {
      const oldest = this.pending.keys().next().value;
      if (oldest !== undefined) this.pending.delete(oldest);
      this.droppedReports++;
    }
    this.pending.set(key, { pod, message, reason });
  }

  /** The pod was bound or deleted: nothing more to say about it. */
  forget(key: string): void {
    this.pending.delete(key);
    this.written.delete(key);
  }

  flush(): Promise<void> {
    this.flushing ??= this.flushOnce().finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  private remember(key: string, w: Written): void {
    this.written.delete(key);
    if (this.written.size >= MAX_REMEMBERED_PODS) {
      const oldest = this.written.keys().next().value;
      if (oldest !== undefined) this.written.delete(oldest);
    }
    this.written.set(key, w);
  }

  private async flushOnce(): Promise<void> {
    let budget = MAX_REPORT_WRITES_PER_FLUSH;
    const writes: Promise<void>[] = [];
    for (const [key, { pod, message, reason }] of this.pending) {
      if (budget <= 0) break;
      this.pending.delete(key);
      const now = this.now();
      const w = this.written.get(key) ?? { conditionMessage: '', eventMessage: '', eventAt: -Infinity, suppressed: 0 };
      const current = pod.status?.conditions?.find((c) => c.type === 'PodScheduled');
      const conditionCurrent = current?.status === 'False' && current.reason === reason && current.message === message;
      if (!conditionCurrent && w.conditionMessage !== message) {
        const condition: PodCondition = { type: 'PodScheduled', status: 'False', reason, message, lastTransitionTime: new Date(now).toISOString() };
        budget--;
        this.conditionWrites++;
        writes.push(this.api.setPodScheduledCondition(pod, condition).catch((err: unknown) => this.warn('condition write failed', key, err)));
        w.conditionMessage = message;
      }
      if (w.eventMessage !== message || now - w.eventAt >= EVENT_REPEAT_INTERVAL_MS) {
        budget--;
        this.eventWrites++;
        writes.push(this.api.createEvent(this.event(pod, message, now, w.suppressed + 1)).catch((err: unknown) => this.warn('event write failed', key, err)));
        w.eventMessage = message;
        w.eventAt = now;
        w.suppressed = 0;
      } else {
        w.suppressed++;
      }
      this.remember(key, w);
    }
    await Promise.all(writes);
  }

  private warn(msg: string, pod: string, err: unknown): void {
    this.opts.logger?.warn(`failure reporter: ${msg}`, { pod, error: (err as Error).message });
  }

  private event(pod: Pod, message: string, now: number, count: number): Event {
    const time = new Date(now).toISOString();
    const name = pod.metadata.name ?? '';
    return {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: `${name}.${Math.floor(now * 1000).toString(16)}`, namespace: pod.metadata.namespace ?? 'default' },
      involvedObject: { kind: 'Pod', apiVersion: 'v1', namespace: pod.metadata.namespace ?? '', name, ...(pod.metadata.uid !== undefined ? { uid: pod.metadata.uid } : {}) },
      reason: REASON_FAILED_SCHEDULING,
      message,
      type: 'Warning',
      count,
      firstTimestamp: time,
      lastTimestamp: time,
      source: { component: this.component },
      reportingComponent: this.component,
      reportingInstance: this.instance,
      action: 'Scheduling',
    };
  }
}
