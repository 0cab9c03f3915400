// The scheduling loop. One cycle, synchronous, per pod (kube-scheduler's scheduleOne):
//
//   pop → refresh the snapshot (only changed NodeInfos) → PreFilter → Filter nodes from a rotating
//   start until numFeasibleNodesToFind fit → PreScore/Score/NormalizeScore → the best node (ties
//   by reservoir sampling) → assume in the cache → Reserve → Permit → hand to the bind batcher.
//
// Binding runs asynchronously in batches; the next cycle already sees the assumed pod's resources.
// A bind failure unreserves, forgets the assumed pod and requeues it with backoff. A pod that fits
// nowhere is parked in the queue until a cluster event could help, and reported (condition and
// Event, rate-limited by the FailureReporter).
//
// Only pods whose spec.schedulerName is this profile's and that have no nodeName are scheduled.
// stop() ends scheduling at once (the elector calls it on losing the lease): no cycle starts and no
// further bind is sent after it returns; a batch already sent cannot be recalled.

import type { Node, Pod } from '../proto/api/types.js';
import type { ObjectHandlers, SchedulerApi, Subscription } from './api.js';
import { BindBatcher, type BindBatcherOptions } from './bind-batcher.js';
import { SchedulerCache } from './cache.js';
import { CycleState } from './framework/cycle-state.js';
import { ClusterEvent, type BindRequest } from './framework/interfaces.js';
import { nodeAllocatable, podKey, type NodeInfo } from './framework/node-info.js';
import { podResourcesOrZero } from './framework/pod-resources.js';
import { DEFAULT_SCHEDULER_NAME } from './framework/profile.js';
import type { Framework } from './framework/runtime.js';
import { Code, SUCCESS, isRejection, type Status } from './framework/status.js';
import { FailureReporter, REASON_SCHEDULER_ERROR, REASON_UNSCHEDULABLE } from './failure-reporter.js';
import { Diagnosis, fitErrorMessage } from './fit-error.js';
import { SchedulingQueue, type QueuedPodInfo, type QueueOptions } from './queue.js';
import { Snapshot } from './snapshot.js';

/** Kubernetes: below this many nodes, all are checked; the adaptive share never finds fewer. */
export const MIN_FEASIBLE_NODES_TO_FIND = 100;
export const MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND = 5;
/** The adaptive share starts here and loses 1% per 125 nodes. */
export const BASE_PERCENTAGE_OF_NODES_TO_SCORE = 50;
/** Cycles run back to back before yielding to the event loop (watch events, bind results). */
export const CYCLES_PER_TURN = 256;
/** Bound on the create→bind latency samples kept. */
export const MAX_LATENCY_SAMPLES = 1_000_000;

/** Kubernetes' numFeasibleNodesToFind: how many feasible nodes are enough to pick from. */
export function numFeasibleNodesToFind(numAllNodes: number, percentageOfNodesToScore: number): number {
  if (numAllNodes < MIN_FEASIBLE_NODES_TO_FIND || percentageOfNodesToScore >= 100) return numAllNodes;
  let percentage = percentageOfNodesToScore;
  if (percentage <= 0) {
    percentage = BASE_PERCENTAGE_OF_NODES_TO_SCORE - Math.floor(numAllNodes / 125);
    if (percentage < MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND) percentage = MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND;
  }
  const n = Math.floor((numAllNodes * percentage) / 100);
  return n < MIN_FEASIBLE_NODES_TO_FIND ? MIN_FEASIBLE_NODES_TO_FIND : n;
}

export interface SchedulerOptions {
  readonly api: SchedulerApi;
  readonly framework: Framework;
  /** Names this instance in Events (reportingInstance). */
  readonly identity?: string;
  readonly now?: () => number;
  /** In [0, 1); breaks ties between equally scored nodes. */
  readonly random?: () => number;
  readonly bind?: BindBatcherOptions;
  readonly queue?: Omit<QueueOptions, 'now' | 'isInterested'>;
  readonly logger?: { warn(msg: string, fields?: Record<string, unknown>): void };
  /**
   * Checked before each turn of cycles and before each bind batch leaves: false stops the
   * scheduler (LeaderElector.holdsLease — a leader that was paused must not act on a lost lease).
   */
  readonly fence?: () => boolean;
}

