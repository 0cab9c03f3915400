// NodeName: a pod that names its node (spec.nodeName) fits only there. The scheduler never
// schedules such pods itself; the plugin keeps the filter set complete for other callers.

import { ClusterEvent, type FilterPlugin } from '../framework/interfaces.js';
import type { CycleState } from '../framework/cycle-state.js';
import type { NodeInfo } from '../framework/node-info.js';
import { SUCCESS, unresolvable, type Status } from '../framework/status.js';
import type { Pod } from '../../proto/api/types.js';

export const NODE_NAME = 'NodeName';
export const REASON_NODE_NAME = "node(s) didn't match the requested node name";

const REJECTED: Status = { ...unresolvable(REASON_NODE_NAME), plugin: NODE_NAME };

export class NodeName implements FilterPlugin {
  readonly name = NODE_NAME;

  static create(): NodeName {
    return new NodeName();
  }

  eventsToRegister(): readonly ClusterEvent[] {
    return [ClusterEvent.NodeAdded];
  }

  filter(_state: CycleState, pod: Pod, node: NodeInfo): Status {
    const wanted = pod.spec?.nodeName;
    return wanted === undefined || wanted === '' || wanted === node.name ? SUCCESS : REJECTED;
  }
}
