// The extension points, as kube-scheduler names them. A plugin is an object with a `name` and the
// methods of the points it takes part in; each method returns a Status (or a score) and throws
// only for a bug. The runtime (runtime.ts) calls them in this order for one pod:
//
//   PreFilter (once) → Filter (per node, until enough feasible nodes) → PostFilter (no node fit)
//   → PreScore (once) → Score (per feasible node) → NormalizeScore (once per plugin) → weights
//   → assume in the cache → Reserve → Permit → Bind (asynchronously, batched) — and on any failure
//   after Reserve, Unreserve in reverse order.

import type { Pod } from '../../proto/api/types.js';
import type { CycleState } from './cycle-state.js';
import type { NodeInfo } from './node-info.js';
import type { Status } from './status.js';

/** What a cycle may look at besides the node being filtered: the whole snapshot, read-only. */
export interface SnapshotView {
  readonly numNodes: number;
  nodeInfos(): readonly NodeInfo[];
  get(nodeName: string): NodeInfo | undefined;
  /** Nodes holding at least one pod with required anti-affinity (for the symmetric check). */
  nodesWithRequiredAntiAffinityPods(): readonly NodeInfo[];
}

/** Cluster changes that can make an unschedulable pod fit; plugins name those that matter to them. */
export const ClusterEvent = {
  NodeAdded: 'NodeAdded',
  NodeAllocatableIncreased: 'NodeAllocatableIncreased',
  NodeLabelsChanged: 'NodeLabelsChanged',
  NodeTaintsChanged: 'NodeTaintsChanged',
  NodeBecameSchedulable: 'NodeBecameSchedulable',
  AssignedPodDeleted: 'AssignedPodDeleted',
  AssignedPodLabelsChanged: 'AssignedPodLabelsChanged',
} as const;
export type ClusterEvent = (typeof ClusterEvent)[keyof typeof ClusterEvent];

export const ALL_CLUSTER_EVENTS: readonly ClusterEvent[] = Object.values(ClusterEvent);

export interface Plugin {
  readonly name: string;
  /**
   * The pod fields (JSON paths, such as metadata.annotations) this plugin reads beyond
   * SCHEDULER_POD_FIELDS. The scheduler keeps only those fields of each pod; a custom plugin that
   * does not say gets whole pods (built-in plugins read only SCHEDULER_POD_FIELDS).
   */
  readonly podFields?: readonly string[];
  /** The events after which a pod this plugin rejected is worth retrying; absent: all of them. */
  eventsToRegister?(): readonly ClusterEvent[];
}

export interface PreFilterPlugin extends Plugin {
  /** Skip: this plugin's Filter is not run for this pod. A rejection fails the pod on every node. */
  preFilter(state: CycleState, pod: Pod, snapshot: SnapshotView): Status;
}

export interface FilterPlugin extends Plugin {
  /** A pure function of (cycle state, pod, node): Success, or a rejection with its reasons. */
  filter(state: CycleState, pod: Pod, node: NodeInfo): Status;
}

export interface PostFilterPlugin extends Plugin {
  /** Runs when no node fit (Kubernetes' preemption lives here). Success with a nominated node, or not. */
  postFilter(state: CycleState, pod: Pod, rejections: ReadonlyMap<string, Status>): { status: Status; nominatedNodeName?: string };
}

export interface PreScorePlugin extends Plugin {
  /** Skip: this plugin's Score is not run for this pod. */
  preScore(state: CycleState, pod: Pod, nodes: readonly NodeInfo[]): Status;
}

/** Scores are integers in [MIN_NODE_SCORE, MAX_NODE_SCORE] after normalization. */
export const MIN_NODE_SCORE = 0;
export const MAX_NODE_SCORE = 100;

