// An in-memory AgentApi with the semantics the agent depends on: resourceVersions from one
// counter, Conflict on a stale update, status writes that touch only status, watches that replay
// from a resourceVersion and then follow (ADDED / MODIFIED / DELETED), field selectors on
// spec.nodeName and metadata.name, and a bound pod's graceful delete: the first delete sets
// deletionTimestamp and deletionGracePeriodSeconds (MODIFIED); delete with grace 0 removes it.

import { randomUUID } from 'node:crypto';
import type { DeleteOptions, ListOptions, ListResult, WatchEvent, WatchEventType, WatchOptions } from '../client/api-client.js';
import { RpcError, StatusCode } from '../apiserver/rpc/status.js';
import type { ApiObject } from '../proto/api/object.js';
import type { AgentApi } from './api.js';

/** Events kept for watches that resume from an older resourceVersion. */
export const FAKE_WATCH_HISTORY = 100_000;
/** A pod's grace period when neither the delete nor the pod names one (Kubernetes' default). */
export const DEFAULT_POD_GRACE_SECONDS = 30;

interface Stored {
  readonly event: WatchEvent;
  readonly rv: number;
}

type Listener = (e: Stored) => void;

function keyOf(kind: string, namespace: string, name: string): string {
  return `${kind}/${namespace}/${name}`;
}

function fieldValue(obj: ApiObject, path: string): string {
  let cur: unknown = obj;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return '';
    cur = (cur as Record<string, unknown>)[part];
  }
  return typeof cur === 'string' ? cur : cur === undefined ? '' : String(cur);
}

function matches(obj: ApiObject, opts: { namespace?: string; fieldSelector?: string; labelSelector?: string }): boolean {
  if (opts.namespace !== undefined && opts.namespace !== '' && (obj.metadata.namespace ?? '') !== opts.namespace) return false;
  for (const term of (opts.fieldSelector ?? '').split(',').filter((t) => t !== '')) {
    const neg = term.includes('!=');
    const [path = '', value = ''] = term.split(neg ? '!=' : /==?/);
    if ((fieldValue(obj, path) === value) === neg) return false;
  }
  for (const term of (opts.labelSelector ?? '').split(',').filter((t) => t !== '')) {
    const [k = '', v] = term.split('=');
    const have = obj.metadata.labels?.[k];
    if (v === undefined ? have === undefined : have !== v) return false;
  }
  return true;
}

function clone<T>(v: T): T {
  return structuredClone(v);
}

export class FakeAgentApi implements AgentApi {
  private readonly objects = new Map<string, ApiObject>();
  private readonly history: Stored[] = [];
  private readonly listeners = new Set<Listener>();
  private revision = 0;
  /** Calls per method name, for tests. */
  readonly calls = new Map<string, number>();
  now: () => Date = () => new Date();

  private count(method: string): void {
    this.calls.set(method, (this.calls.get(method) ?? 0) + 1);
  }

  private emit(type: WatchEventType, obj: ApiObject): void {
    const s: Stored = { event: { type, object: clone(obj) }, rv: this.revision };
    this.history.push(s);
    if (this.history.length > FAKE_WATCH_HISTORY) this.history.shift();
    for (const l of this.listeners) l(s);
  }

  private stamp<T extends ApiObject>(obj: T): T {
    this.revision++;
    return { ...obj, metadata: { ...obj.metadata, resourceVersion: String(this.revision) } };
  }

  private notFound(kind: string, name: string): RpcError {
    return new RpcError(StatusCode.NOT_FOUND, `${kind.toLowerCase()}s "${name}" not found`, { reason: 'NotFound' });
  }

  /** The stored object, for tests (undefined if absent). */
  peek<T extends ApiObject>(kind: string, name: string, namespace = ''): T | undefined {
    const o = this.objects.get(keyOf(kind, namespace, name));
    return o === undefined ? undefined : (clone(o) as T);
  }

  async create<T extends ApiObject>(obj: T): Promise<T> {
    this.count('create');
    const ns = obj.metadata.namespace ?? '';
    const name = obj.metadata.name ?? `${obj.metadata.generateName ?? 'obj-'}${randomUUID().slice(0, 5)}`;
    const key = keyOf(obj.kind, ns, name);
    if (this.objects.has(key)) throw new RpcError(StatusCode.ALREADY_EXISTS, `${obj.kind.toLowerCase()}s "${name}" already exists`, { reason: 'AlreadyExists' });
    const created = this.stamp({ ...clone(obj), metadata: { ...clone(obj.metadata), name, uid: randomUUID(), creationTimestamp: this.now().toISOString() } });
    this.objects.set(key, created);
    this.emit('ADDED', created);
    return clone(created);
  }

  async get<T extends ApiObject>(kind: string, name: string, namespace = ''): Promise<T> {
    this.count('get');
    const o = this.objects.get(keyOf(kind, namespace, name));
    if (o === undefined) throw this.notFound(kind, name);
    return clone(o) as T;
  }

