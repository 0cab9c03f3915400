// NodeUnschedulable: a cordoned node (spec.unschedulable) takes no new pods, unless the pod
// tolerates the node.kubernetes.io/unschedulable:NoSchedule taint Kubernetes puts on it.

import { ClusterEvent, type FilterPlugin } from '../framework/interfaces.js';
import type { CycleState } from '../framework/cycle-state.js';
import type { NodeInfo } from '../framework/node-info.js';
import { SUCCESS, unresolvable, type Status } from '../framework/status.js';
import type { Pod, Taint } from '../../proto/api/types.js';
import { toleratesTaint } from './taint-toleration.js';

export const NODE_UNSCHEDULABLE = 'NodeUnschedulable';
export const REASON_NODE_UNSCHEDULABLE = 'node(s) were unschedulable';

const UNSCHEDULABLE_TAINT: Taint = { key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' };
const REJECTED: Status = { ...unresolvable(REASON_NODE_UNSCHEDULABLE), plugin: NODE_UNSCHEDULABLE };

export class NodeUnschedulable implements FilterPlugin {
  readonly name = NODE_UNSCHEDULABLE;

  static create(): NodeUnschedulable {
    return new NodeUnschedulable();
  }

  eventsToRegister(): readonly ClusterEvent[] {
    return [ClusterEvent.NodeAdded, ClusterEvent.NodeBecameSchedulable];
  }

  filter(_state: CycleState, pod: Pod, node: NodeInfo): Status {
    if (!node.unschedulable) return SUCCESS;
    const tolerations = pod.spec?.tolerations ?? [];
    return tolerations.some((t) => toleratesTaint(t, UNSCHEDULABLE_TAINT)) ? SUCCESS : REJECTED;
  }
}
