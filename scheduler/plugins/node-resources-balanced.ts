// NodeResourcesBalancedAllocation: prefers nodes whose cpu and memory would be used in the same
// proportion once the pod is placed, so neither runs out while the other idles.

import type { PreScorePlugin, ScorePlugin } from '../framework/interfaces.js';
import type { CycleState } from '../framework/cycle-state.js';
import type { NodeInfo } from '../framework/node-info.js';
import { PodResourcesError, podResources } from '../framework/pod-resources.js';
import { SKIP, SUCCESS, unresolvable, type Status } from '../framework/status.js';
import type { Pod } from '../../proto/api/types.js';
import { balancedAllocationScore } from './resource-scoring.js';

export const NODE_RESOURCES_BALANCED_ALLOCATION = 'NodeResourcesBalancedAllocation';

export class NodeResourcesBalancedAllocation implements PreScorePlugin, ScorePlugin {
  readonly name = NODE_RESOURCES_BALANCED_ALLOCATION;
  private readonly requested = [0, 0];
  private readonly allocatable = [0, 0];

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

  score(_state: CycleState, pod: Pod, node: NodeInfo): number {
    const r = podResources(pod);
    this.requested[0] = node.requestedCpuMillis + r.cpuMillis;
    this.requested[1] = node.requestedMemoryBytes + r.memoryBytes;
    this.allocatable[0] = node.allocatable.cpuMillis;
    this.allocatable[1] = node.allocatable.memoryBytes;
    return balancedAllocationScore(this.requested, this.allocatable);
  }
}
