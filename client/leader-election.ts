// Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it: one
// holder at a time; the holder renews `renewTime` every retry period; a candidate takes over only
// once the lease has gone unrenewed for leaseDuration by ITS OWN clock (it notes when it last saw
// the record change — no clocks are compared across machines). Every write carries the read's
// resourceVersion, so two candidates racing for an expired lease cannot both win.
//
// Safety rests on renewDeadline < leaseDuration: a holder that cannot renew for renewDeadline
// steps down (onStoppedLeading) before any other candidate can consider the lease expired.
// Reusable by any component (scheduler, controller manager): it knows only the narrow LeaseApi.

import type { Lease } from '../proto/api/types.js';

export const LEASE_DURATION_MS = 15_000;
export const RENEW_DEADLINE_MS = 10_000;
export const RETRY_PERIOD_MS = 2_000;

/** A create found the lease existing, or an update's resourceVersion was stale. */
export class LeaseConflictError extends Error {
  override readonly name = 'LeaseConflictError';
  constructor(readonly namespace: string, readonly leaseName: string, reason: string, opts?: { cause?: unknown }) {
    super(`lease ${namespace}/${leaseName}: ${reason}`, opts);
  }
}

/** What the elector needs of the API. */
export interface LeaseApi {
  getLease(namespace: string, name: string): Promise<Lease | undefined>;
  /** Throws LeaseConflictError when it exists already. */
  createLease(lease: Lease): Promise<Lease>;
  /** Throws LeaseConflictError when lease.metadata.resourceVersion is not the current one. */
  updateLease(lease: Lease): Promise<Lease>;
}

export interface LeaderCallbacks {
  /** Now the leader; `signal` aborts when leadership ends. */
  onStartedLeading(signal: AbortSignal): void;
  /** No longer the leader (lost the lease, or stopped): stop acting at once. */
  onStoppedLeading(): void;
  onNewLeader?(identity: string): void;
}

export interface LeaderElectorOptions {
  readonly leases: LeaseApi;
  readonly namespace: string;
  readonly name: string;
  readonly identity: string;
  readonly callbacks: LeaderCallbacks;
  readonly leaseDurationMs?: number;
  readonly renewDeadlineMs?: number;
  readonly retryPeriodMs?: number;
  readonly now?: () => number;
  readonly logger?: { warn(msg: string, fields?: Record<string, unknown>): void };
  /**
   * While this returns true, the candidate leaves a free or expired lease to the others for
   * DEFER_RETRY_PERIODS retry periods before taking it itself (a master's scheduler defers while
   * its master is the Raft leader, which has the most work already). A holder keeps renewing
   * whatever this says; a candidate nobody else beats still takes over, only later.
   */
  readonly deferWhile?: () => boolean;
}

/** Retry periods a deferring candidate waits on a free or expired lease: every other candidate gets a try first. */
export const DEFER_RETRY_PERIODS = 2;

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