export interface SchedulerStats {
  attempts: number;
  /** Decisions made (assumed and sent to binding). */
  scheduled: number;
  bound: number;
  bindFailures: number;
  unschedulable: number;
  errors: number;
  /** Nodes run through the filters, over all cycles. */
  nodesFiltered: number;
  /** bulkBind batches handed to the bind plugins. */
  bindBatches: number;
}

interface PendingBind extends BindRequest {
  readonly queued: QueuedPodInfo;
  readonly cycle: number;
}

export interface CycleResult {
  readonly status: Status;
  readonly nodeName?: string;
  readonly message?: string;
}

function isAssigned(pod: Pod): boolean {
  return (pod.spec?.nodeName ?? '') !== '';
}

function isTerminal(pod: Pod): boolean {
  const phase = pod.status?.phase;
  return phase === 'Succeeded' || phase === 'Failed';
}

function labelsEqual(a: Readonly<Record<string, string>> | undefined, b: Readonly<Record<string, string>> | undefined): boolean {
  const ea = Object.entries(a ?? {});
  if (ea.length !== Object.keys(b ?? {}).length) return false;
  return ea.every(([k, v]) => b?.[k] === v);
}

export class Scheduler {
  readonly cache: SchedulerCache;
  readonly queue: SchedulingQueue;
  readonly snapshot = new Snapshot();
  readonly reporter: FailureReporter;
  readonly stats: SchedulerStats = { attempts: 0, scheduled: 0, bound: 0, bindFailures: 0, unschedulable: 0, errors: 0, nodesFiltered: 0, bindBatches: 0 };
  /** create (first seen by the queue) → bind success, in ms. */
  readonly bindLatenciesMs: number[] = [];
  private readonly binder: BindBatcher<PendingBind>;
  private readonly framework: Framework;
  private readonly api: SchedulerApi;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly schedulerName: string;
  private subscriptions: Subscription[] = [];
  private nextStartNodeIndex = 0;
  private feasible: NodeInfo[] = [];
  private totals = new Float64Array(0);
  private stopped = false;
  private started = false;
  private loopDone: Promise<void> | undefined;
  private readonly idleWaiters: (() => void)[] = [];

  constructor(private readonly opts: SchedulerOptions) {
    this.api = opts.api;
    this.framework = opts.framework;
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
    this.schedulerName = opts.framework.schedulerName || DEFAULT_SCHEDULER_NAME;
    this.cache = new SchedulerCache({ now: this.now });
    this.queue = new SchedulingQueue({ ...(opts.queue ?? {}), now: this.now, isInterested: (plugin, event) => this.framework.isInterested(plugin, event) });
    this.reporter = new FailureReporter(this.api, { now: this.now, component: this.schedulerName, ...(opts.identity !== undefined ? { instance: opts.identity } : {}), ...(opts.logger !== undefined ? { logger: opts.logger } : {}) });
    this.binder = new BindBatcher<PendingBind>((batch) => this.bindBatch(batch), opts.bind ?? {});
  }

  get isRunning(): boolean {
    return this.started && !this.stopped;
  }

  /** Subscribes to nodes and pods, waits for both lists, then schedules until stop(). */
  async start(): Promise<void> {
    if (this.started) throw new Error('scheduler: start() called twice');
    this.started = true;
    const nodes = this.api.watchNodes(this.nodeHandlers());
    this.subscriptions.push(nodes);
    await nodes.synced;
    if (this.stopped) return;
    const pods = this.api.watchPods(this.podHandlers());
    this.subscriptions.push(pods);
    await pods.synced;
    if (this.stopped) return;
    this.queue.start();
    this.reporter.start();
    this.loopDone = this.loop();
  }

