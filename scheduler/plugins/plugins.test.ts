import { describe, expect, it } from 'vitest';
import { makeNode, makePod, type NodeShape, type PodShape } from '../fixtures.js';
import { CycleState } from '../framework/cycle-state.js';
import { NodeInfo, newPodInfo } from '../framework/node-info.js';
import { Code, SUCCESS, type Status } from '../framework/status.js';
import type { SnapshotView } from '../framework/interfaces.js';
import { Snapshot } from '../snapshot.js';
import { SchedulerCache } from '../cache.js';
import type { Pod, PodAffinityTerm } from '../../proto/api/types.js';
import { DefaultBinder } from './default-binder.js';
import { InterPodAntiAffinity, REASON_ANTI_AFFINITY, REASON_EXISTING_ANTI_AFFINITY } from './inter-pod-anti-affinity.js';
import { NodeAffinity, REASON_NODE_AFFINITY } from './node-affinity.js';
import { NodeName, REASON_NODE_NAME } from './node-name.js';
import { NodeResourcesBalancedAllocation } from './node-resources-balanced.js';
import { NodeResourcesFit, parseNodeResourcesFitArgs } from './node-resources-fit.js';
import { NodeUnschedulable, REASON_NODE_UNSCHEDULABLE } from './node-unschedulable.js';
import { balancedAllocationScore, defaultNormalizeScore, leastAllocatedScore, mostAllocatedScore } from './resource-scoring.js';
import { TaintToleration, toleratesTaint } from './taint-toleration.js';

function nodeWith(name: string, shape: NodeShape = {}, pods: Pod[] = []): NodeInfo {
  const info = new NodeInfo(makeNode(name, shape));
  for (const p of pods) info.addPod(newPodInfo({ ...p, spec: { containers: [], ...p.spec, nodeName: name } }));
  return info;
}

function snapshotOf(nodes: NodeInfo[]): SnapshotView {
  const cache = new SchedulerCache();
  for (const n of nodes) {
    cache.addNode(n.node);
    for (const p of n.pods.values()) cache.addPod(p.pod);
  }
  const snapshot = new Snapshot();
  cache.updateSnapshot(snapshot);
  return snapshot;
}

function brief(s: Status): { code: string; reasons: readonly string[] } {
  return { code: s.code, reasons: s.reasons };
}

const fits = { code: Code.Success, reasons: [] };

describe('NodeResourcesFit filter', () => {
  const fit = new NodeResourcesFit();
  const busy = (n: number, cpu: string, memory: string): Pod[] => Array.from({ length: n }, (_, i) => makePod(`busy-${i}`, { cpu, memory }));
  it.each<[string, PodShape, NodeShape, Pod[], { code: string; reasons: readonly string[] }]>([
    ['fits an empty node', { cpu: '1', memory: '1Gi' }, { cpu: '2', memory: '2Gi' }, [], fits],
    ['fits exactly', { cpu: '1', memory: '1Gi' }, { cpu: '2', memory: '2Gi' }, busy(1, '1', '1Gi'), fits],
    ['cpu short', { cpu: '1500m' }, { cpu: '2' }, busy(1, '1', '1Gi'), { code: Code.Unschedulable, reasons: ['Insufficient cpu'] }],
    ['memory short', { memory: '2Gi' }, { memory: '2Gi' }, busy(1, '100m', '1Mi'), { code: Code.Unschedulable, reasons: ['Insufficient memory'] }],
    ['cpu and memory short: one reason each', { cpu: '2', memory: '2Gi' }, { cpu: '2', memory: '2Gi' }, busy(1, '1', '1Gi'), { code: Code.Unschedulable, reasons: ['Insufficient cpu', 'Insufficient memory'] }],
    ['pod count at allocatable', {}, { pods: '2' }, busy(2, '0', '0'), { code: Code.Unschedulable, reasons: ['Too many pods'] }],
    ['a pod without requests fits a full node', {}, { cpu: '1' }, busy(1, '1', '0'), fits],
  ])('%s', (_name, podShape, nodeShape, existing, expected) => {
    const state = new CycleState();
    const pod = makePod('incoming', podShape);
    expect(fit.preFilter(state, pod).code).toBe(Code.Success);
    expect(brief(fit.filter(state, pod, nodeWith('n', nodeShape, existing)))).toEqual(expected);
  });

  it('counts the largest init container when it exceeds the containers (the max rule)', () => {
    const pod: Pod = {
      ...makePod('init', { cpu: '500m' }),
      spec: {
        containers: [{ name: 'a', resources: { requests: { cpu: '500m' } } }, { name: 'b', resources: { requests: { cpu: '500m', memory: '1Gi' } } }],
        initContainers: [{ name: 'setup', resources: { requests: { cpu: '3', memory: '100Mi' } } }],
      },
    };
    const state = new CycleState();
    fit.preFilter(state, pod);
    expect(brief(fit.filter(state, pod, nodeWith('n', { cpu: '2500m' })))).toEqual({ code: Code.Unschedulable, reasons: ['Insufficient cpu'] });
    expect(fit.filter(state, pod, nodeWith('n', { cpu: '3' }))).toBe(SUCCESS);
  });

  it('rejects a malformed request at PreFilter, naming the field', () => {
    const pod = makePod('bad', { cpu: 'lots' });
    const s = fit.preFilter(new CycleState(), pod);
    expect(s.code).toBe(Code.UnschedulableAndUnresolvable);
    expect(s.reasons[0]).toContain('spec.containers[0].resources.requests.cpu');
  });

  it('validates its args', () => {
    expect(() => parseNodeResourcesFitArgs({ scoringStrategy: 'Random' })).toThrow(/scoringStrategy/);
    expect(() => parseNodeResourcesFitArgs({ resources: [{ name: 'gpu', weight: 1 }] })).toThrow(/resources\[0\]\.name/);
    expect(parseNodeResourcesFitArgs({ scoringStrategy: 'MostAllocated' }).scoringStrategy).toBe('MostAllocated');
  });
});

