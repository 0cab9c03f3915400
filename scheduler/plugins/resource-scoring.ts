// Kubernetes' resource scoring strategies (pkg/scheduler/framework/plugins/noderesources), with
// its integer arithmetic, so the same node gets the same score here and there. Each takes what
// would be requested on the node with the pod placed there, and the node's allocatable.

import { MAX_NODE_SCORE } from '../framework/interfaces.js';

export const ScoringStrategy = {
  LeastAllocated: 'LeastAllocated',
  MostAllocated: 'MostAllocated',
} as const;
export type ScoringStrategy = (typeof ScoringStrategy)[keyof typeof ScoringStrategy];

export type ScoredResource = 'cpu' | 'memory';

export interface ResourceWeight {
  readonly name: ScoredResource;
  readonly weight: number;
}

export const DEFAULT_SCORED_RESOURCES: readonly ResourceWeight[] = [
  { name: 'cpu', weight: 1 },
  { name: 'memory', weight: 1 },
];

/** Free share: (allocatable − requested) · 100 / allocatable; 0 when over-committed. Spreads pods. */
export function leastAllocatedScore(requested: number, allocatable: number): number {
  if (allocatable === 0 || requested > allocatable) return 0;
  return Math.floor(((allocatable - requested) * MAX_NODE_SCORE) / allocatable);
}

/** Used share: requested · 100 / allocatable, capped at 100. Packs pods (bin packing). */
export function mostAllocatedScore(requested: number, allocatable: number): number {
  if (allocatable === 0) return 0;
  return Math.floor((Math.min(requested, allocatable) * MAX_NODE_SCORE) / allocatable);
}

/**
 * (1 − the standard deviation of the requested fractions) · 100: a node whose CPU and memory are
 * used in the same proportion scores 100. Fractions are capped at 1; unset resources are skipped.
 */
export function balancedAllocationScore(requested: readonly number[], allocatable: readonly number[]): number {
  const fractions: number[] = [];
  let total = 0;
  for (let i = 0; i < requested.length; i++) {
    const alloc = allocatable[i] ?? 0;
    if (alloc === 0) continue;
    const fraction = Math.min((requested[i] ?? 0) / alloc, 1);
    total += fraction;
    fractions.push(fraction);
  }
  let std = 0;
  if (fractions.length === 2) {
    std = Math.abs(((fractions[0] ?? 0) - (fractions[1] ?? 0)) / 2);
  } else if (fractions.length > 2) {
    const mean = total / fractions.length;
    let sum = 0;
    for (const f of fractions) sum += (f - mean) * (f - mean);
    std = Math.sqrt(sum / fractions.length);
  }
  return Math.trunc((1 - std) * MAX_NODE_SCORE);
}

/** balancedAllocationScore for exactly cpu and memory, without allocating (the hot path). */
export function balancedCpuMemoryScore(requestedCpu: number, allocatableCpu: number, requestedMemory: number, allocatableMemory: number): number {
  if (allocatableCpu === 0 || allocatableMemory === 0) {
    return balancedAllocationScore([requestedCpu, requestedMemory], [allocatableCpu, allocatableMemory]);
  }
  const cpu = Math.min(requestedCpu / allocatableCpu, 1);
  const memory = Math.min(requestedMemory / allocatableMemory, 1);
  return Math.trunc((1 - Math.abs((cpu - memory) / 2)) * MAX_NODE_SCORE);
}

/** Kubernetes' DefaultNormalizeScore: scale to 0..100 by the maximum; `reverse` flips it. */
export function defaultNormalizeScore(scores: Float64Array, count: number, reverse: boolean): void {
  let max = 0;
  for (let i = 0; i < count; i++) if ((scores[i] ?? 0) > max) max = scores[i] ?? 0;
  if (max === 0) {
    if (reverse) for (let i = 0; i < count; i++) scores[i] = MAX_NODE_SCORE;
    return;
  }
  for (let i = 0; i < count; i++) {
    const s = Math.floor((MAX_NODE_SCORE * (scores[i] ?? 0)) / max);
    scores[i] = reverse ? MAX_NODE_SCORE - s : s;
  }
}
