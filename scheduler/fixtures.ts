// Builders for nodes and pods in tests and benchmarks.

import type { Node, Pod, PodSpec, Taint } from '../proto/api/types.js';

export interface NodeShape {
  readonly cpu?: string;
  readonly memory?: string;
  readonly pods?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly taints?: readonly Taint[];
  readonly unschedulable?: boolean;
}

export function makeNode(name: string, shape: NodeShape = {}): Node {
  const allocatable = { cpu: shape.cpu ?? '4', memory: shape.memory ?? '16Gi', pods: shape.pods ?? '110' };
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name, ...(shape.labels ?? {}) } },
    spec: { ...(shape.taints !== undefined ? { taints: shape.taints } : {}), ...(shape.unschedulable === true ? { unschedulable: true } : {}) },
    status: { capacity: allocatable, allocatable },
  };
}

export interface PodShape {
  readonly cpu?: string;
  readonly memory?: string;
  readonly namespace?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly spec?: Partial<PodSpec>;
}

export function makePod(name: string, shape: PodShape = {}): Pod {
  const requests: Record<string, string> = {};
  if (shape.cpu !== undefined) requests['cpu'] = shape.cpu;
  if (shape.memory !== undefined) requests['memory'] = shape.memory;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: shape.namespace ?? 'default', uid: `uid-${name}`, ...(shape.labels !== undefined ? { labels: shape.labels } : {}) },
    spec: {
      containers: [{ name: 'main', image: 'pause', ...(Object.keys(requests).length > 0 ? { resources: { requests } } : {}) }],
      schedulerName: 'default-scheduler',
      ...(shape.spec ?? {}),
    },
    status: { phase: 'Pending' },
  };
}