describe('resource scoring strategies (Kubernetes formulas)', () => {
  it.each([
    [0, 4000, 100],
    [3000, 4000, 25],
    [4000, 4000, 0],
    [5000, 4000, 0],
    [1, 3, 66],
    [0, 0, 0],
  ])('LeastAllocated(%i of %i) = %i', (requested, allocatable, expected) => {
    expect(leastAllocatedScore(requested, allocatable)).toBe(expected);
  });
  it.each([
    [0, 4000, 0],
    [3000, 4000, 75],
    [5000, 4000, 100],
    [2, 3, 66],
  ])('MostAllocated(%i of %i) = %i', (requested, allocatable, expected) => {
    expect(mostAllocatedScore(requested, allocatable)).toBe(expected);
  });
  it.each<[number[], number[], number]>([
    [[3000, 5000], [4000, 10000], 87],
    [[2000, 5000], [4000, 10000], 100],
    [[6000, 0], [4000, 10000], 50],
    [[1000, 1000, 1000], [2000, 4000, 1000], 68],
  ])('Balanced(%j of %j) = %i', (requested, allocatable, expected) => {
    expect(balancedAllocationScore(requested, allocatable)).toBe(expected);
  });

  it('scores a node the way Kubernetes does: Least 37, Most 62, Balanced 87 for 3 CPU/5000 B of 4 CPU/10000 B', () => {
    const pod = makePod('p', { cpu: '3', memory: '5000' });
    const node = nodeWith('n', { cpu: '4', memory: '10000' });
    const state = new CycleState();
    const least = new NodeResourcesFit();
    least.preFilter(state, pod);
    expect(least.score(state, pod, node)).toBe(37);
    const most = new NodeResourcesFit(parseNodeResourcesFitArgs({ scoringStrategy: 'MostAllocated' }));
    expect(most.score(state, pod, node)).toBe(62);
    expect(new NodeResourcesBalancedAllocation().score(state, pod, node)).toBe(87);
    // The batch path agrees with the per-node one.
    const out = new Float64Array(1);
    least.scoreNodes(state, pod, [node], 1, out);
    expect(out[0]).toBe(37);
  });

  it('scores pods without requests with the non-zero defaults (100m, 200Mi)', () => {
    const state = new CycleState();
    const pod = makePod('p');
    const fit = new NodeResourcesFit();
    fit.preFilter(state, pod);
    // cpu: (1000-100)*100/1000 = 90; memory: (1000Mi-200Mi)*100/1000Mi = 80 → 85
    expect(fit.score(state, pod, nodeWith('n', { cpu: '1', memory: '1000Mi' }))).toBe(85);
    expect(new NodeResourcesBalancedAllocation().preScore(state, pod).code).toBe(Code.Skip);
  });

  it('normalizes by the maximum, optionally reversed', () => {
    const scores = new Float64Array([0, 1, 2, 4]);
    defaultNormalizeScore(scores, 4, false);
    expect([...scores]).toEqual([0, 25, 50, 100]);
    const reversed = new Float64Array([0, 1, 2, 4]);
    defaultNormalizeScore(reversed, 4, true);
    expect([...reversed]).toEqual([100, 75, 50, 0]);
    const zeros = new Float64Array([0, 0]);
    defaultNormalizeScore(zeros, 2, true);
    expect([...zeros]).toEqual([100, 100]);
  });
});

