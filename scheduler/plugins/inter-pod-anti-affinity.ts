// InterPodAntiAffinity (the required half of Kubernetes' InterPodAffinity): a pod with required
// anti-affinity does not go where a matching pod already runs, and no pod goes where an existing
// pod's required anti-affinity would then match it (the symmetric rule).
//
// Topology: kubernetes.io/hostname is checked per node against the node's own pods (cheap); any
// other topology key makes PreFilter scan every node's pods once, to find the forbidden domains.

import { ClusterEvent, type FilterPlugin, type PreFilterPlugin, type SnapshotView } from '../framework/interfaces.js';
import { stateKey, type CycleState } from '../framework/cycle-state.js';
import { HOSTNAME_TOPOLOGY_KEY, compileAffinityTerms, termMatchesPod, type CompiledAffinityTerm, type NodeInfo } from '../framework/node-info.js';
import { SKIP, SUCCESS, unschedulable, type Status } from '../framework/status.js';
import type { Pod } from '../../proto/api/types.js';

export const INTER_POD_ANTI_AFFINITY = 'InterPodAntiAffinity';
export const REASON_ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules";
export const REASON_EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules";

const OWN_REJECTED: Status = { ...unschedulable(REASON_ANTI_AFFINITY), plugin: INTER_POD_ANTI_AFFINITY };
const EXISTING_REJECTED: Status = { ...unschedulable(REASON_EXISTING_ANTI_AFFINITY), plugin: INTER_POD_ANTI_AFFINITY };

/** The node's value for a topology key; a node without the hostname label is its own domain. */
export function topologyValue(node: NodeInfo, key: string): string | undefined {
  return node.labels[key] ?? (key === HOSTNAME_TOPOLOGY_KEY ? node.name : undefined);
}

interface AntiAffinityState {
  /** The incoming pod's own terms on the hostname key, checked against each node's pods. */
  readonly hostnameTerms: readonly CompiledAffinityTerm[];
  /** Domains (key → values) where the incoming pod's other-key terms match a pod. */
  readonly ownForbidden: ReadonlyMap<string, ReadonlySet<string>>;
  /** Domains where an existing pod's required anti-affinity matches the incoming pod. */
  readonly existingForbidden: ReadonlyMap<string, ReadonlySet<string>>;
}

const stateOf = stateKey<AntiAffinityState>('InterPodAntiAffinity/state');

function addDomain(map: Map<string, Set<string>>, key: string, value: string): void {
  let values = map.get(key);
  if (values === undefined) map.set(key, (values = new Set()));
  values.add(value);
}

function inDomain(map: ReadonlyMap<string, ReadonlySet<string>>, node: NodeInfo): boolean {
  for (const [key, values] of map) {
    const v = topologyValue(node, key);
    if (v !== undefined && values.has(v)) return true;
  }
  return false;
}

export class InterPodAntiAffinity implements PreFilterPlugin, FilterPlugin {
  readonly name = INTER_POD_ANTI_AFFINITY;

  static create(): InterPodAntiAffinity {
    return new InterPodAntiAffinity();
  }

  eventsToRegister(): readonly ClusterEvent[] {
    return [ClusterEvent.AssignedPodDeleted, ClusterEvent.AssignedPodLabelsChanged, ClusterEvent.NodeAdded, ClusterEvent.NodeLabelsChanged];
  }

  preFilter(state: CycleState, pod: Pod, snapshot: SnapshotView): Status {
    const own = compileAffinityTerms(pod.spec?.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution, pod.metadata.namespace ?? '');
    const withAntiAffinity = snapshot.nodesWithRequiredAntiAffinityPods();
    if (own.length === 0 && withAntiAffinity.length === 0) return SKIP;

    const existingForbidden = new Map<string, Set<string>>();
    for (const node of withAntiAffinity) {
      for (const existing of node.pods.values()) {
        for (const term of existing.requiredAntiAffinity) {
          if (!termMatchesPod(term, pod)) continue;
          const v = topologyValue(node, term.topologyKey);
          if (v !== undefined) addDomain(existingForbidden, term.topologyKey, v);
        }
      }
    }
    const hostnameTerms = own.filter((t) => t.topologyKey === HOSTNAME_TOPOLOGY_KEY);
    const otherTerms = own.filter((t) => t.topologyKey !== HOSTNAME_TOPOLOGY_KEY);
    const ownForbidden = new Map<string, Set<string>>();
    if (otherTerms.length > 0) {
      for (const node of snapshot.nodeInfos()) {
        for (const term of otherTerms) {
          const v = topologyValue(node, term.topologyKey);
          if (v === undefined) continue;
          for (const existing of node.pods.values()) {
            if (termMatchesPod(term, existing.pod)) {
              addDomain(ownForbidden, term.topologyKey, v);
              break;
            }
          }
        }
      }
    }
    if (hostnameTerms.length === 0 && ownForbidden.size === 0 && existingForbidden.size === 0) return SKIP;
    state.write(stateOf, { hostnameTerms, ownForbidden, existingForbidden });
    return SUCCESS;
  }

  filter(state: CycleState, _pod: Pod, node: NodeInfo): Status {
    const s = state.read(stateOf);
    if (s === undefined) return SUCCESS;
    if (s.existingForbidden.size > 0 && inDomain(s.existingForbidden, node)) return EXISTING_REJECTED;
    if (s.ownForbidden.size > 0 && inDomain(s.ownForbidden, node)) return OWN_REJECTED;
    for (const term of s.hostnameTerms) {
      for (const existing of node.pods.values()) if (termMatchesPod(term, existing.pod)) return OWN_REJECTED;
    }
    return SUCCESS;
  }
}
