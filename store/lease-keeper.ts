// The leader's lease deadlines. The MVCC state machine knows which leases exist and their granted
// TTLs, identically on every master; when a lease expires is a matter of wall time, which Raft
// cannot replicate. So, as in etcd's lessor, only the leader keeps deadlines: a keep-alive resets a
// lease's deadline to a full TTL, and a lease past its deadline is revoked by proposing a
// leaseRevoke command, which every master then applies like any other.
//
// A new leader does not know its predecessor's deadlines, so every lease gets a fresh full TTL on
// becomeLeader (etcd's Promote). A lease may therefore live up to one TTL longer than asked across
// a change of leader; never shorter.
//
// The owner wires it up: becomeLeader/stepDown on role changes; granted/revoked for EVERY applied
// leaseGrant/leaseRevoke (whoever proposed it), so the leader tracks exactly the leases in the
// store; tick() at a regular interval. Invariant while leader: every lease in the store is tracked,
// except one whose grant is applied but not yet reported through granted().

import { LeaseTtlTooLargeError, NotLeaderError, TooManyLeasesError } from './backend.js';
import { MAX_LEASE_ID, MAX_LEASE_TTL_SECONDS } from './mvcc/commands.js';
import { LeaseNotFoundError } from './mvcc/errors.js';
import type { RandomSource } from '../raft/core/raft.js';

/**
 * The most leases this leader accepts grants for. Leases already in the store are always tracked,
 * whatever their number (an untracked lease would never expire), so the bound holds for grants
 * proposed here, and the tracked count can exceed it only by grants a previous leader made.
 */
/** How often expired leases are looked for. etcd's lessor checks every 500 ms. */
export const LEASE_TICK_MS = 500;

export const MAX_TRACKED_LEASES = 100_000;

/**
 * etcd's minimum lease TTL with its default timing: 1.5 election timeouts (1 s) rounded up to whole
 * seconds, so a lease cannot expire during the election that follows a leader's failure.
 */
export const DEFAULT_MIN_LEASE_TTL_SECONDS = 2;

/** A revoke proposal that failed (lost leadership, timed out) is proposed again after this long (etcd's expiredLeaseRetryInterval). */
export const LEASE_REVOKE_RETRY_MS = 3_000;

/** Revoke proposals outstanding at once; later expiries wait for a later tick (etcd revokes 1,000 leases a second). */
export const MAX_REVOKES_IN_FLIGHT = 1_000;

/** Random draws for an unused lease id before giving up (a collision is already a 1-in-2^36 event). */
export const LEASE_ID_ATTEMPTS = 16;

const MS_PER_SECOND = 1_000;
const TWO_POW_26 = 2 ** 26;
const TWO_POW_27 = 2 ** 27;

/** Monotonic milliseconds; injected so tests move time by hand. */
export interface LeaseClock {
  now(): number;
}

export interface LeaseKeeperOptions {
  readonly clock: LeaseClock;
  /** Proposes a leaseRevoke command; resolves once applied. */
  readonly revoke: (id: number) => Promise<unknown>;
  readonly minTtlSeconds?: number;
  readonly maxLeases?: number;
  readonly revokeRetryMs?: number;
  readonly maxRevokesInFlight?: number;
  /** Told when a revoke proposal fails for another reason than the lease being gone already. */
  readonly onRevokeFailure?: (id: number, error: unknown) => void;
}

interface TrackedLease {
  /** Granted TTL in seconds. */
  readonly ttl: number;
  /** Clock time (ms) at which the lease expires. */
  deadline: number;
  /** Clock time the last revoke was proposed; undefined until the lease has expired. */
  revokeProposedAt: number | undefined;
}

export class LeaseKeeper {
  private readonly leases = new Map<number, TrackedLease>();
  private leader = false;
  /** Grants proposed here and not yet settled; they count against maxLeases. */
  private reservedGrants = 0;
  private revokesInFlight = 0;
  /** Bumped on every role change, so callbacks of a previous term's revokes are ignored. */
  private generation = 0;
  readonly minTtlSeconds: number;
  readonly maxLeases: number;
  private readonly revokeRetryMs: number;
  private readonly maxRevokesInFlight: number;

  constructor(private readonly options: LeaseKeeperOptions) {
    this.minTtlSeconds = options.minTtlSeconds ?? DEFAULT_MIN_LEASE_TTL_SECONDS;
    this.maxLeases = options.maxLeases ?? MAX_TRACKED_LEASES;
    this.revokeRetryMs = options.revokeRetryMs ?? LEASE_REVOKE_RETRY_MS;
    this.maxRevokesInFlight = options.maxRevokesInFlight ?? MAX_REVOKES_IN_FLIGHT;
  }

  get isLeader(): boolean {
    return this.leader;
  }

  /** Leases tracked (0 unless leader). */
  get size(): number {
    return this.leases.size;
  }

  /** Starts keeping deadlines for every lease in the store, each with a fresh full TTL. */
  becomeLeader(leases: Iterable<{ readonly id: number; readonly ttl: number }>): void {
    this.generation++;
    this.leader = true;
    this.leases.clear();
    this.reservedGrants = 0;
    this.revokesInFlight = 0;
    const now = this.options.clock.now();
    for (const { id, ttl } of leases) this.track(id, ttl, now);
  }

