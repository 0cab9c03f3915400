import { describe, expect, it } from 'vitest';
import { cpuMillis, memoryBytes } from '../apiserver/resources/quantity.js';
import { FakeSchedulerApi } from './fake-api.js';
import { makeNode, makePod } from './fixtures.js';
import { Framework } from './framework/runtime.js';
import { Scheduler, numFeasibleNodesToFind } from './scheduler.js';
import type { Pod } from '../proto/api/types.js';

async function until(cond: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function checkNoOvercommit(api: FakeSchedulerApi): void {
  const used = new Map<string, { cpu: number; memory: number; pods: number }>();
  for (const pod of api.pods.values()) {
    const node = pod.spec?.nodeName;
    if (node === undefined) continue;
    const u = used.get(node) ?? { cpu: 0, memory: 0, pods: 0 };
    for (const c of pod.spec?.containers ?? []) {
      u.cpu += cpuMillis(c.resources?.requests?.['cpu'] ?? '0');
      u.memory += memoryBytes(c.resources?.requests?.['memory'] ?? '0');
    }
    u.pods++;
    used.set(node, u);
  }
  for (const [name, u] of used) {
    const node = api.nodes.get(name);
    expect(node, `pod bound to missing node ${name}`).toBeDefined();
    const a = node?.status?.allocatable ?? {};
    expect(u.cpu).toBeLessThanOrEqual(cpuMillis(a['cpu'] ?? '0'));
    expect(u.memory).toBeLessThanOrEqual(memoryBytes(a['memory'] ?? '0'));
    expect(u.pods).toBeLessThanOrEqual(memoryBytes(a['pods'] ?? '0'));
  }
}

describe('numFeasibleNodesToFind (Kubernetes adaptive percentage)', () => {
  it.each([
    [50, 0, 50],
    [100, 0, 100],
    [1_000, 0, 420],
    [5_000, 0, 500],
    [10_000, 0, 500],
    [5_000, 30, 1_500],
    [5_000, 1, 100],
    [5_000, 100, 5_000],
  ])('%i nodes at %i percent → %i', (nodes, pct, expected) => {
    expect(numFeasibleNodesToFind(nodes, pct)).toBe(expected);
  });
});

describe('Scheduler end to end on the fake API', () => {
  it('binds 10,000 pods on 1,000 nodes, none over allocatable, each bound once', async () => {
    const api = new FakeSchedulerApi();
    for (let i = 0; i < 1_000; i++) api.addNode(makeNode(`node-${i}`, { cpu: '8', memory: '32Gi', pods: '110' }));
    const framework = await Framework.load(undefined, { binder: api });
    const scheduler = new Scheduler({ api, framework, random: seededRandom(1) });
    await scheduler.start();
    const sizes = ['100m', '250m', '500m', '1'];
    for (let i = 0; i < 10_000; i++) api.createPod(makePod(`pod-${i}`, { cpu: sizes[i % 4], memory: `${128 * (1 + (i % 8))}Mi` }));
    await until(() => scheduler.stats.bound === 10_000);
    await until(() => [...api.pods.values()].every((p) => p.spec?.nodeName !== undefined));
    checkNoOvercommit(api);
    expect(Math.max(...api.bindsByPod.values())).toBe(1);
    expect(api.rejectedBinds).toBe(0);
    // Each assumed pod is confirmed when its bound version arrives through the watch, just after.
    await until(() => scheduler.cache.assumedPodCount === 0);
    // LeastAllocated + rotation spread the pods: no node is empty.
    const perNode = new Map<string, number>();
    for (const p of api.pods.values()) perNode.set(p.spec?.nodeName ?? '', (perNode.get(p.spec?.nodeName ?? '') ?? 0) + 1);
    expect(perNode.size).toBe(1_000);
    await scheduler.stop();
  });

  it('fills the cluster exactly and leaves the rest Pending with the aggregated reasons', async () => {
    const api = new FakeSchedulerApi();
    for (let i = 0; i < 8; i++) api.addNode(makeNode(`n${i}`, { cpu: '1', memory: '4Gi' }));
    api.addNode(makeNode('gpu-0', { cpu: '64', memory: '256Gi', taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }] }));
    api.addNode(makeNode('gpu-1', { cpu: '64', memory: '256Gi', taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }] }));
    const framework = await Framework.load(undefined, { binder: api });
    const scheduler = new Scheduler({ api, framework });
    await scheduler.start();
    for (let i = 0; i < 17; i++) api.createPod(makePod(`p${i}`, { cpu: '500m' }));
    await until(() => scheduler.stats.bound === 16 && api.events.length >= 1);
    await scheduler.reporter.flush();
    const pending = [...api.pods.values()].filter((p) => p.spec?.nodeName === undefined);
    expect(pending).toHaveLength(1);
    const message = '0/10 nodes are available: 8 Insufficient cpu, 2 node(s) had untolerated taint {dedicated: gpu}.';
    const pod = pending[0] as Pod;
    expect(pod.status?.conditions?.find((c) => c.type === 'PodScheduled')).toMatchObject({ status: 'False', reason: 'Unschedulable', message });
    expect(api.events[0]).toMatchObject({ type: 'Warning', reason: 'FailedScheduling', message, involvedObject: { kind: 'Pod', name: pod.metadata.name } });
    expect(scheduler.queue.whereIs(`default/${pod.metadata.name ?? ''}`)).toBe('unschedulable');

    // A new node that fits wakes the pod up, and it binds.
    api.addNode(makeNode('n-new', { cpu: '1', memory: '4Gi' }));
    await until(() => scheduler.stats.bound === 17);
    await scheduler.stop();
  });

  it('aggregates an unschedulable flood: one condition and one event per pod, not per attempt', async () => {
    const api = new FakeSchedulerApi();
    for (let i = 0; i < 3; i++) api.addNode(makeNode(`n${i}`, { cpu: '1' }));
    const framework = await Framework.load(undefined, { binder: api });
    const scheduler = new Scheduler({ api, framework, queue: { initialBackoffMs: 1, maxBackoffMs: 2, maxUnschedulableMs: 5 } });
    await scheduler.start();
    for (let i = 0; i < 50; i++) api.createPod(makePod(`big-${i}`, { cpu: '2' }));
    await until(() => scheduler.stats.unschedulable >= 50);
    // Node updates that could help (more pods allowed) retry them all, repeatedly.
    for (let round = 0; round < 5; round++) {
      api.updateNode(makeNode('n0', { cpu: '1', pods: String(111 + round) }));
      await new Promise((r) => setTimeout(r, 10));
    }
    await scheduler.reporter.flush();
    await scheduler.reporter.flush();
    expect(scheduler.stats.unschedulable).toBeGreaterThan(50);
    expect(api.events).toHaveLength(50);
    expect(scheduler.reporter.conditionWrites).toBe(50);
    expect(api.events[0]?.message).toBe('0/3 nodes are available: 3 Insufficient cpu.');
    await scheduler.stop();
  });

  it('retries a failed bind with backoff after forgetting the assumed pod', async () => {
    const api = new FakeSchedulerApi();
    api.addNode(makeNode('n0', { cpu: '1' }));
    api.failNextBinds = 1;
    const framework = await Framework.load(undefined, { binder: api });
    const scheduler = new Scheduler({ api, framework, queue: { initialBackoffMs: 20, maxBackoffMs: 40 } });
    await scheduler.start();
    api.createPod(makePod('a', { cpu: '1' }));
    await until(() => scheduler.stats.bindFailures === 1);
    expect(scheduler.cache.assumedPodCount).toBe(0);
    expect(scheduler.cache.nodeInfo('n0')?.requestedCpuMillis).toBe(0);
    await until(() => scheduler.stats.bound === 1);
    expect(api.pods.get('default/a')?.spec?.nodeName).toBe('n0');
    await scheduler.stop();
  });

  it('ignores pods for another scheduler and pods that name their node', async () => {
    const api = new FakeSchedulerApi();
    api.addNode(makeNode('n0'));
    const framework = await Framework.load(undefined, { binder: api });
    const scheduler = new Scheduler({ api, framework });
    await scheduler.start();
    api.createPod(makePod('other', { spec: { schedulerName: 'my-scheduler' } }));
    api.createPod(makePod('pinned', { cpu: '1', spec: { nodeName: 'n0' } }));
    api.createPod(makePod('mine'));
    await until(() => scheduler.stats.bound === 1);
    await scheduler.whenIdle();
    expect(scheduler.queue.lengths).toEqual({ active: 0, backoff: 0, unschedulable: 0, inFlight: 0 });
    expect(api.pods.get('default/other')?.spec?.nodeName).toBeUndefined();
    expect(scheduler.cache.nodeInfo('n0')?.requestedCpuMillis).toBe(1000);
    await scheduler.stop();
  });
});

