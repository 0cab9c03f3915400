// The scheduler's pod informer decodes only SCHEDULER_POD_FIELDS. A pod with those fields and many
// others set must come out with exactly those fields as the full decode has them, and nothing else;
// and a profile decides the fields: built-in plugins need SCHEDULER_POD_FIELDS, a custom plugin adds
// what it declares, or (declaring nothing) gets whole pods.

import { describe, expect, it } from 'vitest';
import { benchPod } from '../../bench/codec-objects.js';
import { decodeObject, encodeObject, projectedDecoder } from '../../proto/api/codec.js';
import type { NodeSelector, Pod } from '../../proto/api/types.js';
import type { ObjectHandlers, Subscription } from '../api.js';
import { FakeSchedulerApi } from '../fake-api.js';
import { makeNode, makePod } from '../fixtures.js';
import { Scheduler } from '../scheduler.js';
import { waitUntil } from '../../nodeagent/test-support.js';
import { Framework } from './runtime.js';
import type { FilterPlugin, PodBinder } from './interfaces.js';
import { SCHEDULER_POD_FIELDS } from './pod-fields.js';
import { DEFAULT_PROFILE } from './profile.js';
import { SUCCESS } from './status.js';

type Json = Record<string, unknown>;

/** The parts of `value` on `paths` (JSON paths; a list is followed into every element). */
function pick(value: unknown, paths: readonly (readonly string[])[]): unknown {
  if (paths.some((p) => p.length === 0)) return value;
  if (Array.isArray(value)) return value.map((v) => pick(v, paths));
  if (typeof value !== 'object' || value === null) return value;
  const out: Json = {};
  for (const [k, v] of Object.entries(value as Json)) {
    const below = paths.filter((p) => p[0] === k).map((p) => p.slice(1));
    if (below.length > 0 && v !== undefined) out[k] = pick(v, below);
  }
  return out;
}

/** The values at `path` (in every element of a list on the way). */
function valuesAt(value: unknown, path: readonly string[]): unknown[] {
  if (path.length === 0) return [value];
  if (Array.isArray(value)) return value.flatMap((v) => valuesAt(v, path));
  if (typeof value !== 'object' || value === null) return [undefined];
  return valuesAt((value as Json)[path[0]!], path.slice(1));
}

/** The bench pod with every field the scheduler reads set, and init containers, affinity and a deletion. */
const richPod: Pod = {
  ...benchPod,
  metadata: { ...benchPod.metadata, deletionTimestamp: '2026-01-02T03:05:00Z' },
  spec: {
    ...benchPod.spec!,
    priority: 7,
    initContainers: [{ ...benchPod.spec!.containers[0]!, name: 'init' }],
    affinity: {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a', 'b'] }] }] },
      },
      podAntiAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { app: 'web' } }, topologyKey: 'kubernetes.io/hostname' }],
      },
    },
  },
};

describe('SCHEDULER_POD_FIELDS', () => {
  it('keeps exactly the fields on its paths, as the full decode has them', () => {
    const bytes = encodeObject(richPod);
    const full = decodeObject('Pod', bytes);
    const projected = projectedDecoder('Pod', SCHEDULER_POD_FIELDS)(bytes);
    const paths = [...SCHEDULER_POD_FIELDS, 'apiVersion', 'kind'].map((p) => p.split('.'));
    expect(projected).toEqual(pick(full, paths));
    // Each path is set in the pod, so the test shows it kept, not merely absent on both sides.
    for (const path of SCHEDULER_POD_FIELDS) {
      const values = valuesAt(full, path.split('.'));
      expect(values.length, path).toBeGreaterThan(0);
      expect(values.every((v) => v !== undefined), path).toBe(true);
    }
    const { spec, status } = projected as unknown as { spec: Json; status: Json };
    expect(Object.keys((spec['containers'] as Json[])[0]!).sort()).toEqual(['name', 'resources']);
    expect(status['containerStatuses']).toBeUndefined();
    expect(projected.metadata.annotations).toBeUndefined();
  });

  it('is what a profile of built-in plugins keeps; a custom plugin adds its fields, or gets whole pods', async () => {
    const binder: PodBinder = { bulkBind: async () => [] };
    const builtIn = await Framework.fromConfig(DEFAULT_PROFILE, { source: 'test', binder });
    expect(builtIn.podFields).toEqual(SCHEDULER_POD_FIELDS);

    const plugin = (podFields?: readonly string[]): FilterPlugin => ({ name: 'Custom', ...(podFields !== undefined ? { podFields } : {}), filter: () => SUCCESS });
    const profile = { ...DEFAULT_PROFILE, plugins: [...DEFAULT_PROFILE.plugins, { name: 'Custom', weight: 1, args: {} }] };
    const declared = await Framework.fromConfig(profile, { source: 'test', binder, registry: new Map([['Custom', () => plugin(['metadata.annotations'])]]) });
    expect(declared.podFields).toEqual([...SCHEDULER_POD_FIELDS, 'metadata.annotations']);
    const undeclared = await Framework.fromConfig(profile, { source: 'test', binder, registry: new Map([['Custom', () => plugin()]]) });
    expect(undeclared.podFields).toBeUndefined();
  });
});

