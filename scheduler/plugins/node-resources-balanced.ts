// NodeResourcesBalancedAllocation: prefers nodes whose cpu and memory would be used in the same
// proportion once the pod is placed, so neither runs out while the other idles.

import type { PreScorePlugin, ScorePlugin } from '../framework/interfaces.js';
import type { CycleState } from '../framework/cycle-state.js';
import type { NodeInfo } from '../framework/node-info.js';
import { PodResourcesError, podResources, type PodResources } from '../framework/pod-resources.js';
import { SKIP, SUCCESS, unresolvable, type Status } from '../framework/status.js';
import type { Pod } from '../../proto/api/types.js';
import { balancedCpuMemoryScore } from './resource-scoring.js';

export const NODE_RESOURCES_BALANCED_ALLOCATION = 'NodeResourcesBalancedAllocation';

export class NodeResourcesBalancedAllocation implements PreScorePlugin, ScorePlugin {
  readonly name = NODE_RESOURCES_BALANCED_ALLOCATION;
  private lastPod: Pod | undefined;
  private lastRequest: PodResources | undefined;

  static create(): NodeResourcesBalancedAllocation {
    return new NodeResourcesBalancedAllocation();
  }

  /** A pod that requests nothing changes no node's balance. */
  preScore(_state: CycleState, pod: Pod): Status {
    try {
      const r = podResources(pod);
      return r.cpuMillis === 0 && r.memoryBytes === 0 ? SKIP : SUCCESS;
    } catch (err) {
      if (err instanceof PodResourcesError) return unresolvable(err.message);
      throw err;
    }
  }

  scoreNodes(_state: CycleState, pod: Pod, nodes: readonly NodeInfo[], count: number, out: Float64Array): Status {
    const r = podResources(pod);
    for (let i = 0; i < count; i++) {
      const node = nodes[i] as NodeInfo;
      out[i] = balancedCpuMemoryScore(node.requestedCpuMillis + r.cpuMillis, node.allocatableCpuMillis, node.requestedMemoryBytes + r.memoryBytes, node.allocatableMemoryBytes);
    }
    return SUCCESS;
  }

  score(_state: CycleState, pod: Pod, node: NodeInfo): number {
    const r = this.lastPod === pod && this.lastRequest !== undefined ? this.lastRequest : podResources(pod);
    this.lastPod = pod;
    this.lastRequest = r;
    return balancedCpuMemoryScore(node.requestedCpuMillis + r.cpuMillis, node.allocatable.cpuMillis, node.requestedMemoryBytes + r.memoryBytes, node.allocatable.memoryBytes);
  }
}
