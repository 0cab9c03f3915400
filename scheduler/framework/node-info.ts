// A node as the scheduler sees it: its allocatable resources, what the pods on it (bound or
// assumed) already request, and those pods. The cache owns one per node and bumps `generation` on
// every change; the snapshot copies a NodeInfo only when its generation is newer than the
// snapshot's (see snapshot.ts).
//
// Invariant: requested.* == the sum of podResources over `pods`; podCount == pods.size.

import { cpuMillis, memoryBytes } from '../../apiserver/resources/quantity.js';
import { labelSelectorMatcher, type LabelMatcher } from '../../apiserver/resources/selectors.js';
import type { Node, Pod, PodAffinityTerm, Taint } from '../../proto/api/types.js';
import { podResourcesOrZero, type PodResources } from './pod-resources.js';

export const HOSTNAME_TOPOLOGY_KEY = 'kubernetes.io/hostname';

export interface Allocatable {
  readonly cpuMillis: number;
  readonly memoryBytes: number;
  readonly pods: number;
}

/** A required (anti-)affinity term with its selector compiled once. */
export interface CompiledAffinityTerm {
  readonly topologyKey: string;
  readonly selector: LabelMatcher;
  /** Namespaces the term selects pods in; Kubernetes' default is the pod's own namespace. */
  readonly namespaces: ReadonlySet<string>;
}

export interface PodInfo {
  /** namespace/name */
  readonly key: string;
  readonly pod: Pod;
  readonly namespace: string;
  readonly resources: PodResources;
  readonly requiredAntiAffinity: readonly CompiledAffinityTerm[];
}

export function podKey(pod: Pod): string {
  return `${pod.metadata.namespace ?? ''}/${pod.metadata.name ?? ''}`;
}

export function compileAffinityTerms(terms: readonly PodAffinityTerm[] | undefined, podNamespace: string): CompiledAffinityTerm[] {
  if (terms === undefined || terms.length === 0) return [];
  return terms.map((t) => ({
    topologyKey: t.topologyKey,
    selector: labelSelectorMatcher(t.labelSelector),
    namespaces: new Set(t.namespaces !== undefined && t.namespaces.length > 0 ? t.namespaces : [podNamespace]),
  }));
}

export function termMatchesPod(term: CompiledAffinityTerm, pod: Pod): boolean {
  return term.namespaces.has(pod.metadata.namespace ?? '') && term.selector.matches(pod.metadata.labels);
}

export function newPodInfo(pod: Pod): PodInfo {
  const namespace = pod.metadata.namespace ?? '';
  return {
    key: podKey(pod),
    pod,
    namespace,
    resources: podResourcesOrZero(pod),
    requiredAntiAffinity: compileAffinityTerms(pod.spec?.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution, namespace),
  };
}

function quantityOr(text: string | undefined, parse: (q: string) => number): number {
  if (text === undefined) return 0;
  try {
    return parse(text);
  } catch {
    return 0;
  }
}

export function nodeAllocatable(node: Node): Allocatable {
  const a = node.status?.allocatable ?? node.status?.capacity ?? {};
  return {
    cpuMillis: quantityOr(a['cpu'], cpuMillis),
    memoryBytes: quantityOr(a['memory'], memoryBytes),
    pods: quantityOr(a['pods'], memoryBytes),
  };
}

const NO_TAINTS: readonly Taint[] = Object.freeze([]);
const NO_LABELS: Readonly<Record<string, string>> = Object.freeze({});

export class NodeInfo {
  // The node's own fields are set by setNode, from the constructor too.
  node!: Node;
  name!: string;
  labels!: Readonly<Record<string, string>>;
  /** What matchFields compares against (Kubernetes supports only metadata.name). */
  fields!: Readonly<Record<string, string>>;
  taints!: readonly Taint[];
  unschedulable!: boolean;
  allocatable!: Allocatable;
  // allocatable and the pod count again, as plain fields: the filter loop reads them for hundreds of
  // nodes per cycle, and one object per node stays in fewer cache lines than three.
  allocatableCpuMillis!: number;
  allocatableMemoryBytes!: number;
  allocatablePods!: number;
  podCount = 0;
  requestedCpuMillis = 0;
  requestedMemoryBytes = 0;
  nonZeroRequestedCpuMillis = 0;
  nonZeroRequestedMemoryBytes = 0;
  pods = new Map<string, PodInfo>();
  /** How many of `pods` carry required anti-affinity terms. */
  podsWithRequiredAntiAffinity = 0;
  /** Bumped by the cache on every change; the snapshot compares it. */
  generation = 0;