export interface ScorePlugin extends Plugin {
  /** The node's score, or a Status when it cannot be computed (an Error fails the cycle). */
  score(state: CycleState, pod: Pod, node: NodeInfo): number | Status;
  /**
   * Optional, for speed: the same as out[i] = score(state, pod, nodes[i]) for i < count, in one
   * call (a tight loop inside the plugin instead of one call per node from the runtime).
   */
  scoreNodes?(state: CycleState, pod: Pod, nodes: readonly NodeInfo[], count: number, out: Float64Array): Status;
  /** Rescales `scores` (parallel to the feasible nodes) in place into 0..100. */
  normalizeScore?(state: CycleState, pod: Pod, scores: Float64Array, count: number): Status;
}

export interface ReservePlugin extends Plugin {
  reserve(state: CycleState, pod: Pod, nodeName: string): Status;
  /** Undoes reserve; must not fail, and must be safe after a reserve that failed. */
  unreserve(state: CycleState, pod: Pod, nodeName: string): void;
}

export interface PermitPlugin extends Plugin {
  /** Success lets the pod go to binding; a rejection sends it back to the queue with backoff. */
  permit(state: CycleState, pod: Pod, nodeName: string): Status;
}

export interface BindRequest {
  readonly pod: Pod;
  readonly nodeName: string;
  readonly state: CycleState;
}

export interface BindPlugin extends Plugin {
  /**
   * Binds a batch; one Status per request, in order. Skip hands a request to the next bind plugin.
   * Batched by design: the scheduler collects decisions and binds them in bulk.
   */
  bind(requests: readonly BindRequest[]): Promise<readonly Status[]>;
}

export type ExtensionPoint = 'preFilter' | 'filter' | 'postFilter' | 'preScore' | 'score' | 'reserve' | 'permit' | 'bind';

export const EXTENSION_POINTS: readonly ExtensionPoint[] = ['preFilter', 'filter', 'postFilter', 'preScore', 'score', 'reserve', 'permit', 'bind'];

/** The method(s) that make a plugin part of each point. */
export const POINT_METHODS: Readonly<Record<ExtensionPoint, readonly string[]>> = {
  preFilter: ['preFilter'],
  filter: ['filter'],
  postFilter: ['postFilter'],
  preScore: ['preScore'],
  score: ['score'],
  reserve: ['reserve', 'unreserve'],
  permit: ['permit'],
  bind: ['bind'],
};

function hasMethods(p: Plugin, names: readonly string[]): boolean {
  const record = p as unknown as Record<string, unknown>;
  return names.every((n) => typeof record[n] === 'function');
}

export function implementsPoint(p: Plugin, point: ExtensionPoint): boolean {
  return hasMethods(p, POINT_METHODS[point]);
}

export const isPreFilter = (p: Plugin): p is PreFilterPlugin => implementsPoint(p, 'preFilter');
export const isFilter = (p: Plugin): p is FilterPlugin => implementsPoint(p, 'filter');
export const isPostFilter = (p: Plugin): p is PostFilterPlugin => implementsPoint(p, 'postFilter');
export const isPreScore = (p: Plugin): p is PreScorePlugin => implementsPoint(p, 'preScore');
export const isScore = (p: Plugin): p is ScorePlugin => implementsPoint(p, 'score');
export const isReserve = (p: Plugin): p is ReservePlugin => implementsPoint(p, 'reserve');
export const isPermit = (p: Plugin): p is PermitPlugin => implementsPoint(p, 'permit');
export const isBind = (p: Plugin): p is BindPlugin => implementsPoint(p, 'bind');

/** What a plugin factory is given: its args from the profile, and the API for binders. */
export interface PluginContext {
  readonly args: Readonly<Record<string, unknown>>;
  readonly binder?: PodBinder;
}

/** The bulk bind call the DefaultBinder makes (SchedulerApi satisfies it). */
export interface PodBinder {
  bulkBind(bindings: readonly PodBinding[]): Promise<readonly BindOutcome[]>;
}

export interface PodBinding {
  readonly namespace: string;
  readonly name: string;
  readonly uid?: string;
  readonly nodeName: string;
}

export type BindOutcome =
  | { readonly ok: true }
  /** `reason` is Kubernetes': 'Conflict' (already bound, or being deleted), 'NotFound', ... */
  | { readonly ok: false; readonly reason: string; readonly message: string };

export type PluginFactory = (context: PluginContext) => Plugin;