  /** Stops at once: no new cycle, no unsent bind leaves. Resolves when the loop has exited. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const s of this.subscriptions.splice(0)) s.stop();
    this.binder.stop();
    this.queue.close();
    this.reporter.stop();
    for (const w of this.idleWaiters.splice(0)) w();
    await this.loopDone;
  }

  /** Resolves when nothing is in activeQ, in flight, or waiting to bind (for tests and benches). */
  async whenIdle(): Promise<void> {
    for (;;) {
      if (this.stopped) return;
      const l = this.queue.lengths;
      if (l.active === 0 && l.inFlight === 0 && this.binder.pendingCount === 0) {
        await this.binder.waitForIdle();
        const again = this.queue.lengths;
        if (again.active === 0 && again.inFlight === 0 && this.binder.pendingCount === 0) return;
      }
      await new Promise<void>((r) => this.idleWaiters.push(r));
    }
  }

  private notifyIdleWaiters(): void {
    for (const w of this.idleWaiters.splice(0)) w();
  }

  /** False (and stopping) once the fence says this scheduler may no longer act. */
  private fenced(): boolean {
    if (this.opts.fence === undefined || this.opts.fence()) return false;
    void this.stop();
    return true;
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      if (this.fenced()) break;
      let ran = 0;
      while (ran < CYCLES_PER_TURN && !this.stopped && this.binder.hasRoom) {
        const p = this.queue.pop();
        if (p === undefined) break;
        this.scheduleOne(p);
        ran++;
      }
      if (this.stopped) break;
      this.notifyIdleWaiters();
      if (!this.binder.hasRoom) await this.binder.waitForRoom();
      else if (ran === 0) await this.queue.waitForPod();
      else await new Promise<void>((r) => setImmediate(r));
    }
  }

  // ---- one cycle ----

  /** Schedules one popped pod synchronously; binding is left to the batcher. */
  scheduleOne(p: QueuedPodInfo): CycleResult {
    const pod = p.pod;
    const cycle = this.queue.schedulingCycle;
    this.stats.attempts++;
    if (this.skipPod(pod)) {
      this.queue.done(p.key);
      return { status: { code: Code.Skip, reasons: ['not this scheduler\'s pod, already bound, or being deleted'] } };
    }
    this.cache.updateSnapshot(this.snapshot);
    const state = new CycleState();
    const result = this.schedulePod(state, pod);
    if (result.nodeName === undefined) {
      this.handleFailure(p, cycle, result);
      return result;
    }
    const nodeName = result.nodeName;
    const assumed: Pod = { ...pod, spec: { containers: [], ...pod.spec, nodeName } };
    this.cache.assumePod(assumed);
    const reserve = this.framework.runReserve(state, assumed, nodeName);
    if (reserve.code !== Code.Success) {
      this.cache.forgetPod(p.key);
      this.handleFailure(p, cycle, { status: reserve, message: reserve.reasons.join(', ') });
      return { status: reserve };
    }
    const permit = this.framework.runPermit(state, assumed, nodeName);
    if (permit.code !== Code.Success) {
      this.framework.runUnreserve(state, assumed, nodeName);
      this.cache.forgetPod(p.key);
      this.handleFailure(p, cycle, { status: permit, message: permit.reasons.join(', ') });
      return { status: permit };
    }
    this.stats.scheduled++;
    this.binder.add({ pod: assumed, nodeName, state, queued: p, cycle });
    return result;
  }

  private skipPod(pod: Pod): boolean {
    return isAssigned(pod) || pod.metadata.deletionTimestamp !== undefined || (pod.spec?.schedulerName ?? DEFAULT_SCHEDULER_NAME) !== this.schedulerName || this.cache.isAssumed(podKey(pod));
  }

  /** The decision for one pod over the current snapshot: a node, or why none. */
  schedulePod(state: CycleState, pod: Pod): CycleResult & { diagnosis?: Diagnosis } {
    const snapshot = this.snapshot;
    const numNodes = snapshot.numNodes;
    const diagnosis = new Diagnosis();
    if (numNodes === 0) return { status: { code: Code.Unschedulable, reasons: [] }, message: fitErrorMessage(0, diagnosis), diagnosis };

    const pre = this.framework.runPreFilter(state, pod, snapshot);
    if (pre.code !== Code.Success) {
      if (pre.code === Code.Error) return { status: pre, message: `running PreFilter plugin ${pre.plugin ?? ''}: ${pre.reasons.join(', ')}` };
      diagnosis.preFilterMessage = pre.reasons.join(', ');
      diagnosis.rejectedBy.add(pre.plugin ?? '');
      return { status: pre, message: fitErrorMessage(numNodes, diagnosis), diagnosis };
    }

    const count = this.findNodesThatFit(state, pod, diagnosis);
    if (count < 0) return { status: { code: Code.Error, reasons: [...diagnosis.reasons.keys()] }, message: [...diagnosis.reasons.keys()].join(', ') };
    if (count === 0) {
      if (this.framework.postFilterPlugins.length > 0) this.framework.runPostFilter(state, pod, new Map());
      return { status: { code: Code.Unschedulable, reasons: [...diagnosis.reasons.keys()] }, message: fitErrorMessage(numNodes, diagnosis), diagnosis };
    }
    const feasible = this.feasible;
    if (count === 1) return { status: { code: Code.Success, reasons: [] }, nodeName: feasible[0]?.name ?? '' };

    const nodes = count === feasible.length ? feasible : feasible.slice(0, count);
    const preScore = this.framework.runPreScore(state, pod, nodes);
    if (preScore.code !== Code.Success) return { status: preScore, message: `running PreScore plugin ${preScore.plugin ?? ''}: ${preScore.reasons.join(', ')}` };
    if (this.totals.length < count) this.totals = new Float64Array(Math.max(count, this.totals.length * 2));
    const totals = this.totals;
    const score = this.framework.runScore(state, pod, nodes, count, totals);
    if (score.code !== Code.Success) return { status: score, message: `running Score plugin ${score.plugin ?? ''}: ${score.reasons.join(', ')}` };
    return { status: { code: Code.Success, reasons: [] }, nodeName: this.selectHost(nodes, totals, count) };
  }

  /**
   * Fills this.feasible[0..n) with nodes that pass every filter, scanning from the rotating start
   * index and stopping once numFeasibleNodesToFind fit. Returns n, or −1 when a filter errored.
   */
  private findNodesThatFit(state: CycleState, pod: Pod, diagnosis: Diagnosis): number {
    const nodes = this.snapshot.nodeInfos();
    const numNodes = nodes.length;
    const wanted = numFeasibleNodesToFind(numNodes, this.framework.percentageOfNodesToScore);
    if (this.feasible.length < wanted) this.feasible = new Array<NodeInfo>(wanted);
    const feasible = this.feasible;
    let count = 0;
    let processed = 0;
    const start = this.nextStartNodeIndex % numNodes;
    const filters = this.framework.activeFilters(state);
    for (let i = 0; i < numNodes && count < wanted; i++) {
      let index = start + i;
      if (index >= numNodes) index -= numNodes;
      const node = nodes[index];
      if (node === undefined) continue;
      processed++;
      const s = this.framework.runFilter(state, pod, node, filters);
      if (s === SUCCESS || s.code === Code.Success) {
        feasible[count++] = node;
      } else if (s.code === Code.Error) {
        diagnosis.reasons.clear();
        diagnosis.addRejection(s.plugin, [`running Filter plugin ${s.plugin ?? ''} on node ${node.name}: ${s.reasons.join(', ')}`]);
        return -1;
      } else {
        diagnosis.addRejection(s.plugin, s.reasons);
      }
    }
    this.nextStartNodeIndex = (start + processed) % numNodes;
    this.stats.nodesFiltered += processed;
    return count;
  }

  /** The highest total; among equals each is chosen with equal probability (reservoir sampling). */
  private selectHost(nodes: readonly NodeInfo[], totals: Float64Array, count: number): string {
    let best = 0;
    let bestScore = totals[0] ?? 0;
    let ties = 1;
    for (let i = 1; i < count; i++) {
      const s = totals[i] ?? 0;
      if (s > bestScore) {
        bestScore = s;
        best = i;
        ties = 1;
      } else if (s === bestScore) {
        ties++;
        if (Math.floor(this.random() * ties) === 0) best = i;
      }
    }
    return nodes[best]?.name ?? '';
  }

  private handleFailure(p: QueuedPodInfo, cycle: number, result: CycleResult & { diagnosis?: Diagnosis }): void {
    const status = result.status;
    const message = result.message ?? status.reasons.join(', ');
    if (isRejection(status)) {
      this.stats.unschedulable++;
      const rejectedBy = result.diagnosis?.rejectedBy ?? new Set(status.plugin !== undefined ? [status.plugin] : []);
      this.queue.requeue(p, cycle, rejectedBy);
      this.reporter.report(p.pod, message, REASON_UNSCHEDULABLE);
    } else {
      this.stats.errors++;
      this.queue.requeue(p, cycle, undefined);
      this.reporter.report(p.pod, message, REASON_SCHEDULER_ERROR);
    }
  }

  // ---- binding ----

  private async bindBatch(batch: PendingBind[]): Promise<void> {
    if (this.stopped || this.fenced()) return;
    this.stats.bindBatches++;
    const statuses = await this.framework.runBind(batch);
    for (let i = 0; i < batch.length; i++) {
      const req = batch[i];
      if (req === undefined) continue;
      this.onBindResult(req, statuses[i] ?? { code: Code.Error, reasons: ['no bind result'] });
    }
    this.notifyIdleWaiters();
  }

  private onBindResult(req: PendingBind, status: Status): void {
    const key = req.queued.key;
    if (status.code === Code.Success) {
      this.stats.bound++;
      this.cache.finishBinding(key);
      this.queue.done(key);
      this.reporter.forget(key);
      if (this.bindLatenciesMs.length < MAX_LATENCY_SAMPLES) this.bindLatenciesMs.push(this.now() - req.queued.initialTimestamp);
      return;
    }
    this.stats.bindFailures++;
    // The watch may already have told us the pod is bound (by another scheduler): then it is not
    // assumed any more and nothing is undone; otherwise undo the decision and retry with backoff.
    if (this.cache.isAssumed(key) && this.cache.nodeOf(key) === req.nodeName) {
      this.framework.runUnreserve(req.state, req.pod, req.nodeName);
      this.cache.forgetPod(key);
    }
    if (this.stopped) return;
    this.queue.requeue(req.queued, req.cycle, undefined);
    this.opts.logger?.warn('binding failed; retrying with backoff', { pod: key, node: req.nodeName, error: status.reasons.join(', ') });
  }

  // ---- cluster events ----

  private responsible(pod: Pod): boolean {
    return (pod.spec?.schedulerName ?? DEFAULT_SCHEDULER_NAME) === this.schedulerName && pod.metadata.deletionTimestamp === undefined && !isTerminal(pod);
  }

  private podHandlers(): ObjectHandlers<Pod> {
    return {
      onAdd: (pod) => {
        if (isAssigned(pod)) {
          if (isTerminal(pod)) return;
          this.cache.addPod(pod);
          this.queue.delete(pod);
          this.reporter.forget(podKey(pod));
        } else if (this.responsible(pod)) {
          this.queue.add(pod);
        }
      },
      onUpdate: (oldPod, pod) => {
        const key = podKey(pod);
        if (isAssigned(pod)) {
          if (isTerminal(pod)) {
            // A finished pod holds no resources.
            this.cache.removePod(pod);
            this.queue.moveAllToActiveOrBackoff(ClusterEvent.AssignedPodDeleted);
            return;
          }
          // A bound pod's status churn (Running, Ready, ...) changes nothing the cache holds.
          if (isAssigned(oldPod) && this.cache.nodeOf(key) === pod.spec?.nodeName && sameSchedulingFootprint(oldPod, pod)) return;
          this.cache.addPod(pod);
          if (!isAssigned(oldPod)) {
            this.queue.delete(pod);
            this.reporter.forget(key);
          } else if (!labelsEqual(oldPod.metadata.labels, pod.metadata.labels)) {
            this.queue.moveAllToActiveOrBackoff(ClusterEvent.AssignedPodLabelsChanged);
          }
          return;
        }
        if (this.cache.isAssumed(key)) return; // our own decision, not yet visible in the watch
        if (this.responsible(pod)) this.queue.update(pod);
        else this.queue.delete(pod);
      },
      onDelete: (pod) => {
        const wasInCache = this.cache.nodeOf(podKey(pod)) !== undefined;
        this.cache.removePod(pod);
        this.queue.delete(pod);
        this.reporter.forget(podKey(pod));
        if (wasInCache) this.queue.moveAllToActiveOrBackoff(ClusterEvent.AssignedPodDeleted);
      },
    };
  }

  private nodeHandlers(): ObjectHandlers<Node> {
    return {
      onAdd: (node) => {
        this.cache.addNode(node);
        this.queue.moveAllToActiveOrBackoff(ClusterEvent.NodeAdded);
      },
      onUpdate: (oldNode, node) => {
        this.cache.updateNode(node);
        for (const event of nodeUpdateEvents(oldNode, node)) this.queue.moveAllToActiveOrBackoff(event);
      },
      onDelete: (node) => {
        this.cache.removeNode(node.metadata.name ?? '');
      },
    };
  }
}

