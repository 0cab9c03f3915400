// An in-memory cluster behind SchedulerApi, for tests and the in-process benchmark. It behaves like
// the real API where the scheduler's correctness depends on it: binding a pod that already has a
// node is a Conflict; a Lease update with a stale resourceVersion is a LeaseConflictError; watch
// events arrive asynchronously, in order, after the write (batched per event-loop turn).

import { LeaseConflictError, type LeaseApi } from '../client/leader-election.js';
import type { Event, Lease, Node, Pod, PodCondition } from '../proto/api/types.js';
import type { ObjectHandlers, SchedulerApi, Subscription } from './api.js';
import type { BindOutcome, PodBinding } from './framework/interfaces.js';

type Kind = 'Pod' | 'Node';

interface Change {
  readonly seq: number;
  readonly kind: Kind;
  readonly type: 'add' | 'update' | 'delete';
  readonly old: Pod | Node | undefined;
  readonly obj: Pod | Node;
}

interface Sub {
  readonly kind: Kind;
  readonly handlers: ObjectHandlers<Pod> | ObjectHandlers<Node>;
  readonly startSeq: number;
  initial: (Pod | Node)[] | undefined;
  resolveSynced: () => void;
  stopped: boolean;
}

export interface FakeApiOptions {
  /** Added to every bulkBind call (a round trip through the masters). */
  readonly bindLatencyMs?: number;
  readonly now?: () => number;
}

function keyOf(obj: Pod | Node): string {
  const ns = obj.metadata.namespace ?? '';
  return ns === '' ? (obj.metadata.name ?? '') : `${ns}/${obj.metadata.name ?? ''}`;
}

export class FakeSchedulerApi implements SchedulerApi {
  readonly pods = new Map<string, Pod>();
  readonly nodes = new Map<string, Node>();
  readonly leaseStore = new Map<string, Lease>();
  readonly events: Event[] = [];
  /** Successful binds per pod key: the failover test checks none is above 1. */
  readonly bindsByPod = new Map<string, number>();
  bindCalls = 0;
  rejectedBinds = 0;
  statusWrites = 0;
  /** The next N bindings fail with reason 'InternalError' (failure injection). */
  failNextBinds = 0;
  private revision = 0;
  private seq = 0;
  private changes: Change[] = [];
  private readonly subs = new Set<Sub>();
  private flushScheduled = false;
  private readonly bindLatencyMs: number;
  private readonly now: () => number;

  constructor(opts: FakeApiOptions = {}) {
    this.bindLatencyMs = opts.bindLatencyMs ?? 0;
    this.now = opts.now ?? Date.now;
  }

  private nextRv(): string {
    return String(++this.revision);
  }

  private record(kind: Kind, type: Change['type'], old: Pod | Node | undefined, obj: Pod | Node): void {
    this.changes.push({ seq: ++this.seq, kind, type, old, obj });
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    const changes = this.changes;
    this.changes = [];
    for (const sub of this.subs) {
      if (sub.stopped) continue;
      if (sub.initial !== undefined) {
        const initial = sub.initial;
        sub.initial = undefined;
        for (const obj of initial) (sub.handlers.onAdd as (o: Pod | Node) => void)(obj);
        sub.resolveSynced();
      }
    }
    for (const c of changes) {
      for (const sub of this.subs) {
        if (sub.stopped || sub.kind !== c.kind || c.seq <= sub.startSeq) continue;
        const h = sub.handlers as ObjectHandlers<Pod | Node>;
        if (c.type === 'add') h.onAdd(c.obj);
        else if (c.type === 'update') h.onUpdate(c.old ?? c.obj, c.obj);
        else h.onDelete(c.obj);
      }
    }
  }

  private subscribe(kind: Kind, handlers: ObjectHandlers<Pod> | ObjectHandlers<Node>): Subscription {
    let resolveSynced = (): void => {};
    const synced = new Promise<void>((r) => (resolveSynced = r));
    const source: Map<string, Pod | Node> = kind === 'Pod' ? this.pods : this.nodes;
    const sub: Sub = { kind, handlers, startSeq: this.seq, initial: [...source.values()], resolveSynced, stopped: false };
    this.subs.add(sub);
    this.scheduleFlush();
    return {
      synced,
      stop: () => {
        sub.stopped = true;
        this.subs.delete(sub);
      },
    };
  }

  watchPods(handlers: ObjectHandlers<Pod>): Subscription {
    return this.subscribe('Pod', handlers);
  }

  watchNodes(handlers: ObjectHandlers<Node>): Subscription {
    return this.subscribe('Node', handlers);
  }

  // ---- what tests and benchmarks do to the cluster ----

  createPod(pod: Pod): Pod {
    const key = keyOf(pod);
    if (this.pods.has(key)) throw new Error(`pod ${key} already exists`);
    const stored: Pod = {
      ...pod,
      metadata: { ...pod.metadata, uid: pod.metadata.uid ?? `uid-${key}`, resourceVersion: this.nextRv(), creationTimestamp: new Date(this.now()).toISOString() },
      status: pod.status ?? { phase: 'Pending' },
    };
    this.pods.set(key, stored);
    this.record('Pod', 'add', undefined, stored);
    return stored;
  }

  deletePod(namespace: string, name: string): void {
    const key = `${namespace}/${name}`;
    const pod = this.pods.get(key);
    if (pod === undefined) return;
    this.pods.delete(key);
    this.record('Pod', 'delete', pod, pod);
  }

