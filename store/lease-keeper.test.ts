import { describe, expect, test } from 'vitest';
import { LeaseTtlTooLargeError, NotLeaderError, TooManyLeasesError } from './backend.js';
import { DEFAULT_MIN_LEASE_TTL_SECONDS, LEASE_REVOKE_RETRY_MS, LeaseKeeper, type LeaseKeeperOptions } from './lease-keeper.js';
import { MAX_LEASE_ID, MAX_LEASE_TTL_SECONDS } from './mvcc/commands.js';
import { LeaseNotFoundError } from './mvcc/errors.js';

/** A keeper on a hand-moved clock whose revoke proposals the test settles. */
function harness(options: Partial<LeaseKeeperOptions> = {}) {
  let now = 1_000_000;
  const proposals: { id: number; resolve: () => void; reject: (error: unknown) => void }[] = [];
  const failures: number[] = [];
  const keeper = new LeaseKeeper({
    clock: { now: () => now },
    revoke: (id) =>
      new Promise<void>((resolve, reject) => {
        proposals.push({ id, resolve, reject });
      }),
    onRevokeFailure: (id) => failures.push(id),
    ...options,
  });
  return {
    keeper,
    proposals,
    failures,
    advance(ms: number) {
      now += ms;
    },
    /** Lets settled proposals run their callbacks. */
    settle: () => new Promise<void>((resolve) => setImmediate(resolve)),
  };
}

describe('LeaseKeeper', () => {
  test('becoming leader gives every lease a fresh full TTL', () => {
    const { keeper, advance, proposals } = harness();
    keeper.becomeLeader([
      { id: 1, ttl: 10 },
      { id: 2, ttl: 30 },
    ]);
    expect(keeper.remainingSeconds(1)).toBe(10);
    expect(keeper.remainingSeconds(2)).toBe(30);
    advance(9_999);
    keeper.tick();
    expect(proposals).toEqual([]);
    // Rounded down, as etcd reports.
    expect(keeper.remainingSeconds(1)).toBe(0);
    advance(1);
    keeper.tick();
    expect(proposals.map((p) => p.id)).toEqual([1]);
    expect(keeper.remainingSeconds(1)).toBeUndefined();
  });

  test('keep-alive resets the deadline to a full TTL; an expired lease cannot be kept alive', () => {
    const { keeper, advance, proposals } = harness();
    keeper.becomeLeader([{ id: 7, ttl: 10 }]);
    advance(8_000);
    expect(keeper.keepAlive(7)).toBe(10);
    advance(8_000);
    keeper.tick();
    expect(proposals).toEqual([]);
    advance(2_000);
    expect(() => keeper.keepAlive(7)).toThrow(LeaseNotFoundError);
    expect(() => keeper.keepAlive(8)).toThrow(LeaseNotFoundError);
  });

  test('an expired lease is proposed for revoke once, retried after a failure, dropped when gone', async () => {
    const h = harness();
    h.keeper.becomeLeader([
      { id: 1, ttl: 5 },
      { id: 2, ttl: 5 },
    ]);
    h.advance(5_000);
    h.keeper.tick();
    h.keeper.tick();
    expect(h.proposals.map((p) => p.id)).toEqual([1, 2]);
    h.proposals[0]?.reject(new Error('leader changed'));
    h.proposals[1]?.reject(new LeaseNotFoundError(2));
    await h.settle();
    expect(h.failures).toEqual([1]);
    expect(h.keeper.size).toBe(1);
    h.advance(LEASE_REVOKE_RETRY_MS - 1);
    h.keeper.tick();
    expect(h.proposals).toHaveLength(2);
    h.advance(1);
    h.keeper.tick();
    expect(h.proposals.map((p) => p.id)).toEqual([1, 2, 1]);
    // The applied revoke is what removes the lease.
    h.proposals[2]?.resolve();
    h.keeper.revoked(1);
    expect(h.keeper.size).toBe(0);
  });

  test('revoke proposals in flight are bounded', async () => {
    const h = harness({ maxRevokesInFlight: 2 });
    h.keeper.becomeLeader([1, 2, 3, 4].map((id) => ({ id, ttl: 1 })));
    h.advance(1_000);
    h.keeper.tick();
    expect(h.proposals.map((p) => p.id)).toEqual([1, 2]);
    h.proposals[0]?.resolve();
    h.keeper.revoked(1);
    await h.settle();
    h.keeper.tick();
    expect(h.proposals.map((p) => p.id)).toEqual([1, 2, 3]);
  });

  test('grants: TTL policy, the bound on leases, reservations', () => {
    const { keeper } = harness({ maxLeases: 2 });
    expect(() => keeper.reserveGrant()).toThrow(NotLeaderError);
    keeper.becomeLeader([{ id: 1, ttl: 10 }]);
    expect(keeper.grantTtl(0)).toBe(DEFAULT_MIN_LEASE_TTL_SECONDS);
    expect(keeper.grantTtl(60)).toBe(60);
    expect(() => keeper.grantTtl(MAX_LEASE_TTL_SECONDS + 1)).toThrow(LeaseTtlTooLargeError);
    const release = keeper.reserveGrant();
    expect(() => keeper.reserveGrant()).toThrow(TooManyLeasesError);
    keeper.granted(2, 10);
    release();
    release(); // idempotent
    expect(() => keeper.reserveGrant()).toThrow(TooManyLeasesError);
    keeper.revoked(2);
    keeper.reserveGrant();
  });

  test('stepping down forgets deadlines; a stale revoke outcome is ignored', async () => {
    const h = harness();
    h.keeper.becomeLeader([{ id: 1, ttl: 1 }]);
    h.advance(1_000);
    h.keeper.tick();
    h.keeper.stepDown();
    expect(() => h.keeper.keepAlive(1)).toThrow(NotLeaderError);
    expect(() => h.keeper.remainingSeconds(1)).toThrow(NotLeaderError);
    h.keeper.tick();
    h.proposals[0]?.reject(new Error('not leader'));
    await h.settle();
    expect(h.failures).toEqual([]);
    // Leader again: fresh TTLs, nothing expired yet.
    h.keeper.becomeLeader([{ id: 1, ttl: 1 }]);
    h.keeper.tick();
    expect(h.proposals).toHaveLength(1);
    // Grants applied while a follower are not tracked (the next becomeLeader reads them from the store).
    h.keeper.stepDown();
    h.keeper.granted(5, 10);
    expect(h.keeper.size).toBe(0);
  });

  test('chooseId draws unused ids in [1, MAX_LEASE_ID]', () => {
    const { keeper } = harness();
    keeper.becomeLeader([{ id: 3, ttl: 5 }]);
    const draws = [0, 0, 0, 3, 0, 4, (2 ** 26) - 1, (2 ** 27) - 1];
    const random = { int: () => draws.shift() ?? 0 };
    // 0 is no id, 3 is tracked, 4 "exists" in the store: the fourth draw is the answer.
    expect(keeper.chooseId(random, (id) => id === 4)).toBe(MAX_LEASE_ID);
  });
});