describe('NodeUnschedulable and NodeName', () => {
  it('rejects a cordoned node unless the pod tolerates the unschedulable taint', () => {
    const plugin = new NodeUnschedulable();
    const cordoned = nodeWith('n', { unschedulable: true });
    expect(brief(plugin.filter(new CycleState(), makePod('p'), cordoned))).toEqual({ code: Code.UnschedulableAndUnresolvable, reasons: [REASON_NODE_UNSCHEDULABLE] });
    const tolerant = makePod('t', { spec: { tolerations: [{ key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' }] } });
    expect(plugin.filter(new CycleState(), tolerant, cordoned)).toBe(SUCCESS);
    expect(plugin.filter(new CycleState(), makePod('p'), nodeWith('m'))).toBe(SUCCESS);
  });

  it('fits a pod that names a node only there', () => {
    const plugin = new NodeName();
    const pod = makePod('p', { spec: { nodeName: 'a' } });
    expect(plugin.filter(new CycleState(), pod, nodeWith('a'))).toBe(SUCCESS);
    expect(brief(plugin.filter(new CycleState(), pod, nodeWith('b')))).toEqual({ code: Code.UnschedulableAndUnresolvable, reasons: [REASON_NODE_NAME] });
    expect(plugin.filter(new CycleState(), makePod('q'), nodeWith('b'))).toBe(SUCCESS);
  });
});

describe('NodeAffinity', () => {
  const plugin = new NodeAffinity();
  const zoneA = nodeWith('a', { labels: { zone: 'a', gen: '5' } });
  const zoneB = nodeWith('b', { labels: { zone: 'b', gen: '3' } });
  const rejected = { code: Code.UnschedulableAndUnresolvable, reasons: [REASON_NODE_AFFINITY] };
  const required = (terms: NonNullable<Pod['spec']>['affinity']): Pod => makePod('p', { spec: { affinity: terms } });

  it.each<[string, Pod, NodeInfo, { code: string; reasons: readonly string[] }]>([
    ['nodeSelector matches', makePod('p', { spec: { nodeSelector: { zone: 'a' } } }), zoneA, fits],
    ['nodeSelector does not match', makePod('p', { spec: { nodeSelector: { zone: 'a' } } }), zoneB, rejected],
    ['In', required({ nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['b', 'c'] }] }] } } }), zoneB, fits],
    ['NotIn', required({ nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['b'] }] }] } } }), zoneB, rejected],
    ['Gt', required({ nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'gen', operator: 'Gt', values: ['4'] }] }] } } }), zoneA, fits],
    ['terms are ORed', required({ nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['x'] }] }, { matchExpressions: [{ key: 'zone', operator: 'In', values: ['b'] }] }] } } }), zoneB, fits],
    ['matchFields metadata.name', required({ nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['a'] }] }] } } }), zoneB, rejected],
  ])('%s', (_name, pod, node, expected) => {
    const state = new CycleState();
    expect(plugin.preFilter(state, pod).code).toBe(Code.Success);
    expect(brief(plugin.filter(state, pod, node))).toEqual(expected);
  });

  it('skips pods without selector or affinity, and rejects an empty term list everywhere', () => {
    expect(plugin.preFilter(new CycleState(), makePod('p')).code).toBe(Code.Skip);
    const s = plugin.preFilter(new CycleState(), required({ nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [] } } }));
    expect(brief(s)).toEqual(rejected);
  });

  it('scores preferred terms by weight, normalized to 100', () => {
    const pod = required({
      nodeAffinity: {
        preferredDuringSchedulingIgnoredDuringExecution: [
          { weight: 10, preference: { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] } },
          { weight: 30, preference: { matchExpressions: [{ key: 'gen', operator: 'Exists' }] } },
        ],
      },
    });
    const state = new CycleState();
    expect(plugin.preScore(state, pod).code).toBe(Code.Success);
    const scores = new Float64Array([plugin.score(state, pod, zoneA), plugin.score(state, pod, zoneB), plugin.score(state, pod, nodeWith('c'))]);
    expect([...scores]).toEqual([40, 30, 0]);
    plugin.normalizeScore(state, pod, scores, 3);
    expect([...scores]).toEqual([100, 75, 0]);
    expect(plugin.preScore(new CycleState(), makePod('q')).code).toBe(Code.Skip);
  });
});

