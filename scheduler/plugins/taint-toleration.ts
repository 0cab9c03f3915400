// TaintToleration: a node's NoSchedule and NoExecute taints keep out every pod that does not
// tolerate them (Filter); its PreferNoSchedule taints make it a worse home, one point per
// untolerated taint, reversed by normalization so the fewest taints scores 100 (Score).

import { ClusterEvent, type FilterPlugin, type PreScorePlugin, type ScorePlugin } from '../framework/interfaces.js';
import { stateKey, type CycleState } from '../framework/cycle-state.js';
import type { NodeInfo } from '../framework/node-info.js';
import { SKIP, SUCCESS, unresolvable, type Status } from '../framework/status.js';
import type { Pod, Taint, Toleration } from '../../proto/api/types.js';
import { defaultNormalizeScore } from './resource-scoring.js';

export const TAINT_TOLERATION = 'TaintToleration';

export function untoleratedTaintReason(taint: Taint): string {
  return `node(s) had untolerated taint {${taint.key}: ${taint.value ?? ''}}`;
}

/** Kubernetes' Toleration.ToleratesTaint. An empty key with Exists tolerates every taint. */
export function toleratesTaint(t: Toleration, taint: Taint): boolean {
  if (t.effect !== undefined && (t.effect as string) !== '' && t.effect !== taint.effect) return false;
  if (t.key !== undefined && t.key !== '' && t.key !== taint.key) return false;
  switch (t.operator ?? 'Equal') {
    case 'Exists':
      return true;
    case 'Equal':
      return (t.value ?? '') === (taint.value ?? '');
    default:
      return false;
  }
}

/** The first NoSchedule/NoExecute taint no toleration covers, or undefined. */
export function firstUntoleratedTaint(taints: readonly Taint[], tolerations: readonly Toleration[]): Taint | undefined {
  for (const taint of taints) {
    if (taint.effect !== 'NoSchedule' && taint.effect !== 'NoExecute') continue;
    if (!tolerations.some((t) => toleratesTaint(t, taint))) return taint;
  }
  return undefined;
}

const preferKey = stateKey<readonly Toleration[]>('TaintToleration/preferNoSchedule');

export class TaintToleration implements FilterPlugin, PreScorePlugin, ScorePlugin {
  readonly name = TAINT_TOLERATION;
  /** Rejections by taint text, so repeated taints share one Status. */
  private readonly rejections = new Map<string, Status>();

  static create(): TaintToleration {
    return new TaintToleration();
  }

  eventsToRegister(): readonly ClusterEvent[] {
    return [ClusterEvent.NodeAdded, ClusterEvent.NodeTaintsChanged];
  }

  filter(_state: CycleState, pod: Pod, node: NodeInfo): Status {
    if (node.taints.length === 0) return SUCCESS;
    const taint = firstUntoleratedTaint(node.taints, pod.spec?.tolerations ?? []);
    if (taint === undefined) return SUCCESS;
    const reason = untoleratedTaintReason(taint);
    let s = this.rejections.get(reason);
    if (s === undefined) {
      s = { ...unresolvable(reason), plugin: TAINT_TOLERATION };
      if (this.rejections.size < 1_024) this.rejections.set(reason, s);
    }
    return s;
  }

  preScore(state: CycleState, pod: Pod, nodes: readonly NodeInfo[]): Status {
    if (!nodes.some((n) => n.taints.length > 0)) return SKIP;
    const tolerations = (pod.spec?.tolerations ?? []).filter((t) => t.effect === undefined || (t.effect as string) === '' || t.effect === 'PreferNoSchedule');
    state.write(preferKey, tolerations);
    return SUCCESS;
  }

  scoreNodes(state: CycleState, _pod: Pod, nodes: readonly NodeInfo[], count: number, out: Float64Array): Status {
    const tolerations = state.read(preferKey) ?? [];
    for (let i = 0; i < count; i++) {
      const node = nodes[i] as NodeInfo;
      out[i] = node.taints.length === 0 ? 0 : intolerablePreferNoSchedule(node, tolerations);
    }
    return SUCCESS;
  }

  score(state: CycleState, _pod: Pod, node: NodeInfo): number {
    return intolerablePreferNoSchedule(node, state.read(preferKey) ?? []);
  }

  normalizeScore(_state: CycleState, _pod: Pod, scores: Float64Array, count: number): Status {
    defaultNormalizeScore(scores, count, true);
    return SUCCESS;
  }
}

/** The node's PreferNoSchedule taints that none of `tolerations` covers. */
function intolerablePreferNoSchedule(node: NodeInfo, tolerations: readonly Toleration[]): number {
  let count = 0;
  for (const taint of node.taints) {
    if (taint.effect === 'PreferNoSchedule' && !tolerations.some((t) => toleratesTaint(t, taint))) count++;
  }
  return count;
}