  /** Forgets every deadline: the next leader decides expiry. */
  stepDown(): void {
    this.generation++;
    this.leader = false;
    this.leases.clear();
    this.reservedGrants = 0;
    this.revokesInFlight = 0;
  }

  private track(id: number, ttl: number, now: number): void {
    this.leases.set(id, { ttl, deadline: now + ttl * MS_PER_SECOND, revokeProposedAt: undefined });
  }

  /** The TTL the leader grants for a requested one (etcd: raised to the minimum, refused above the maximum). */
  grantTtl(requested: number): number {
    if (requested > MAX_LEASE_TTL_SECONDS) throw new LeaseTtlTooLargeError(requested, MAX_LEASE_TTL_SECONDS);
    return Math.max(requested, this.minTtlSeconds);
  }

  /**
   * Takes room for one grant about to be proposed; call the returned function once the proposal has
   * settled (after granted() for a success). Throws NotLeaderError, or TooManyLeasesError at the bound.
   */
  reserveGrant(): () => void {
    if (!this.leader) throw new NotLeaderError();
    if (this.leases.size + this.reservedGrants >= this.maxLeases) throw new TooManyLeasesError(this.maxLeases);
    this.reservedGrants++;
    const generation = this.generation;
    let released = false;
    return () => {
      if (released || generation !== this.generation) return;
      released = true;
      this.reservedGrants--;
    };
  }

  /** An unused lease id in [1, MAX_LEASE_ID], drawn at random so ids do not repeat across leaders. */
  chooseId(random: RandomSource, exists: (id: number) => boolean): number {
    for (let attempt = 0; attempt < LEASE_ID_ATTEMPTS; attempt++) {
      // 53 random bits from two draws (RandomSource draws are bounded well below 2^53).
      const id = random.int(TWO_POW_26) * TWO_POW_27 + random.int(TWO_POW_27);
      if (id >= 1 && id <= MAX_LEASE_ID && !this.leases.has(id) && !exists(id)) return id;
    }
    throw new Error(`no unused lease id found in ${LEASE_ID_ATTEMPTS} random draws`);
  }

  /** A grant was applied (by any master's proposal). The lease's first deadline starts now. */
  granted(id: number, ttl: number): void {
    if (this.leader) this.track(id, ttl, this.options.clock.now());
  }

  /** A revoke was applied (by a client, or by this or an earlier leader's expiry). */
  revoked(id: number): void {
    this.leases.delete(id);
  }

  /**
   * etcd's Renew: the lease's deadline becomes now + its TTL; returns the TTL. Throws
   * LeaseNotFoundError when the lease is unknown or already expired (its revoke is on the way), and
   * NotLeaderError when this member does not keep deadlines.
   */
  keepAlive(id: number): number {
    if (!this.leader) throw new NotLeaderError();
    const now = this.options.clock.now();
    const lease = this.leases.get(id);
    if (lease === undefined || lease.deadline <= now) throw new LeaseNotFoundError(id);
    lease.deadline = now + lease.ttl * MS_PER_SECOND;
    return lease.ttl;
  }

  /** Whole seconds left (rounded down, as etcd reports), or undefined when unknown or expired. */
  remainingSeconds(id: number): number | undefined {
    if (!this.leader) throw new NotLeaderError();
    const now = this.options.clock.now();
    const lease = this.leases.get(id);
    if (lease === undefined || lease.deadline <= now) return undefined;
    return Math.floor((lease.deadline - now) / MS_PER_SECOND);
  }

  /**
   * Proposes a revoke for each lease past its deadline, at most maxRevokesInFlight outstanding; a
   * failed proposal is retried after revokeRetryMs. A lease stays tracked (and expired: keep-alives
   * fail) until its revoke is applied and reported through revoked().
   */
  tick(): void {
    if (!this.leader) return;
    const now = this.options.clock.now();
    for (const [id, lease] of this.leases) {
      if (this.revokesInFlight >= this.maxRevokesInFlight) return;
      if (lease.deadline > now) continue;
      if (lease.revokeProposedAt !== undefined && now - lease.revokeProposedAt < this.revokeRetryMs) continue;
      lease.revokeProposedAt = now;
      this.proposeRevoke(id);
    }
  }

  private proposeRevoke(id: number): void {
    const generation = this.generation;
    this.revokesInFlight++;
    const settle = (): void => {
      if (generation === this.generation) this.revokesInFlight--;
    };
    let proposal: Promise<unknown>;
    try {
      proposal = this.options.revoke(id);
    } catch (error) {
      proposal = Promise.reject(error);
    }
    proposal.then(settle, (error: unknown) => {
      settle();
      if (generation !== this.generation) return;
      // Revoked meanwhile (by a client): nothing left to expire.
      if (error instanceof LeaseNotFoundError) {
        this.leases.delete(id);
        return;
      }
      this.options.onRevokeFailure?.(id, error);
    });
  }
}
