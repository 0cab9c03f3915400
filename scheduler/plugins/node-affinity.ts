// NodeAffinity: the pod's nodeSelector and required node affinity terms must match the node's
// labels (Filter); each preferred term that matches adds its weight (Score, normalized to 0..100).

import { nodeSelectorMatches, nodeSelectorTermMatches } from '../../apiserver/resources/selectors.js';
import { ClusterEvent, type FilterPlugin, type PreFilterPlugin, type PreScorePlugin, type ScorePlugin } from '../framework/interfaces.js';
import { stateKey, type CycleState } from '../framework/cycle-state.js';
import type { NodeInfo } from '../framework/node-info.js';
import { SKIP, SUCCESS, unresolvable, type Status } from '../framework/status.js';
import type { NodeSelector, Pod, PreferredSchedulingTerm } from '../../proto/api/types.js';
import { defaultNormalizeScore } from './resource-scoring.js';

export const NODE_AFFINITY = 'NodeAffinity';
export const REASON_NODE_AFFINITY = "node(s) didn't match Pod's node affinity/selector";

const REJECTED: Status = { ...unresolvable(REASON_NODE_AFFINITY), plugin: NODE_AFFINITY };

interface RequiredNodeAffinity {
  readonly selector: readonly (readonly [string, string])[];
  readonly required: NodeSelector | undefined;
}

const requiredKey = stateKey<RequiredNodeAffinity>('NodeAffinity/required');
const preferredKey = stateKey<readonly PreferredSchedulingTerm[]>('NodeAffinity/preferred');

export function requiredNodeAffinityOf(pod: Pod): RequiredNodeAffinity {
  return {
    selector: Object.entries(pod.spec?.nodeSelector ?? {}),
    required: pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution,
  };
}

export function matchesRequiredNodeAffinity(a: RequiredNodeAffinity, node: NodeInfo): boolean {
  for (const [key, value] of a.selector) if (node.labels[key] !== value) return false;
  return a.required === undefined || nodeSelectorMatches(a.required, node.labels, node.fields);
}

export class NodeAffinity implements PreFilterPlugin, FilterPlugin, PreScorePlugin, ScorePlugin {
  readonly name = NODE_AFFINITY;

  static create(): NodeAffinity {
    return new NodeAffinity();
  }

  eventsToRegister(): readonly ClusterEvent[] {
    return [ClusterEvent.NodeAdded, ClusterEvent.NodeLabelsChanged];
  }

  preFilter(state: CycleState, pod: Pod): Status {
    const a = requiredNodeAffinityOf(pod);
    if (a.selector.length === 0 && a.required === undefined) return SKIP;
    // Kubernetes: a required node affinity with no terms matches no node.
    if (a.required !== undefined && a.required.nodeSelectorTerms.length === 0) return REJECTED;
    state.write(requiredKey, a);
    return SUCCESS;
  }

  filter(state: CycleState, pod: Pod, node: NodeInfo): Status {
    const a = state.read(requiredKey) ?? requiredNodeAffinityOf(pod);
    return matchesRequiredNodeAffinity(a, node) ? SUCCESS : REJECTED;
  }

  preScore(state: CycleState, pod: Pod): Status {
    const preferred = pod.spec?.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [];
    if (preferred.length === 0) return SKIP;
    state.write(preferredKey, preferred);
    return SUCCESS;
  }

  score(state: CycleState, pod: Pod, node: NodeInfo): number {
    const preferred = state.read(preferredKey) ?? pod.spec?.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [];
    let total = 0;
    for (const term of preferred) {
      if (term.weight !== 0 && nodeSelectorTermMatches(term.preference, node.labels, node.fields)) total += term.weight;
    }
    return total;
  }

  normalizeScore(_state: CycleState, _pod: Pod, scores: Float64Array, count: number): Status {
    defaultNormalizeScore(scores, count, false);
    return SUCCESS;
  }
}
