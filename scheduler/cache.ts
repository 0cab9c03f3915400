// The scheduler's view of the cluster: every node with the pods on it — bound pods from the watch,
// and assumed pods the scheduler has decided on but whose binding is not yet confirmed. Assuming
// makes the next cycle see the node's resources as taken at once, so the scheduler never waits for
// a bind to round-trip before placing the next pod (kube-scheduler's cache).
//
// Life of a pod here:  assumePod → finishBinding (bind call succeeded) → addPod from the watch
// (confirmed: no longer assumed) → removePod.  On bind failure: forgetPod.
//
// Invariants: a pod key is on at most one node; each change to a NodeInfo gives it
// generation = ++this.generation and moves it to the head of `recent`, so `recent` is ordered by
// generation, newest first — the snapshot walks it only as far as its own generation.

import type { Node, Pod } from '../proto/api/types.js';
import { NodeInfo, newPodInfo, podKey, type PodInfo } from './framework/node-info.js';
import type { Snapshot } from './snapshot.js';

export class CacheError extends Error {
  override readonly name = 'CacheError';
  constructor(readonly pod: string, reason: string) {
    super(`pod ${pod}: ${reason}`);
  }
}

interface NodeItem {
  readonly info: NodeInfo;
  /** False for a node the API deleted (or never announced) while pods still point at it. */
  exists: boolean;
  newer: NodeItem | undefined;
  older: NodeItem | undefined;
}

interface PodState {
  info: PodInfo;
  nodeName: string;
  assumed: boolean;
  bindingFinished: boolean;
  /** When an assumed pod whose binding finished but never showed up in the watch is dropped. */
  deadline: number | undefined;
}

export interface CacheOptions {
  readonly now?: () => number;
  /**
   * How long after a successful bind an assumed pod may wait for the watch to confirm it before the
   * cache drops it; 0 (Kubernetes' default) keeps it until the watch delivers it.
   */
  readonly assumedPodTtlMs?: number;
}

function placeholderNode(name: string): Node {
  return { apiVersion: 'v1', kind: 'Node', metadata: { name } };
}

export class SchedulerCache {
  private readonly nodes = new Map<string, NodeItem>();
  private readonly podStates = new Map<string, PodState>();
  private recent: NodeItem | undefined;
  private generation = 0;
  /** Bumped when the set of existing nodes changes, so the snapshot rebuilds its list. */
  nodeSetVersion = 0;
  private readonly now: () => number;
  private readonly assumedPodTtlMs: number;
  private assumedCount = 0;

  constructor(opts: CacheOptions = {}) {
    this.now = opts.now ?? Date.now;
    this.assumedPodTtlMs = opts.assumedPodTtlMs ?? 0;
  }

  get nodeCount(): number {
    let n = 0;
    for (const item of this.nodes.values()) if (item.exists) n++;
    return n;
  }

  get podCount(): number {
    return this.podStates.size;
  }

  get assumedPodCount(): number {
    return this.assumedCount;
  }

  /** Existing nodes' names, in the order nodes were first added (the snapshot's list order). */
  *existingNodeNames(): IterableIterator<string> {
    for (const [name, item] of this.nodes) if (item.exists) yield name;
  }

  nodeInfo(name: string): NodeInfo | undefined {
    const item = this.nodes.get(name);
    return item?.exists === true ? item.info : undefined;
  }

  isAssumed(key: string): boolean {
    return this.podStates.get(key)?.assumed === true;
  }

  /** The node a pod is on (bound or assumed), if the cache knows the pod. */
  nodeOf(key: string): string | undefined {
    return this.podStates.get(key)?.nodeName;
  }

  private touch(item: NodeItem): void {
    item.info.generation = ++this.generation;
    if (this.recent === item) return;
    // unlink
    if (item.newer !== undefined) item.newer.older = item.older;
    if (item.older !== undefined) item.older.newer = item.newer;
    // push to the head
    item.newer = undefined;
    item.older = this.recent;
    if (this.recent !== undefined) this.recent.newer = item;
    this.recent = item;
  }

  private unlink(item: NodeItem): void {
    if (item.newer !== undefined) item.newer.older = item.older;
    if (item.older !== undefined) item.older.newer = item.newer;
    if (this.recent === item) this.recent = item.older;
    item.newer = item.older = undefined;
  }

  private itemFor(nodeName: string): NodeItem {
    let item = this.nodes.get(nodeName);
    if (item === undefined) {
      item = { info: new NodeInfo(placeholderNode(nodeName)), exists: false, newer: undefined, older: undefined };
      this.nodes.set(nodeName, item);
    }
    return item;
  }

  addNode(node: Node): void {
    const name = node.metadata.name ?? '';
    const item = this.itemFor(name);
    item.info.setNode(node);
    if (!item.exists) {
      item.exists = true;
      this.nodeSetVersion++;
    }
    this.touch(item);
  }

  updateNode(node: Node): void {
    this.addNode(node);
  }

  removeNode(name: string): void {
    const item = this.nodes.get(name);
    if (item === undefined) return;
    if (item.exists) this.nodeSetVersion++;
    item.exists = false;
    if (item.info.podCount === 0) {
      this.unlink(item);
      this.nodes.delete(name);
    } else {
      // Its pods still hold resources until their deletes arrive (Kubernetes keeps the NodeInfo too).
      this.touch(item);
    }
  }

