// NodeResourcesFit: does the node have room for the pod's requests (cpu, memory, one more pod)
// given its allocatable minus what its pods (bound and assumed) already request? And, as a score,
// how good a home is it by the configured strategy (LeastAllocated spreads, MostAllocated packs).

import { ClusterEvent, type FilterPlugin, type PreFilterPlugin, type ScorePlugin, type PluginContext } from '../framework/interfaces.js';
import { stateKey, type CycleState } from '../framework/cycle-state.js';
import type { NodeInfo } from '../framework/node-info.js';
import { PodResourcesError, podResources, type PodResources } from '../framework/pod-resources.js';
import { SUCCESS, errorStatus, unresolvable, unschedulable, type Status } from '../framework/status.js';
import type { Pod } from '../../proto/api/types.js';
import { DEFAULT_SCORED_RESOURCES, ScoringStrategy, leastAllocatedScore, mostAllocatedScore, type ResourceWeight } from './resource-scoring.js';

export const NODE_RESOURCES_FIT = 'NodeResourcesFit';

export const REASON_TOO_MANY_PODS = 'Too many pods';
export const REASON_INSUFFICIENT_CPU = 'Insufficient cpu';
export const REASON_INSUFFICIENT_MEMORY = 'Insufficient memory';

const requestKey = stateKey<PodResources>('NodeResourcesFit/request');

const TOO_MANY_PODS = 1;
const CPU = 2;
const MEMORY = 4;

/** One frozen Status per combination of missing resources, so Filter never allocates. */
const REJECTIONS: readonly Status[] = Array.from({ length: 8 }, (_, mask) => {
  const reasons: string[] = [];
  if (mask & TOO_MANY_PODS) reasons.push(REASON_TOO_MANY_PODS);
  if (mask & CPU) reasons.push(REASON_INSUFFICIENT_CPU);
  if (mask & MEMORY) reasons.push(REASON_INSUFFICIENT_MEMORY);
  return { ...unschedulable(...reasons), plugin: NODE_RESOURCES_FIT };
});

/** The pod's request, from this cycle's state or computed (for callers that skipped PreFilter). */
export function cycleRequest(state: CycleState, pod: Pod): PodResources {
  return state.read(requestKey) ?? podResources(pod);
}

/** The Filter's pure core: which resources are missing, as a bit mask (0: fits). */
export function missingResources(request: PodResources, node: NodeInfo): number {
  let mask = 0;
  if (node.podCount + 1 > node.allocatablePods) mask |= TOO_MANY_PODS;
  if (request.cpuMillis > 0 && request.cpuMillis > node.allocatableCpuMillis - node.requestedCpuMillis) mask |= CPU;
  if (request.memoryBytes > 0 && request.memoryBytes > node.allocatableMemoryBytes - node.requestedMemoryBytes) mask |= MEMORY;
  return mask;
}

export interface NodeResourcesFitArgs {
  readonly scoringStrategy: ScoringStrategy;
  readonly resources: readonly ResourceWeight[];
}

export function parseNodeResourcesFitArgs(args: Readonly<Record<string, unknown>>): NodeResourcesFitArgs {
  const strategy = args['scoringStrategy'] ?? ScoringStrategy.LeastAllocated;
  if (strategy !== ScoringStrategy.LeastAllocated && strategy !== ScoringStrategy.MostAllocated) {
    throw new Error(`scoringStrategy: must be "LeastAllocated" or "MostAllocated", not ${JSON.stringify(strategy)}`);
  }
  const raw = args['resources'] ?? DEFAULT_SCORED_RESOURCES;
  if (!Array.isArray(raw) || raw.length === 0) throw new Error('resources: must be a non-empty list of {name: cpu|memory, weight}');
  const resources = raw.map((r: unknown, i): ResourceWeight => {
    const entry = (typeof r === 'object' && r !== null ? r : {}) as Record<string, unknown>;
    const name = entry['name'];
    const weight = entry['weight'] ?? 1;
    if (name !== 'cpu' && name !== 'memory') throw new Error(`resources[${i}].name: must be "cpu" or "memory", not ${JSON.stringify(name)}`);
    if (typeof weight !== 'number' || !Number.isInteger(weight) || weight < 1 || weight > 100) throw new Error(`resources[${i}].weight: must be an integer 1..100`);
    return { name, weight };
  });
  return { scoringStrategy: strategy, resources };
}