/** Same node, labels and requests: an update the cache need not see (pod specs are immutable otherwise). */
function sameSchedulingFootprint(a: Pod, b: Pod): boolean {
  if (a.spec?.nodeName !== b.spec?.nodeName || !labelsEqual(a.metadata.labels, b.metadata.labels)) return false;
  const ra = podResourcesOrZero(a);
  const rb = podResourcesOrZero(b);
  return ra.cpuMillis === rb.cpuMillis && ra.memoryBytes === rb.memoryBytes && ra.nonZeroCpuMillis === rb.nonZeroCpuMillis && ra.nonZeroMemoryBytes === rb.nonZeroMemoryBytes;
}

/** The changes in a node update that could make a pending pod fit. */
export function nodeUpdateEvents(oldNode: Node, node: Node): ClusterEvent[] {
  const events: ClusterEvent[] = [];
  const a = nodeAllocatable(oldNode);
  const b = nodeAllocatable(node);
  if (b.cpuMillis > a.cpuMillis || b.memoryBytes > a.memoryBytes || b.pods > a.pods) events.push(ClusterEvent.NodeAllocatableIncreased);
  if (!labelsEqual(oldNode.metadata.labels, node.metadata.labels)) events.push(ClusterEvent.NodeLabelsChanged);
  // Only a taint that went away (or changed) can let a pod in; a new taint cannot.
  const newTaints = new Set((node.spec?.taints ?? []).map((t) => `${t.key}=${t.value ?? ''}:${t.effect}`));
  if ((oldNode.spec?.taints ?? []).some((t) => !newTaints.has(`${t.key}=${t.value ?? ''}:${t.effect}`))) events.push(ClusterEvent.NodeTaintsChanged);
  if (oldNode.spec?.unschedulable === true && node.spec?.unschedulable !== true) events.push(ClusterEvent.NodeBecameSchedulable);
  return events;
}
