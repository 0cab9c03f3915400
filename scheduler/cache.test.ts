import { describe, expect, it } from 'vitest';
import { CacheError, SchedulerCache } from './cache.js';
import { makeNode, makePod } from './fixtures.js';
import { Snapshot } from './snapshot.js';
import type { Pod } from '../proto/api/types.js';

const on = (pod: Pod, nodeName: string): Pod => ({ ...pod, spec: { containers: [], ...pod.spec, nodeName } });

describe('SchedulerCache: assume, confirm, forget', () => {
  it('an assumed pod takes its node’s resources at once', () => {
    const cache = new SchedulerCache();
    cache.addNode(makeNode('n1', { cpu: '4' }));
    cache.assumePod(on(makePod('a', { cpu: '1', memory: '1Gi' }), 'n1'));
    const n1 = cache.nodeInfo('n1');
    expect(n1?.requestedCpuMillis).toBe(1000);
    expect(n1?.requestedMemoryBytes).toBe(2 ** 30);
    expect(n1?.podCount).toBe(1);
    expect(cache.isAssumed('default/a')).toBe(true);
    expect(() => cache.assumePod(on(makePod('a', { cpu: '1' }), 'n1'))).toThrow(CacheError);
  });

  it('the bound pod from the watch confirms the assumed one (counted once)', () => {
    const cache = new SchedulerCache();
    cache.addNode(makeNode('n1'));
    const pod = on(makePod('a', { cpu: '1' }), 'n1');
    cache.assumePod(pod);
    cache.finishBinding('default/a');
    cache.addPod({ ...pod, metadata: { ...pod.metadata, resourceVersion: '7' } });
    expect(cache.isAssumed('default/a')).toBe(false);
    expect(cache.assumedPodCount).toBe(0);
    expect(cache.nodeInfo('n1')?.requestedCpuMillis).toBe(1000);
    expect(cache.nodeInfo('n1')?.podCount).toBe(1);
    expect(() => cache.forgetPod('default/a')).toThrow(/not assumed/);
  });

  it('forgetting an assumed pod gives the resources back', () => {
    const cache = new SchedulerCache();
    cache.addNode(makeNode('n1'));
    cache.assumePod(on(makePod('a', { cpu: '1' }), 'n1'));
    cache.forgetPod('default/a');
    expect(cache.nodeInfo('n1')?.requestedCpuMillis).toBe(0);
    expect(cache.podCount).toBe(0);
  });

  it('a pod bound elsewhere (another scheduler won) moves to that node', () => {
    const cache = new SchedulerCache();
    cache.addNode(makeNode('n1'));
    cache.addNode(makeNode('n2'));
    const pod = makePod('a', { cpu: '1' });
    cache.assumePod(on(pod, 'n1'));
    cache.addPod(on(pod, 'n2'));
    expect(cache.nodeInfo('n1')?.requestedCpuMillis).toBe(0);
    expect(cache.nodeInfo('n2')?.requestedCpuMillis).toBe(1000);
    expect(cache.nodeOf('default/a')).toBe('n2');
  });

  it('expires an assumed pod whose bind finished but never showed up, when a TTL is set', () => {
    const clock = { now: 0 };
    const cache = new SchedulerCache({ now: () => clock.now, assumedPodTtlMs: 30_000 });
    cache.addNode(makeNode('n1'));
    cache.assumePod(on(makePod('a', { cpu: '1' }), 'n1'));
    clock.now = 60_000;
    expect(cache.cleanupExpiredAssumedPods()).toEqual([]); // binding not finished: never expires
    cache.finishBinding('default/a');
    clock.now += 29_999;
    expect(cache.cleanupExpiredAssumedPods()).toEqual([]);
    clock.now += 1;
    expect(cache.cleanupExpiredAssumedPods()).toEqual(['default/a']);
    expect(cache.nodeInfo('n1')?.requestedCpuMillis).toBe(0);
  });

  it('keeps a deleted node’s pods accounted until they go, and pods may arrive before their node', () => {
    const cache = new SchedulerCache();
    cache.addPod(on(makePod('early', { cpu: '1' }), 'late'));
    expect(cache.nodeInfo('late')).toBeUndefined();
    cache.addNode(makeNode('late'));
    expect(cache.nodeInfo('late')?.requestedCpuMillis).toBe(1000);
    cache.removeNode('late');
    expect(cache.nodeCount).toBe(0);
    cache.removePod(on(makePod('early'), 'late'));
    expect(cache.podCount).toBe(0);
  });
});

describe('incremental snapshot', () => {
  it('copies only the NodeInfos changed since the last refresh', () => {
    const cache = new SchedulerCache();
    for (let i = 0; i < 100; i++) cache.addNode(makeNode(`n${i}`));
    const snapshot = new Snapshot();
    expect(cache.updateSnapshot(snapshot)).toBe(100);
    expect(snapshot.numNodes).toBe(100);
    expect(cache.updateSnapshot(snapshot)).toBe(0);
    cache.assumePod(on(makePod('a', { cpu: '1' }), 'n7'));
    cache.addPod(on(makePod('b', { cpu: '2' }), 'n42'));
    expect(cache.updateSnapshot(snapshot)).toBe(2);
    expect(snapshot.get('n7')?.requestedCpuMillis).toBe(1000);
    expect(snapshot.get('n42')?.requestedCpuMillis).toBe(2000);
    // The snapshot is a copy: later cache changes do not show until the next refresh.
    cache.forgetPod('default/a');
    expect(snapshot.get('n7')?.requestedCpuMillis).toBe(1000);
    expect(cache.updateSnapshot(snapshot)).toBe(1);
    expect(snapshot.get('n7')?.requestedCpuMillis).toBe(0);
  });

  it('rebuilds the node list when nodes come and go, keeping the cache’s order', () => {
    const cache = new SchedulerCache();
    const snapshot = new Snapshot();
    for (const n of ['a', 'b', 'c']) cache.addNode(makeNode(n));
    cache.updateSnapshot(snapshot);
    cache.removeNode('b');
    cache.addNode(makeNode('d'));
    cache.updateSnapshot(snapshot);
    expect(snapshot.nodeInfos().map((n) => n.name)).toEqual(['a', 'c', 'd']);
    expect(snapshot.get('b')).toBeUndefined();
  });

  it('tracks the nodes that hold pods with required anti-affinity', () => {
    const cache = new SchedulerCache();
    const snapshot = new Snapshot();
    cache.addNode(makeNode('a'));
    cache.addNode(makeNode('b'));
    cache.updateSnapshot(snapshot);
    expect(snapshot.nodesWithRequiredAntiAffinityPods()).toHaveLength(0);
    const loner = makePod('loner', { spec: { affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: { app: 'x' } } }] } } } });
    cache.addPod(on(loner, 'b'));
    cache.updateSnapshot(snapshot);
    expect(snapshot.nodesWithRequiredAntiAffinityPods().map((n) => n.name)).toEqual(['b']);
    cache.removePod(on(loner, 'b'));
    cache.updateSnapshot(snapshot);
    expect(snapshot.nodesWithRequiredAntiAffinityPods()).toHaveLength(0);
  });
});