  async list<T extends ApiObject>(kind: string, opts: ListOptions = {}): Promise<ListResult<T>> {
    this.count('list');
    const items = [...this.objects.values()].filter((o) => o.kind === kind && matches(o, opts)).map((o) => clone(o) as T);
    return { items, resourceVersion: String(this.revision) };
  }

  private replace<T extends ApiObject>(obj: T, statusOnly: boolean): T {
    const key = keyOf(obj.kind, obj.metadata.namespace ?? '', obj.metadata.name ?? '');
    const old = this.objects.get(key);
    if (old === undefined) throw this.notFound(obj.kind, obj.metadata.name ?? '');
    const rv = obj.metadata.resourceVersion;
    if (rv !== undefined && rv !== '' && rv !== old.metadata.resourceVersion) {
      throw new RpcError(StatusCode.ABORTED, `the object has been modified (at ${old.metadata.resourceVersion ?? '?'}, not ${rv})`, { reason: 'Conflict' });
    }
    const o = obj as unknown as Record<string, unknown>;
    const prev = old as unknown as Record<string, unknown>;
    const next = statusOnly
      ? { ...clone(prev), status: clone(o['status']) }
      : { ...clone(o), metadata: { ...clone(obj.metadata), uid: old.metadata.uid, creationTimestamp: old.metadata.creationTimestamp, deletionTimestamp: old.metadata.deletionTimestamp }, ...(prev['status'] !== undefined ? { status: prev['status'] } : {}) };
    const stamped = this.stamp(next as unknown as T);
    this.objects.set(key, stamped);
    this.emit('MODIFIED', stamped);
    return clone(stamped);
  }

  async update<T extends ApiObject>(obj: T): Promise<T> {
    this.count('update');
    return this.replace(obj, false);
  }

  async updateStatus<T extends ApiObject>(obj: T): Promise<T> {
    this.count('updateStatus');
    return this.replace(obj, true);
  }

  async delete<T extends ApiObject>(kind: string, name: string, namespace = '', opts: DeleteOptions = {}): Promise<{ object: T; deleted: boolean }> {
    this.count('delete');
    const key = keyOf(kind, namespace, name);
    const old = this.objects.get(key);
    if (old === undefined) throw this.notFound(kind, name);
    if (opts.preconditionUid !== undefined && opts.preconditionUid !== '' && opts.preconditionUid !== old.metadata.uid) {
      throw new RpcError(StatusCode.ABORTED, `uid precondition failed for ${name}`, { reason: 'Conflict' });
    }
    const spec = (old as unknown as { spec?: { nodeName?: string; terminationGracePeriodSeconds?: number } }).spec;
    const grace = opts.gracePeriodSeconds ?? old.metadata.deletionGracePeriodSeconds ?? spec?.terminationGracePeriodSeconds ?? DEFAULT_POD_GRACE_SECONDS;
    if (kind === 'Pod' && spec?.nodeName !== undefined && spec.nodeName !== '' && grace > 0) {
      if (old.metadata.deletionTimestamp !== undefined) return { object: clone(old) as T, deleted: false };
      const marked = this.stamp({ ...old, metadata: { ...old.metadata, deletionTimestamp: new Date(this.now().getTime() + grace * 1000).toISOString(), deletionGracePeriodSeconds: grace } });
      this.objects.set(key, marked);
      this.emit('MODIFIED', marked);
      return { object: clone(marked) as T, deleted: false };
    }
    this.objects.delete(key);
    const gone = this.stamp(old);
    this.emit('DELETED', gone);
    return { object: clone(gone) as T, deleted: true };
  }

  async *watch<T extends ApiObject>(kind: string, opts: WatchOptions = {}): AsyncGenerator<WatchEvent<T>, void, undefined> {
    this.count('watch');
    const from = opts.resourceVersion !== undefined && opts.resourceVersion !== '' ? Number(opts.resourceVersion) : this.revision;
    const oldest = this.history[0]?.rv ?? this.revision + 1;
    if (from + 1 < oldest && this.history.length >= FAKE_WATCH_HISTORY) throw new RpcError(StatusCode.OUT_OF_RANGE, `resourceVersion ${from} is compacted`, { reason: 'Expired' });
    const queue: Stored[] = this.history.filter((s) => s.rv > from);
    let wake: (() => void) | undefined;
    const listener: Listener = (s) => {
      queue.push(s);
      wake?.();
    };
    this.listeners.add(listener);
    const aborted = new Promise<void>((resolve) => opts.signal?.addEventListener('abort', () => resolve(), { once: true }));
    try {
      for (;;) {
        if (opts.signal?.aborted === true) return;
        const next = queue.shift();
        if (next === undefined) {
          await Promise.race([new Promise<void>((r) => (wake = r)), aborted]);
          wake = undefined;
          continue;
        }
        if (next.event.object.kind !== kind || !matches(next.event.object, opts)) continue;
        yield clone(next.event) as WatchEvent<T>;
      }
    } finally {
      this.listeners.delete(listener);
    }
  }
}