  updatePod(pod: Pod): Pod {
    const key = keyOf(pod);
    const old = this.pods.get(key);
    if (old === undefined) throw new Error(`pod ${key} not found`);
    const stored: Pod = { ...pod, metadata: { ...pod.metadata, resourceVersion: this.nextRv() } };
    this.pods.set(key, stored);
    this.record('Pod', 'update', old, stored);
    return stored;
  }

  addNode(node: Node): Node {
    const key = keyOf(node);
    const old = this.nodes.get(key);
    const stored: Node = { ...node, metadata: { ...node.metadata, resourceVersion: this.nextRv() } };
    this.nodes.set(key, stored);
    this.record('Node', old === undefined ? 'add' : 'update', old, stored);
    return stored;
  }

  updateNode(node: Node): Node {
    return this.addNode(node);
  }

  deleteNode(name: string): void {
    const node = this.nodes.get(name);
    if (node === undefined) return;
    this.nodes.delete(name);
    this.record('Node', 'delete', node, node);
  }

  // ---- SchedulerApi ----

  async bulkBind(bindings: readonly PodBinding[]): Promise<readonly BindOutcome[]> {
    this.bindCalls++;
    if (this.bindLatencyMs > 0) await new Promise((r) => setTimeout(r, this.bindLatencyMs));
    return bindings.map((b): BindOutcome => {
      const key = `${b.namespace}/${b.name}`;
      const pod = this.pods.get(key);
      if (pod === undefined) return { ok: false, reason: 'NotFound', message: `pods "${b.name}" not found` };
      if (b.uid !== undefined && b.uid !== pod.metadata.uid) return { ok: false, reason: 'Conflict', message: `Precondition failed: UID in precondition: ${b.uid}, UID in object meta: ${pod.metadata.uid ?? ''}` };
      const current = pod.spec?.nodeName ?? '';
      if (current !== '') {
        this.rejectedBinds++;
        return { ok: false, reason: 'Conflict', message: `Operation cannot be fulfilled on pods/binding "${b.name}": pod ${b.name} is already assigned to node "${current}"` };
      }
      if (this.failNextBinds > 0) {
        this.failNextBinds--;
        return { ok: false, reason: 'InternalError', message: 'injected bind failure' };
      }
      const conditions = (pod.status?.conditions ?? []).filter((c) => c.type !== 'PodScheduled');
      conditions.push({ type: 'PodScheduled', status: 'True', lastTransitionTime: new Date(this.now()).toISOString() });
      const bound: Pod = {
        ...pod,
        metadata: { ...pod.metadata, resourceVersion: this.nextRv() },
        spec: { containers: [], ...pod.spec, nodeName: b.nodeName },
        status: { ...pod.status, conditions },
      };
      this.pods.set(key, bound);
      this.bindsByPod.set(key, (this.bindsByPod.get(key) ?? 0) + 1);
      this.record('Pod', 'update', pod, bound);
      return { ok: true };
    });
  }

  async setPodScheduledCondition(pod: Pod, condition: PodCondition): Promise<void> {
    const key = keyOf(pod);
    const current = this.pods.get(key);
    // Conditional on the resourceVersion the scheduler saw, as the adapter's patch is: a pod that
    // changed since (bound, say) keeps its state.
    if (current === undefined || (pod.metadata.resourceVersion !== undefined && current.metadata.resourceVersion !== pod.metadata.resourceVersion)) return;
    this.statusWrites++;
    const conditions = (current.status?.conditions ?? []).filter((c) => c.type !== 'PodScheduled');
    conditions.push(condition);
    this.updatePod({ ...current, status: { ...current.status, conditions } });
  }

  async createEvent(event: Event): Promise<void> {
    this.events.push({ ...event, metadata: { ...event.metadata, resourceVersion: this.nextRv() } });
  }

  /** Delay of every Lease call, settable while running (a stalled store). */
  leaseDelayMs = 0;

  private async leaseDelay(): Promise<void> {
    if (this.leaseDelayMs > 0) await new Promise((r) => setTimeout(r, this.leaseDelayMs));
  }

  readonly leases: LeaseApi = {
    getLease: async (namespace, name) => {
      await this.leaseDelay();
      return this.leaseStore.get(`${namespace}/${name}`);
    },
    createLease: async (lease) => {
      const key = `${lease.metadata.namespace ?? ''}/${lease.metadata.name ?? ''}`;
      if (this.leaseStore.has(key)) throw new LeaseConflictError(lease.metadata.namespace ?? '', lease.metadata.name ?? '', 'already exists');
      const stored: Lease = { ...lease, metadata: { ...lease.metadata, resourceVersion: this.nextRv() } };
      this.leaseStore.set(key, stored);
      return stored;
    },
    updateLease: async (lease) => {
      const key = `${lease.metadata.namespace ?? ''}/${lease.metadata.name ?? ''}`;
      const current = this.leaseStore.get(key);
      if (current === undefined) throw new LeaseConflictError(lease.metadata.namespace ?? '', lease.metadata.name ?? '', 'not found');
      if (current.metadata.resourceVersion !== lease.metadata.resourceVersion) {
        throw new LeaseConflictError(lease.metadata.namespace ?? '', lease.metadata.name ?? '', `resourceVersion ${lease.metadata.resourceVersion ?? ''} is stale (current ${current.metadata.resourceVersion ?? ''})`);
      }
      const stored: Lease = { ...lease, metadata: { ...lease.metadata, resourceVersion: this.nextRv() } };
      this.leaseStore.set(key, stored);
      return stored;
    },
  };
}