function rfc3339Micro(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export class LeaderElector {
  private readonly abort = new AbortController();
  private leading: AbortController | undefined;
  private observedKey = '';
  /** Local time at which the lease record was last seen to change. */
  private observedTime = 0;
  private observedHolder = '';
  /** Local time at which the lease was first seen missing (undefined: it exists, or was not looked at). */
  private absentSince: number | undefined;
  private loop: Promise<void> | undefined;
  /** Local time of this leader's last successful acquire or renew. */
  private lastRenewAt = 0;
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private readonly now: () => number;

  constructor(private readonly opts: LeaderElectorOptions) {
    this.leaseDurationMs = opts.leaseDurationMs ?? LEASE_DURATION_MS;
    this.renewDeadlineMs = opts.renewDeadlineMs ?? RENEW_DEADLINE_MS;
    this.retryPeriodMs = opts.retryPeriodMs ?? RETRY_PERIOD_MS;
    this.now = opts.now ?? Date.now;
    if (this.renewDeadlineMs >= this.leaseDurationMs) throw new Error('leader election: renewDeadline must be shorter than leaseDuration');
    if (this.retryPeriodMs >= this.renewDeadlineMs) throw new Error('leader election: retryPeriod must be shorter than renewDeadline');
  }

  get isLeader(): boolean {
    return this.leading !== undefined;
  }

  /**
   * Leading, and the last renewal is recent enough (within renewDeadline, by this clock) that no
   * other candidate can have taken over yet. A leader that was paused (GC, SIGSTOP) may resume
   * before its renew loop notices it lost the lease: act only while this holds (a fence).
   */
  holdsLease(): boolean {
    return this.leading !== undefined && this.now() - this.lastRenewAt < this.renewDeadlineMs;
  }

  /** The holder last observed (possibly this elector). */
  get leader(): string {
    return this.observedHolder;
  }

  /** Starts campaigning; resolves when stopped. After losing the lease it campaigns again. */
  run(): Promise<void> {
    this.loop ??= this.campaign();
    return this.loop;
  }

  /**
   * Stops campaigning and leading. `release` (a graceful shutdown) clears the holder so a standby
   * takes over at once instead of after leaseDuration; a crash is a stop without it.
   */
  async stop(opts: { release?: boolean } = {}): Promise<void> {
    const wasLeading = this.isLeader;
    this.abort.abort();
    this.stepDown();
    await this.loop;
    if (opts.release === true && wasLeading) await this.release();
  }

  /**
   * Gives up leading now, while the lease may still be ours: the holder's fence found holdsLease()
   * false (no renewal within renewDeadline: a stalled store, a slow renewal) and stopped acting.
   * onStoppedLeading runs, and the elector campaigns again; it may win its own lease back at once,
   * and onStartedLeading then starts afresh. Without this, a renewal that succeeds late would leave
   * the elector leading a holder that had already stopped.
   */
  resign(): void {
    this.stepDown();
  }

  private stepDown(): void {
    const leading = this.leading;
    if (leading === undefined) return;
    this.leading = undefined;
    leading.abort();
    this.opts.callbacks.onStoppedLeading();
  }

  private async campaign(): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      // Acquire.
      while (!signal.aborted && !(await this.tryAcquireOrRenew())) await sleep(this.retryPeriodMs, signal);
      if (signal.aborted) return;
      const leading = new AbortController();
      this.leading = leading;
      this.opts.callbacks.onStartedLeading(leading.signal);
      // Renew until a renewal has failed for renewDeadline, someone else holds the lease, or the
      // holder resigned.
      while (!signal.aborted && this.leading === leading) {
        await sleep(this.retryPeriodMs, signal);
        if (signal.aborted) break;
        if (await this.tryAcquireOrRenew()) continue;
        const held = this.observedHolder !== '' && this.observedHolder !== this.opts.identity;
        if (held || this.now() - this.lastRenewAt >= this.renewDeadlineMs) break;
      }
      this.stepDown();
    }
  }

  /** One attempt; true when this elector holds the lease afterwards. Never throws. */
  async tryAcquireOrRenew(): Promise<boolean> {
    const { leases, namespace, name, identity } = this.opts;
    const now = this.now();
    try {
      const current = await leases.getLease(namespace, name);
      const deferring = this.opts.deferWhile?.() === true;
      if (current === undefined) {
        this.absentSince ??= now;
        if (deferring && now - this.absentSince < this.deferMs()) return false;
        const created = await leases.createLease({
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name, namespace },
          spec: {
            holderIdentity: identity,
            leaseDurationSeconds: Math.ceil(this.leaseDurationMs / 1000),
            acquireTime: rfc3339Micro(now),
            renewTime: rfc3339Micro(now),
            leaseTransitions: 0,
          },
        });
        this.observe(created, now);
        this.lastRenewAt = now;
        return true;
      }
      this.absentSince = undefined;
      this.observe(current, now);
      const spec = current.spec ?? {};
      const holder = spec.holderIdentity ?? '';
      const durationMs = (spec.leaseDurationSeconds ?? Math.ceil(this.leaseDurationMs / 1000)) * 1000;
      if (holder !== '' && holder !== identity && this.observedTime + durationMs > now) return false;
      const renewing = holder === identity;
      // Free since it was released (the record changed then) or since it expired.
      const freeSince = holder === '' ? this.observedTime : this.observedTime + durationMs;
      if (!renewing && deferring && now - freeSince < this.deferMs()) return false;
      const updated = await leases.updateLease({
        ...current,
        spec: {
          holderIdentity: identity,
          leaseDurationSeconds: Math.ceil(this.leaseDurationMs / 1000),
          acquireTime: renewing && spec.acquireTime !== undefined ? spec.acquireTime : rfc3339Micro(now),
          renewTime: rfc3339Micro(now),
          leaseTransitions: renewing ? (spec.leaseTransitions ?? 0) : (spec.leaseTransitions ?? 0) + 1,
        },
      });
      this.observe(updated, now);
      this.lastRenewAt = now;
      return true;
    } catch (err) {
      if (!(err instanceof LeaseConflictError)) this.opts.logger?.warn('leader election: lease read/write failed', { lease: `${namespace}/${name}`, error: (err as Error).message });
      return false;
    }
  }

  private deferMs(): number {
    return DEFER_RETRY_PERIODS * this.retryPeriodMs;
  }

  private observe(lease: Lease, now: number): void {
    const holder = lease.spec?.holderIdentity ?? '';
    const key = `${lease.metadata.resourceVersion ?? ''}|${holder}|${lease.spec?.renewTime ?? ''}`;
    if (key !== this.observedKey) {
      this.observedKey = key;
      this.observedTime = now;
    }
    if (holder !== this.observedHolder) {
      this.observedHolder = holder;
      if (holder !== '') this.opts.callbacks.onNewLeader?.(holder);
    }
  }

  private async release(): Promise<void> {
    const { leases, namespace, name, identity } = this.opts;
    try {
      const current = await leases.getLease(namespace, name);
      if (current === undefined || current.spec?.holderIdentity !== identity) return;
      await leases.updateLease({ ...current, spec: { ...current.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: rfc3339Micro(this.now()) } });
    } catch (err) {
      this.opts.logger?.warn('leader election: release failed', { lease: `${namespace}/${name}`, error: (err as Error).message });
    }
  }
}
