import { describe, expect, it } from 'vitest';
import { makePod } from './fixtures.js';
import { ClusterEvent } from './framework/interfaces.js';
import { MAX_UNSCHEDULABLE_MS, SchedulingQueue, type QueuedPodInfo } from './queue.js';

function setup(isInterested?: (plugin: string, event: ClusterEvent) => boolean): { queue: SchedulingQueue; clock: { now: number } } {
  const clock = { now: 1_000_000 };
  const queue = new SchedulingQueue({ now: () => clock.now, ...(isInterested !== undefined ? { isInterested } : {}) });
  return { queue, clock };
}

function popNamed(queue: SchedulingQueue): string | undefined {
  return queue.pop()?.pod.metadata.name;
}

describe('SchedulingQueue', () => {
  it('pops by priority, then first in first out', () => {
    const { queue, clock } = setup();
    queue.add(makePod('low-1'));
    clock.now++;
    queue.add(makePod('high', { spec: { priority: 100 } }));
    clock.now++;
    queue.add(makePod('low-2'));
    expect([popNamed(queue), popNamed(queue), popNamed(queue), popNamed(queue)]).toEqual(['high', 'low-1', 'low-2', undefined]);
  });

  it('backs off exponentially from 1 s to 10 s', () => {
    const { queue } = setup();
    expect([1, 2, 3, 4, 5, 6, 20].map((n) => queue.backoffDuration(n))).toEqual([1_000, 2_000, 4_000, 8_000, 10_000, 10_000, 10_000]);
  });

  it('keeps a failed pod in backoff until its backoff ends', () => {
    const { queue, clock } = setup();
    queue.add(makePod('p'));
    let p = queue.pop() as QueuedPodInfo;
    queue.requeue(p, queue.schedulingCycle, undefined); // an error: straight to backoff
    expect(queue.whereIs('default/p')).toBe('backoff');
    clock.now += 999;
    expect(queue.pop()).toBeUndefined();
    clock.now += 1;
    p = queue.pop() as QueuedPodInfo;
    expect(p.attempts).toBe(2);
    queue.requeue(p, queue.schedulingCycle, undefined);
    clock.now += 1_999;
    expect(queue.flushBackoffCompleted()).toBe(0);
    clock.now += 1;
    expect(queue.flushBackoffCompleted()).toBe(1);
    expect(queue.whereIs('default/p')).toBe('active');
  });

  it('parks an unschedulable pod and wakes it only on an event a rejecting plugin cares about', () => {
    const interested = (plugin: string, event: ClusterEvent): boolean =>
      plugin === 'TaintToleration' ? event === ClusterEvent.NodeAdded || event === ClusterEvent.NodeTaintsChanged : true;
    const { queue, clock } = setup(interested);
    queue.add(makePod('p'));
    const p = queue.pop() as QueuedPodInfo;
    queue.requeue(p, queue.schedulingCycle, new Set(['TaintToleration']));
    expect(queue.whereIs('default/p')).toBe('unschedulable');
    expect(queue.moveAllToActiveOrBackoff(ClusterEvent.AssignedPodDeleted)).toBe(0);
    expect(queue.whereIs('default/p')).toBe('unschedulable');
    // Still within its 1 s backoff: the event moves it to backoffQ, not activeQ.
    expect(queue.moveAllToActiveOrBackoff(ClusterEvent.NodeTaintsChanged)).toBe(1);
    expect(queue.whereIs('default/p')).toBe('backoff');
    clock.now += 1_000;
    expect(popNamed(queue)).toBe('p');
  });

  it('moves a parked pod straight to activeQ when its backoff is over', () => {
    const { queue, clock } = setup();
    queue.add(makePod('p'));
    const p = queue.pop() as QueuedPodInfo;
    queue.requeue(p, queue.schedulingCycle, new Set(['NodeResourcesFit']));
    clock.now += 5_000;
    queue.moveAllToActiveOrBackoff(ClusterEvent.NodeAdded);
    expect(queue.whereIs('default/p')).toBe('active');
  });

  it('sends a pod to backoff instead of parking it when an event arrived during its attempt', () => {
    const { queue } = setup();
    queue.add(makePod('p'));
    const p = queue.pop() as QueuedPodInfo;
    const cycle = queue.schedulingCycle;
    queue.moveAllToActiveOrBackoff(ClusterEvent.NodeAdded); // while p was being scheduled
    queue.requeue(p, cycle, new Set(['NodeResourcesFit']));
    expect(queue.whereIs('default/p')).toBe('backoff');
  });

  it('flushes pods parked longer than the maximum, so none waits forever', () => {
    const { queue, clock } = setup();
    queue.add(makePod('p'));
    const p = queue.pop() as QueuedPodInfo;
    queue.requeue(p, queue.schedulingCycle, new Set(['NodeAffinity']));
    clock.now += MAX_UNSCHEDULABLE_MS - 1;
    expect(queue.flushUnschedulableLeftover()).toBe(0);
    clock.now += 1;
    expect(queue.flushUnschedulableLeftover()).toBe(1);
    expect(queue.whereIs('default/p')).toBe('active');
  });

  it('a spec change wakes a parked pod; a status-only change does not', () => {
    const { queue } = setup();
    const pod = makePod('p');
    queue.add(pod);
    queue.requeue(queue.pop() as QueuedPodInfo, queue.schedulingCycle, new Set(['NodeAffinity']));
    queue.update({ ...pod, status: { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False' }] } });
    expect(queue.whereIs('default/p')).toBe('unschedulable');
    queue.update({ ...pod, spec: { ...pod.spec, containers: pod.spec?.containers ?? [], nodeSelector: { zone: 'b' } } });
    expect(queue.whereIs('default/p')).not.toBe('unschedulable');
  });

  it('forgets deleted pods everywhere, and a pod bound while in flight is not requeued', () => {
    const { queue } = setup();
    const a = makePod('a');
    const b = makePod('b');
    queue.add(a);
    queue.add(b);
    const popped = queue.pop() as QueuedPodInfo;
    queue.delete(b);
    queue.delete(popped.pod); // bound by someone else while we were binding it
    queue.requeue(popped, queue.schedulingCycle, undefined);
    expect(queue.lengths).toEqual({ active: 0, backoff: 0, unschedulable: 0, inFlight: 0 });
  });

  it('wakes a waiting consumer when a pod arrives', async () => {
    const { queue } = setup();
    const waiting = queue.waitForPod();
    queue.add(makePod('p'));
    await waiting;
    expect(popNamed(queue)).toBe('p');
  });
});

describe('PriorityFifo', () => {
  it('pops highest priority first, FIFO within one, skipping deleted and replaced entries', async () => {
    const { PriorityFifo } = await import('./fifo.js');
    const q = new PriorityFifo<{ key: string; priority: number }>((x) => x.key, (x) => x.priority);
    for (let i = 0; i < 3_000; i++) q.push({ key: `k${i}`, priority: i % 3 === 0 ? 10 : 0 });
    q.delete('k0');
    q.push({ key: 'k3', priority: 0 }); // moves from priority 10 to 0, at the back
    const order: string[] = [];
    for (let x = q.pop(); x !== undefined; x = q.pop()) order.push(x.key);
    expect(order).toHaveLength(2_999);
    expect(order.slice(0, 3)).toEqual(['k6', 'k9', 'k12']);
    expect(order[998]).toBe('k1');
    expect(order.at(-1)).toBe('k3');
    expect(q.size).toBe(0);
  });
});
