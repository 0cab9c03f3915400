import { describe, expect, it } from 'vitest';
import { FakeSchedulerApi } from '../scheduler/fake-api.js';
import { LeaderElector, LeaseConflictError, type LeaderCallbacks } from './leader-election.js';

const noCallbacks: LeaderCallbacks = { onStartedLeading: () => {}, onStoppedLeading: () => {} };

function elector(api: FakeSchedulerApi, identity: string, clock: { now: number }, callbacks = noCallbacks): LeaderElector {
  return new LeaderElector({ leases: api.leases, namespace: 'kube-system', name: 'flotilla-scheduler', identity, callbacks, now: () => clock.now });
}

describe('LeaderElector', () => {
  it('creates the lease, renews it, and keeps a candidate out until it expires by the candidate’s clock', async () => {
    const api = new FakeSchedulerApi();
    const clock = { now: 1_000_000 };
    const a = elector(api, 'master-1', clock);
    const b = elector(api, 'master-2', clock);
    expect(await a.tryAcquireOrRenew()).toBe(true);
    const lease = api.leaseStore.get('kube-system/flotilla-scheduler');
    expect(lease?.spec).toMatchObject({ holderIdentity: 'master-1', leaseDurationSeconds: 15, leaseTransitions: 0 });
    expect(await b.tryAcquireOrRenew()).toBe(false); // b first sees the record now
    clock.now += 2_000;
    expect(await a.tryAcquireOrRenew()).toBe(true); // renewed
    clock.now += 14_000;
    expect(await b.tryAcquireOrRenew()).toBe(false); // renewed 14 s ago: b saw it change at its 2nd look
    clock.now += 15_000; // a stopped renewing
    expect(await b.tryAcquireOrRenew()).toBe(true);
    expect(api.leaseStore.get('kube-system/flotilla-scheduler')?.spec).toMatchObject({ holderIdentity: 'master-2', leaseTransitions: 1 });
    expect(await a.tryAcquireOrRenew()).toBe(false);
    expect(a.leader).toBe('master-2');
  });

  it('a deferring candidate leaves a free or expired lease to the others, and takes it when nobody does', async () => {
    const api = new FakeSchedulerApi();
    const clock = { now: 0 };
    let defer = true;
    const leader = new LeaderElector({ leases: api.leases, namespace: 'kube-system', name: 'x', identity: 'raft-leader', callbacks: noCallbacks, now: () => clock.now, deferWhile: () => defer });
    const follower = new LeaderElector({ leases: api.leases, namespace: 'kube-system', name: 'x', identity: 'follower', callbacks: noCallbacks, now: () => clock.now });
    expect(await leader.tryAcquireOrRenew()).toBe(false); // missing, but it defers
    clock.now += 2_000;
    expect(await follower.tryAcquireOrRenew()).toBe(true);
    // The follower dies; once the lease expires, the deferring candidate waits two retry periods more.
    clock.now += 2_000;
    expect(await leader.tryAcquireOrRenew()).toBe(false);
    clock.now += 15_000;
    expect(await leader.tryAcquireOrRenew()).toBe(false);
    clock.now += 3_900;
    expect(await leader.tryAcquireOrRenew()).toBe(false);
    clock.now += 100;
    expect(await leader.tryAcquireOrRenew()).toBe(true);
    // A holder renews whatever deferWhile says.
    clock.now += 2_000;
    expect(await leader.tryAcquireOrRenew()).toBe(true);
    defer = false;
    clock.now += 2_000;
    expect(await leader.tryAcquireOrRenew()).toBe(true);
  });

  it('lets exactly one of two racing candidates take an expired lease (resourceVersion)', async () => {
    const api = new FakeSchedulerApi();
    const clock = { now: 0 };
    await elector(api, 'old', clock).tryAcquireOrRenew();
    const b = elector(api, 'b', clock);
    const c = elector(api, 'c', clock);
    await b.tryAcquireOrRenew();
    await c.tryAcquireOrRenew();
    clock.now += 16_000;
    const [rb, rc] = await Promise.all([b.tryAcquireOrRenew(), c.tryAcquireOrRenew()]);
    expect([rb, rc].filter(Boolean)).toHaveLength(1);
  });

  it('a stale update is a LeaseConflictError in the fake, as in the real API', async () => {
    const api = new FakeSchedulerApi();
    const created = await api.leases.createLease({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'l', namespace: 'ns' }, spec: {} });
    await api.leases.updateLease(created);
    await expect(api.leases.updateLease(created)).rejects.toBeInstanceOf(LeaseConflictError);
    await expect(api.leases.createLease(created)).rejects.toBeInstanceOf(LeaseConflictError);
  });

  it('runs the callbacks, steps down on stop, and a release lets the standby in at once', async () => {
    const api = new FakeSchedulerApi();
    const events: string[] = [];
    const opts = { leaseDurationMs: 3_000, renewDeadlineMs: 2_000, retryPeriodMs: 20 };
    const a = new LeaderElector({ leases: api.leases, namespace: 'kube-system', name: 'x', identity: 'a', ...opts, callbacks: { onStartedLeading: () => events.push('a+'), onStoppedLeading: () => events.push('a-') } });
    const b = new LeaderElector({ leases: api.leases, namespace: 'kube-system', name: 'x', identity: 'b', ...opts, callbacks: { onStartedLeading: () => events.push('b+'), onStoppedLeading: () => events.push('b-') } });
    void a.run();
    await new Promise((r) => setTimeout(r, 50));
    void b.run();
    await new Promise((r) => setTimeout(r, 100));
    expect(a.isLeader).toBe(true);
    expect(b.isLeader).toBe(false);
    const released = Date.now();
    await a.stop({ release: true });
    while (!b.isLeader) await new Promise((r) => setTimeout(r, 5));
    expect(Date.now() - released).toBeLessThan(1_000); // well under the 3 s lease
    await b.stop();
    expect(events).toEqual(['a+', 'a-', 'b+', 'b-']);
  });

  it('holdsLease fences a leader whose last renewal is older than the renew deadline by its clock', async () => {
    const api = new FakeSchedulerApi();
    let offset = 0;
    const e = new LeaderElector({ leases: api.leases, namespace: 'kube-system', name: 'x', identity: 'a', callbacks: noCallbacks, leaseDurationMs: 3_000, renewDeadlineMs: 2_000, retryPeriodMs: 1_000, now: () => Date.now() + offset });
    void e.run();
    while (!e.isLeader) await new Promise((r) => setTimeout(r, 5));
    expect(e.holdsLease()).toBe(true);
    offset += 2_000; // as if the process had been paused for 2 s
    expect(e.isLeader).toBe(true); // the renew loop has not noticed yet
    expect(e.holdsLease()).toBe(false);
    await e.stop();
  });

  it('refuses timings where a leader could outlive its lease', () => {
    const api = new FakeSchedulerApi();
    expect(() => new LeaderElector({ leases: api.leases, namespace: 'n', name: 'x', identity: 'a', callbacks: noCallbacks, leaseDurationMs: 1_000, renewDeadlineMs: 1_000 })).toThrow(/renewDeadline/);
  });
});