describe('TaintToleration', () => {
  const plugin = new TaintToleration();
  const gpu = nodeWith('gpu', { taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }] });
  const draining = nodeWith('d', { taints: [{ key: 'draining', effect: 'NoExecute' }] });
  const soft = nodeWith('s', { taints: [{ key: 'spot', value: 'true', effect: 'PreferNoSchedule' }] });

  it.each<[string, Pod, NodeInfo, { code: string; reasons: readonly string[] }]>([
    ['untolerated NoSchedule', makePod('p'), gpu, { code: Code.UnschedulableAndUnresolvable, reasons: ['node(s) had untolerated taint {dedicated: gpu}'] }],
    ['untolerated NoExecute without value', makePod('p'), draining, { code: Code.UnschedulableAndUnresolvable, reasons: ['node(s) had untolerated taint {draining: }'] }],
    ['tolerated by Equal', makePod('p', { spec: { tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'gpu', effect: 'NoSchedule' }] } }), gpu, fits],
    ['Equal with another value does not tolerate', makePod('p', { spec: { tolerations: [{ key: 'dedicated', value: 'cpu' }] } }), gpu, { code: Code.UnschedulableAndUnresolvable, reasons: ['node(s) had untolerated taint {dedicated: gpu}'] }],
    ['tolerated by Exists on the key', makePod('p', { spec: { tolerations: [{ key: 'dedicated', operator: 'Exists' }] } }), gpu, fits],
    ['tolerated by an empty-key Exists', makePod('p', { spec: { tolerations: [{ operator: 'Exists' }] } }), draining, fits],
    ['other effect does not tolerate', makePod('p', { spec: { tolerations: [{ key: 'dedicated', operator: 'Exists', effect: 'NoExecute' }] } }), gpu, { code: Code.UnschedulableAndUnresolvable, reasons: ['node(s) had untolerated taint {dedicated: gpu}'] }],
    ['PreferNoSchedule does not filter', makePod('p'), soft, fits],
  ])('%s', (_name, pod, node, expected) => {
    expect(brief(plugin.filter(new CycleState(), pod, node))).toEqual(expected);
  });

  it('scores untolerated PreferNoSchedule taints, reversed: the fewest gets 100', () => {
    const pod = makePod('p');
    const two = nodeWith('two', { taints: [{ key: 'a', effect: 'PreferNoSchedule' }, { key: 'b', effect: 'PreferNoSchedule' }] });
    const nodes = [nodeWith('clean'), soft, two];
    const state = new CycleState();
    expect(plugin.preScore(state, pod, nodes).code).toBe(Code.Success);
    const scores = new Float64Array(nodes.map((n) => plugin.score(state, pod, n)));
    expect([...scores]).toEqual([0, 1, 2]);
    plugin.normalizeScore(state, pod, scores, 3);
    expect([...scores]).toEqual([100, 50, 0]);
    const tolerant = makePod('t', { spec: { tolerations: [{ key: 'spot', operator: 'Exists', effect: 'PreferNoSchedule' }] } });
    const s2 = new CycleState();
    plugin.preScore(s2, tolerant, nodes);
    expect(plugin.score(s2, tolerant, soft)).toBe(0);
  });

  it('toleratesTaint follows Kubernetes', () => {
    expect(toleratesTaint({ key: 'k', operator: 'Equal', value: 'v' }, { key: 'k', value: 'v', effect: 'NoSchedule' })).toBe(true);
    expect(toleratesTaint({ key: 'k' }, { key: 'k', effect: 'NoSchedule' })).toBe(true); // Equal, both values empty
    expect(toleratesTaint({ key: 'k', operator: 'Exists', effect: 'NoSchedule' }, { key: 'k', effect: 'NoExecute' })).toBe(false);
  });
});