  private placeOnNode(info: PodInfo, nodeName: string): void {
    const item = this.itemFor(nodeName);
    item.info.addPod(info);
    this.touch(item);
  }

  private takeOffNode(key: string, nodeName: string): void {
    const item = this.nodes.get(nodeName);
    if (item === undefined) return;
    item.info.removePod(key);
    if (!item.exists && item.info.podCount === 0) {
      this.unlink(item);
      this.nodes.delete(nodeName);
    } else {
      this.touch(item);
    }
  }

  /** The scheduler decided: `pod` (with spec.nodeName set) now takes its node's resources. */
  assumePod(pod: Pod): void {
    const key = podKey(pod);
    const nodeName = pod.spec?.nodeName ?? '';
    if (nodeName === '') throw new CacheError(key, 'assumed without spec.nodeName');
    if (this.podStates.has(key)) throw new CacheError(key, `already in the cache (on ${this.podStates.get(key)?.nodeName ?? '?'}); cannot assume it`);
    const info = newPodInfo(pod);
    this.placeOnNode(info, nodeName);
    this.podStates.set(key, { info, nodeName, assumed: true, bindingFinished: false, deadline: undefined });
    this.assumedCount++;
  }

  /** The bind call succeeded; the watch has yet to confirm it. */
  finishBinding(key: string): void {
    const state = this.podStates.get(key);
    if (state === undefined || !state.assumed) return;
    state.bindingFinished = true;
    if (this.assumedPodTtlMs > 0) state.deadline = this.now() + this.assumedPodTtlMs;
  }

  /** The bind failed (or a later point rejected the pod): undo assumePod. */
  forgetPod(key: string): void {
    const state = this.podStates.get(key);
    if (state === undefined) return;
    if (!state.assumed) throw new CacheError(key, 'is bound (confirmed by the watch), not assumed; cannot forget it');
    this.takeOffNode(key, state.nodeName);
    this.podStates.delete(key);
    this.assumedCount--;
  }

  /** A bound pod from the API (list or watch); confirms it if it was assumed. */
  addPod(pod: Pod): void {
    const key = podKey(pod);
    const nodeName = pod.spec?.nodeName ?? '';
    if (nodeName === '') return;
    const state = this.podStates.get(key);
    const info = newPodInfo(pod);
    if (state !== undefined) {
      // Assumed (here, or on another node by a scheduler that won the race) or already known.
      if (state.nodeName !== nodeName) this.takeOffNode(key, state.nodeName);
      if (state.assumed) this.assumedCount--;
      state.info = info;
      state.nodeName = nodeName;
      state.assumed = false;
      state.bindingFinished = true;
      state.deadline = undefined;
    } else {
      this.podStates.set(key, { info, nodeName, assumed: false, bindingFinished: true, deadline: undefined });
    }
    this.placeOnNode(info, nodeName);
  }

  updatePod(pod: Pod): void {
    this.addPod(pod);
  }

  removePod(pod: Pod): void {
    const key = podKey(pod);
    const state = this.podStates.get(key);
    if (state === undefined) return;
    this.takeOffNode(key, state.nodeName);
    this.podStates.delete(key);
    if (state.assumed) this.assumedCount--;
  }

  /** Drops assumed pods whose binding finished more than assumedPodTtlMs ago without confirmation. */
  cleanupExpiredAssumedPods(): string[] {
    const now = this.now();
    const expired: string[] = [];
    for (const [key, state] of this.podStates) {
      if (state.assumed && state.bindingFinished && state.deadline !== undefined && state.deadline <= now) expired.push(key);
    }
    for (const key of expired) this.forgetPod(key);
    return expired;
  }

  /**
   * Brings `snapshot` up to date, copying only the NodeInfos changed since its generation
   * (kube-scheduler's UpdateSnapshot). Returns how many NodeInfos were copied.
   */
  updateSnapshot(snapshot: Snapshot): number {
    let copied = 0;
    let rebuildList = snapshot.nodeSetVersion !== this.nodeSetVersion;
    let rebuildAntiAffinity = false;
    for (let item = this.recent; item !== undefined && item.info.generation > snapshot.generation; item = item.older) {
      if (!item.exists) continue;
      const copy = snapshot.nodeInfoMap.get(item.info.name);
      if (copy === undefined) {
        snapshot.nodeInfoMap.set(item.info.name, item.info.clone());
        rebuildList = true;
      } else {
        if (copy.podsWithRequiredAntiAffinity > 0 !== item.info.podsWithRequiredAntiAffinity > 0) rebuildAntiAffinity = true;
        copy.copyFrom(item.info);
      }
      copied++;
    }
    if (this.recent !== undefined) snapshot.generation = this.recent.info.generation;
    if (rebuildList) {
      const names = [...this.existingNodeNames()];
      const keep = new Set(names);
      for (const name of [...snapshot.nodeInfoMap.keys()]) if (!keep.has(name)) snapshot.nodeInfoMap.delete(name);
      snapshot.rebuild(names);
      snapshot.nodeSetVersion = this.nodeSetVersion;
    } else if (rebuildAntiAffinity) {
      snapshot.rebuildAntiAffinityList();
    }
    return copied;
  }
}