  constructor(node: Node) {
    this.setNode(node);
  }

  setNode(node: Node): void {
    this.node = node;
    this.name = node.metadata.name ?? '';
    this.labels = node.metadata.labels ?? NO_LABELS;
    this.fields = { 'metadata.name': this.name };
    this.taints = node.spec?.taints ?? NO_TAINTS;
    this.unschedulable = node.spec?.unschedulable === true;
    this.allocatable = nodeAllocatable(node);
    this.allocatableCpuMillis = this.allocatable.cpuMillis;
    this.allocatableMemoryBytes = this.allocatable.memoryBytes;
    this.allocatablePods = this.allocatable.pods;
  }

  /** Adds the pod, or replaces the one with its key (overwriting the entry: see removePod). */
  addPod(info: PodInfo): void {
    const old = this.pods.get(info.key);
    if (old !== undefined) this.subtract(old);
    this.pods.set(info.key, info);
    this.podCount = this.pods.size;
    const r = info.resources;
    this.requestedCpuMillis += r.cpuMillis;
    this.requestedMemoryBytes += r.memoryBytes;
    this.nonZeroRequestedCpuMillis += r.nonZeroCpuMillis;
    this.nonZeroRequestedMemoryBytes += r.nonZeroMemoryBytes;
    if (info.requiredAntiAffinity.length > 0) this.podsWithRequiredAntiAffinity++;
  }

  /**
   * False when the pod was not on this node. (V8's Map keeps deleted entries in their hash chain
   * until it rehashes, so deleting and re-adding one key over and over gets slower each time:
   * callers replace with addPod instead.)
   */
  removePod(key: string): boolean {
    const info = this.pods.get(key);
    if (info === undefined) return false;
    this.pods.delete(key);
    this.podCount = this.pods.size;
    this.subtract(info);
    return true;
  }

  private subtract(info: PodInfo): void {
    const r = info.resources;
    this.requestedCpuMillis -= r.cpuMillis;
    this.requestedMemoryBytes -= r.memoryBytes;
    this.nonZeroRequestedCpuMillis -= r.nonZeroCpuMillis;
    this.nonZeroRequestedMemoryBytes -= r.nonZeroMemoryBytes;
    if (info.requiredAntiAffinity.length > 0) this.podsWithRequiredAntiAffinity--;
  }

  /** Makes this a copy of `other` (the snapshot's refresh); pods are copied, PodInfos shared (immutable). */
  copyFrom(other: NodeInfo): void {
    this.node = other.node;
    this.name = other.name;
    this.labels = other.labels;
    this.fields = other.fields;
    this.taints = other.taints;
    this.unschedulable = other.unschedulable;
    this.allocatable = other.allocatable;
    this.allocatableCpuMillis = other.allocatableCpuMillis;
    this.allocatableMemoryBytes = other.allocatableMemoryBytes;
    this.allocatablePods = other.allocatablePods;
    this.podCount = other.podCount;
    this.requestedCpuMillis = other.requestedCpuMillis;
    this.requestedMemoryBytes = other.requestedMemoryBytes;
    this.nonZeroRequestedCpuMillis = other.nonZeroRequestedCpuMillis;
    this.nonZeroRequestedMemoryBytes = other.nonZeroRequestedMemoryBytes;
    this.pods = new Map(other.pods);
    this.podsWithRequiredAntiAffinity = other.podsWithRequiredAntiAffinity;
    this.generation = other.generation;
  }

  clone(): NodeInfo {
    const copy = new NodeInfo(this.node);
    copy.copyFrom(this);
    return copy;
  }
}