describe('Scheduler and bound pods', () => {
  it('accounts a bound pod once, ignores its status churn, and frees its resources when it finishes or goes', async () => {
    const api = new FakeSchedulerApi();
    api.addNode(makeNode('n0', { cpu: '2' }));
    const framework = await Framework.load(undefined, { binder: api });
    const scheduler = new Scheduler({ api, framework });
    await scheduler.start();
    const running = api.createPod(makePod('running', { cpu: '1', spec: { nodeName: 'n0' } }));
    await until(() => scheduler.cache.nodeInfo('n0')?.requestedCpuMillis === 1000);
    const generation = scheduler.cache.nodeInfo('n0')?.generation;
    api.updatePod({ ...running, status: { phase: 'Running' } });
    await new Promise((r) => setTimeout(r, 20));
    expect(scheduler.cache.nodeInfo('n0')?.generation).toBe(generation);
    // Finished: no longer holds resources, and a pending pod that needed them now fits.
    api.createPod(makePod('waiting', { cpu: '2' }));
    await until(() => scheduler.stats.unschedulable >= 1);
    api.updatePod({ ...running, status: { phase: 'Succeeded' } });
    await until(() => api.pods.get('default/waiting')?.spec?.nodeName === 'n0', 5_000);
    await scheduler.stop();
  });
});

describe('nodeUpdateEvents', () => {
  it('names only the changes that could let a pending pod in', async () => {
    const { nodeUpdateEvents } = await import('./scheduler.js');
    const base = makeNode('n', { cpu: '2', taints: [{ key: 'a', effect: 'NoSchedule' }] });
    expect(nodeUpdateEvents(base, makeNode('n', { cpu: '4', taints: [{ key: 'a', effect: 'NoSchedule' }] }))).toEqual(['NodeAllocatableIncreased']);
    expect(nodeUpdateEvents(base, makeNode('n', { cpu: '1', taints: [{ key: 'a', effect: 'NoSchedule' }] }))).toEqual([]);
    expect(nodeUpdateEvents(base, makeNode('n', { cpu: '2' }))).toEqual(['NodeTaintsChanged']);
    expect(nodeUpdateEvents(base, makeNode('n', { cpu: '2', taints: [{ key: 'a', effect: 'NoSchedule' }, { key: 'b', effect: 'NoSchedule' }] }))).toEqual([]);
    expect(nodeUpdateEvents(makeNode('n', { unschedulable: true }), makeNode('n'))).toEqual(['NodeBecameSchedulable']);
    expect(nodeUpdateEvents(makeNode('n'), makeNode('n', { labels: { zone: 'b' } }))).toEqual(['NodeLabelsChanged']);
  });
});