export class NodeResourcesFit implements PreFilterPlugin, FilterPlugin, ScorePlugin {
  readonly name = NODE_RESOURCES_FIT;
  private readonly resourceScore: (requested: number, allocatable: number) => number;
  private readonly weightSum: number;
  private readonly cpuWeight: number;
  private readonly memoryWeight: number;
  /** The last cycle's request, so the per-node calls skip the state lookup. */
  private lastState: CycleState | undefined;
  private lastRequest: PodResources | undefined;

  constructor(readonly args: NodeResourcesFitArgs = { scoringStrategy: ScoringStrategy.LeastAllocated, resources: DEFAULT_SCORED_RESOURCES }) {
    this.resourceScore = args.scoringStrategy === ScoringStrategy.MostAllocated ? mostAllocatedScore : leastAllocatedScore;
    this.weightSum = args.resources.reduce((sum, r) => sum + r.weight, 0);
    this.cpuWeight = args.resources.filter((r) => r.name === 'cpu').reduce((sum, r) => sum + r.weight, 0);
    this.memoryWeight = args.resources.filter((r) => r.name === 'memory').reduce((sum, r) => sum + r.weight, 0);
  }

  static create(context: PluginContext): NodeResourcesFit {
    return new NodeResourcesFit(parseNodeResourcesFitArgs(context.args));
  }

  eventsToRegister(): readonly ClusterEvent[] {
    return [ClusterEvent.NodeAdded, ClusterEvent.NodeAllocatableIncreased, ClusterEvent.AssignedPodDeleted];
  }

  private request(state: CycleState, pod: Pod): PodResources {
    if (state === this.lastState && this.lastRequest !== undefined) return this.lastRequest;
    const request = cycleRequest(state, pod);
    this.lastState = state;
    this.lastRequest = request;
    return request;
  }

  preFilter(state: CycleState, pod: Pod): Status {
    try {
      const request = podResources(pod);
      state.write(requestKey, request);
      this.lastState = state;
      this.lastRequest = request;
      return SUCCESS;
    } catch (err) {
      if (err instanceof PodResourcesError) return unresolvable(err.message);
      return errorStatus((err as Error).message);
    }
  }

  filter(state: CycleState, pod: Pod, node: NodeInfo): Status {
    const mask = missingResources(this.request(state, pod), node);
    return mask === 0 ? SUCCESS : (REJECTIONS[mask] ?? SUCCESS);
  }

  scoreNodes(state: CycleState, pod: Pod, nodes: readonly NodeInfo[], count: number, out: Float64Array): Status {
    const request = this.request(state, pod);
    const cpuWeight = this.cpuWeight;
    const memoryWeight = this.memoryWeight;
    const weightSum = this.weightSum;
    const most = this.args.scoringStrategy === ScoringStrategy.MostAllocated;
    for (let i = 0; i < count; i++) {
      const node = nodes[i] as NodeInfo;
      const cpu = node.nonZeroRequestedCpuMillis + request.nonZeroCpuMillis;
      const memory = node.nonZeroRequestedMemoryBytes + request.nonZeroMemoryBytes;
      const total = most
        ? cpuWeight * mostAllocatedScore(cpu, node.allocatableCpuMillis) + memoryWeight * mostAllocatedScore(memory, node.allocatableMemoryBytes)
        : cpuWeight * leastAllocatedScore(cpu, node.allocatableCpuMillis) + memoryWeight * leastAllocatedScore(memory, node.allocatableMemoryBytes);
      out[i] = weightSum === 0 ? 0 : Math.floor(total / weightSum);
    }
    return SUCCESS;
  }

  /** Kubernetes scores with the "non-zero" requests, so pods without requests still spread. */
  score(state: CycleState, pod: Pod, node: NodeInfo): number {
    const request = this.request(state, pod);
    let total = 0;
    if (this.cpuWeight > 0) total += this.cpuWeight * this.resourceScore(node.nonZeroRequestedCpuMillis + request.nonZeroCpuMillis, node.allocatable.cpuMillis);
    if (this.memoryWeight > 0) total += this.memoryWeight * this.resourceScore(node.nonZeroRequestedMemoryBytes + request.nonZeroMemoryBytes, node.allocatable.memoryBytes);
    return this.weightSum === 0 ? 0 : Math.floor(total / this.weightSum);
  }
}