/** The fake API, but the scheduler sees each pod as its informer would: encoded, then decoded with only `fields`. */
class ProjectingApi extends FakeSchedulerApi {
  constructor(private readonly fields: readonly string[]) {
    super();
  }

  override watchPods(handlers: ObjectHandlers<Pod>): Subscription {
    const decode = projectedDecoder('Pod', this.fields);
    const view = (pod: Pod): Pod => decode(encodeObject(pod)) as Pod;
    return super.watchPods({
      onAdd: (pod) => handlers.onAdd(view(pod)),
      onUpdate: (old, pod) => handlers.onUpdate(view(old), view(pod)),
      onDelete: (pod) => handlers.onDelete(view(pod)),
    });
  }
}

describe('scheduling pods decoded with SCHEDULER_POD_FIELDS', () => {
  it('honours every field a built-in plugin reads', async () => {
    const api = new ProjectingApi(SCHEDULER_POD_FIELDS);
    const framework = await Framework.load(undefined, { binder: api });
    api.addNode(makeNode('gpu', { cpu: '8', labels: { dedicated: 'gpu' }, taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }] }));
    api.addNode(makeNode('zone-a', { cpu: '2', labels: { zone: 'a' } }));
    api.addNode(makeNode('small-1', { cpu: '1', labels: { pool: 'p' } }));
    api.addNode(makeNode('small-2', { cpu: '1', labels: { pool: 'p' } }));
    const scheduler = new Scheduler({ api, framework });
    await scheduler.start();
    try {
      // Tolerations and a node selector: only the tainted node.
      api.createPod(makePod('tolerant', { spec: { nodeSelector: { dedicated: 'gpu' }, tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'gpu', effect: 'NoSchedule' }] } }));
      // Required node affinity: only zone a.
      const zoneA: NodeSelector = { nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] }] };
      api.createPod(makePod('in-zone-a', { spec: { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: zoneA } } } }));
      // Container requests: 1500m fits only zone-a (2 cpu) among untainted nodes.
      api.createPod(makePod('big', { cpu: '1500m' }));
      // An init container's request counts too: 1500m, so it must wait for room (zone-a is taken).
      api.createPod(makePod('big-init', { cpu: '100m', spec: { initContainers: [{ name: 'init', image: 'pause', resources: { requests: { cpu: '1500m' } } }] } }));
      // Required anti-affinity on hostname (which reads the other pods' labels): three pods, two
      // nodes in their pool, so one stays Pending.
      const apart = { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { app: 'apart' } }, topologyKey: 'kubernetes.io/hostname' }] } };
      for (const name of ['apart-1', 'apart-2', 'apart-3']) api.createPod(makePod(name, { labels: { app: 'apart' }, spec: { nodeSelector: { pool: 'p' }, affinity: apart } }));
      // Another scheduler's pod: not this scheduler's to bind.
      api.createPod(makePod('elsewhere', { spec: { schedulerName: 'other-scheduler' } }));
      const node = (name: string): string | undefined => api.pods.get(`default/${name}`)?.spec?.nodeName;
      const unschedulable = (name: string): boolean => api.pods.get(`default/${name}`)?.status?.conditions?.some((c) => c.type === 'PodScheduled' && c.status === 'False') === true;
      await waitUntil('tolerant, in-zone-a and big bound', () => ['tolerant', 'in-zone-a', 'big'].every((n) => node(n) !== undefined));
      await waitUntil('two apart pods bound, one unschedulable', () => ['apart-1', 'apart-2', 'apart-3'].filter((n) => node(n) !== undefined).length === 2 && ['apart-1', 'apart-2', 'apart-3'].some(unschedulable));
      await waitUntil('big-init unschedulable', () => unschedulable('big-init'));
      expect(node('tolerant')).toBe('gpu');
      expect(node('in-zone-a')).toBe('zone-a');
      expect(node('big')).toBe('zone-a');
      expect(node('big-init')).toBeUndefined();
      const placed = ['apart-1', 'apart-2', 'apart-3'].map(node).filter((n) => n !== undefined);
      expect(placed.sort()).toEqual(['small-1', 'small-2']);
      expect(node('elsewhere')).toBeUndefined();
      // The failure condition was written as a merge of the pod's conditions, so its phase is untouched.
      expect(api.pods.get('default/big-init')?.status?.phase).toBe('Pending');
    } finally {
      await scheduler.stop();
    }
  });
});