describe('InterPodAntiAffinity (required, hostname)', () => {
  const plugin = new InterPodAntiAffinity();
  const term = (app: string, namespaces?: string[]): PodAffinityTerm => ({ topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: { app } }, ...(namespaces !== undefined ? { namespaces } : {}) });
  const withAntiAffinity = (name: string, labels: Record<string, string>, terms: PodAffinityTerm[], namespace = 'default'): Pod =>
    makePod(name, { namespace, labels, spec: { affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: terms } } } });

  function run(pod: Pod, nodes: NodeInfo[]): Record<string, { code: string; reasons: readonly string[] }> {
    const snapshot = snapshotOf(nodes);
    const state = new CycleState();
    const pre = plugin.preFilter(state, pod, snapshot);
    const out: Record<string, { code: string; reasons: readonly string[] }> = {};
    for (const n of snapshot.nodeInfos()) out[n.name] = pre.code === Code.Skip ? fits : brief(plugin.filter(state, pod, n));
    return out;
  }

  it("keeps a pod off nodes running a pod its anti-affinity matches", () => {
    const pod = withAntiAffinity('web-2', { app: 'web' }, [term('web')]);
    const result = run(pod, [nodeWith('a', {}, [makePod('web-1', { labels: { app: 'web' } })]), nodeWith('b', {}, [makePod('db-1', { labels: { app: 'db' } })])]);
    expect(result).toEqual({ a: { code: Code.Unschedulable, reasons: [REASON_ANTI_AFFINITY] }, b: fits });
  });

  it("keeps a pod off nodes where an existing pod's anti-affinity matches it (symmetric)", () => {
    const pod = makePod('web-2', { labels: { app: 'web' } });
    const result = run(pod, [nodeWith('a', {}, [withAntiAffinity('loner', { app: 'loner' }, [term('web')])]), nodeWith('b')]);
    expect(result).toEqual({ a: { code: Code.Unschedulable, reasons: [REASON_EXISTING_ANTI_AFFINITY] }, b: fits });
  });

  it('matches only in the namespaces the term names (default: the pod’s own)', () => {
    const pod = withAntiAffinity('web-2', { app: 'web' }, [term('web')], 'prod');
    const result = run(pod, [nodeWith('a', {}, [makePod('web-1', { namespace: 'dev', labels: { app: 'web' } })])]);
    expect(result).toEqual({ a: fits });
    const across = withAntiAffinity('web-3', { app: 'web' }, [term('web', ['dev'])], 'prod');
    expect(run(across, [nodeWith('a', {}, [makePod('web-1', { namespace: 'dev', labels: { app: 'web' } })])])).toEqual({ a: { code: Code.Unschedulable, reasons: [REASON_ANTI_AFFINITY] } });
  });

  it('supports other topology keys by domain', () => {
    const pod = makePod('web-2', { labels: { app: 'web' }, spec: { affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ topologyKey: 'zone', labelSelector: { matchLabels: { app: 'web' } } }] } } } });
    const result = run(pod, [nodeWith('a', { labels: { zone: 'z1' } }, [makePod('web-1', { labels: { app: 'web' } })]), nodeWith('b', { labels: { zone: 'z1' } }), nodeWith('c', { labels: { zone: 'z2' } })]);
    expect(result).toEqual({ a: { code: Code.Unschedulable, reasons: [REASON_ANTI_AFFINITY] }, b: { code: Code.Unschedulable, reasons: [REASON_ANTI_AFFINITY] }, c: fits });
  });

  it('skips when neither the pod nor any existing pod has anti-affinity', () => {
    expect(plugin.preFilter(new CycleState(), makePod('p'), snapshotOf([nodeWith('a', {}, [makePod('q')])])).code).toBe(Code.Skip);
  });
});

describe('DefaultBinder', () => {
  it('binds a batch in one bulk call and maps each outcome to a Status', async () => {
    const calls: number[] = [];
    const binder = new DefaultBinder({
      bulkBind: async (bindings) => {
        calls.push(bindings.length);
        return bindings.map((b) => (b.name === 'taken' ? { ok: false, reason: 'Conflict', message: 'already assigned' } : { ok: true }));
      },
    });
    const state = new CycleState();
    const statuses = await binder.bind([
      { pod: makePod('a'), nodeName: 'n1', state },
      { pod: makePod('taken'), nodeName: 'n2', state },
    ]);
    expect(calls).toEqual([2]);
    expect(statuses[0]).toBe(SUCCESS);
    expect(brief(statuses[1] as Status)).toEqual({ code: Code.Error, reasons: ['Conflict: already assigned'] });
  });
});
