// The adapter over ApiClient, against a stub client (the API server is not runnable here yet):
// error mapping for the Lease, bulkBind outcomes, the condition patch, and informer-fed handlers.

import { describe, expect, it } from 'vitest';
import { RpcError, StatusCode } from '../apiserver/rpc/status.js';
import type { ApiClient, BulkItem, ListOptions, ListResult, ObjectDecoder, WatchEvent, WatchOptions } from '../client/api-client.js';
import { LeaseConflictError } from '../client/leader-election.js';
import type { ApiObject } from '../proto/api/object.js';
import type { Lease, Pod } from '../proto/api/types.js';
import { ApiClientSchedulerApi } from './api-adapter.js';
import { makePod } from './fixtures.js';
import { SCHEDULER_POD_FIELDS } from './framework/pod-fields.js';
import { benchPod } from '../bench/codec-objects.js';
import { encodeObject } from '../proto/api/codec.js';

class StubClient {
  calls: { method: string; args: unknown[] }[] = [];
  getError: RpcError | undefined;
  createError: RpcError | undefined;
  updateError: RpcError | undefined;
  bindResult: BulkItem<Pod>[] | RpcError = [];
  listed: ApiObject[] = [];
  events: WatchEvent[] = [];

  async get<T extends ApiObject>(kind: string, name: string, namespace: string): Promise<T> {
    this.calls.push({ method: 'get', args: [kind, name, namespace] });
    if (this.getError !== undefined) throw this.getError;
    return { apiVersion: 'coordination.k8s.io/v1', kind, metadata: { name, namespace, resourceVersion: '5' } } as unknown as T;
  }
  async create<T extends ApiObject>(obj: T): Promise<T> {
    this.calls.push({ method: 'create', args: [obj] });
    if (this.createError !== undefined) throw this.createError;
    return obj;
  }
  async update<T extends ApiObject>(obj: T): Promise<T> {
    this.calls.push({ method: 'update', args: [obj] });
    if (this.updateError !== undefined) throw this.updateError;
    return obj;
  }
  async patch<T extends ApiObject>(kind: string, name: string, namespace: string, patch: object, opts: { status?: boolean }): Promise<T> {
    this.calls.push({ method: 'patch', args: [kind, name, namespace, patch, opts] });
    return {} as T;
  }
  async bulkBind(bindings: readonly unknown[]): Promise<BulkItem<Pod>[]> {
    this.calls.push({ method: 'bulkBind', args: [bindings] });
    if (this.bindResult instanceof RpcError) throw this.bindResult;
    return this.bindResult;
  }
  /** The decoders the informer asked list and watch for, by kind. */
  decoders: { call: string; kind: string; decode: ObjectDecoder | undefined }[] = [];
  async listAll<T extends ApiObject>(kind: string, opts: ListOptions = {}): Promise<ListResult<T>> {
    this.decoders.push({ call: 'list', kind, decode: opts.decode });
    return { items: this.listed as T[], resourceVersion: '10' };
  }
  async *watch<T extends ApiObject>(kind: string, opts: WatchOptions = {}): AsyncGenerator<WatchEvent<T>, void, undefined> {
    this.decoders.push({ call: 'watch', kind, decode: opts.decode });
    for (const ev of this.events.splice(0)) yield ev as WatchEvent<T>;
    await new Promise<void>((resolve) => opts.signal?.addEventListener('abort', () => resolve(), { once: true }));
  }
}

function adapter(): { api: ApiClientSchedulerApi; stub: StubClient } {
  const stub = new StubClient();
  return { api: new ApiClientSchedulerApi(stub as unknown as ApiClient), stub };
}

const lease: Lease = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'flotilla-scheduler', namespace: 'kube-system', resourceVersion: '5' }, spec: { holderIdentity: 'a' } };

describe('ApiClientSchedulerApi', () => {
  it('maps the Lease API’s errors: NotFound → undefined, AlreadyExists/Conflict → LeaseConflictError', async () => {
    const { api, stub } = adapter();
    expect(await api.leases.getLease('kube-system', 'flotilla-scheduler')).toMatchObject({ metadata: { resourceVersion: '5' } });
    stub.getError = new RpcError(StatusCode.NOT_FOUND, 'leases "flotilla-scheduler" not found', { reason: 'NotFound' });
    expect(await api.leases.getLease('kube-system', 'flotilla-scheduler')).toBeUndefined();
    stub.createError = new RpcError(StatusCode.ALREADY_EXISTS, 'exists', { reason: 'AlreadyExists' });
    await expect(api.leases.createLease(lease)).rejects.toBeInstanceOf(LeaseConflictError);
    stub.updateError = new RpcError(StatusCode.ABORTED, 'the object has been modified', { reason: 'Conflict' });
    await expect(api.leases.updateLease(lease)).rejects.toBeInstanceOf(LeaseConflictError);
    stub.updateError = new RpcError(StatusCode.UNAVAILABLE, 'no master');
    await expect(api.leases.updateLease(lease)).rejects.toBeInstanceOf(RpcError);
  });

  it('turns bulkBind items and a failed call into per-binding outcomes', async () => {
    const { api, stub } = adapter();
    stub.bindResult = [
      { ok: true, object: makePod('a') },
      { ok: false, error: new RpcError(StatusCode.ABORTED, 'pod b is already assigned to node "n2"', { reason: 'Conflict' }) },
    ];
    const bindings = [
      { namespace: 'default', name: 'a', nodeName: 'n1', uid: 'u1' },
      { namespace: 'default', name: 'b', nodeName: 'n1' },
    ];
    expect(await api.bulkBind(bindings)).toEqual([{ ok: true }, { ok: false, reason: 'Conflict', message: 'pod b is already assigned to node "n2"' }]);
    stub.bindResult = new RpcError(StatusCode.UNAVAILABLE, 'connection lost', { outcomeUnknown: true });
    expect(await api.bulkBind(bindings)).toEqual([
      { ok: false, reason: 'UNAVAILABLE', message: 'connection lost' },
      { ok: false, reason: 'UNAVAILABLE', message: 'connection lost' },
    ]);
  });

  it('writes the PodScheduled condition as a conditional status patch, keeping other conditions', async () => {
    const { api, stub } = adapter();
    const pod: Pod = { ...makePod('p'), metadata: { ...makePod('p').metadata, resourceVersion: '42' }, status: { conditions: [{ type: 'Initialized', status: 'True' }, { type: 'PodScheduled', status: 'False', message: 'old' }] } };
    await api.setPodScheduledCondition(pod, { type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: 'new' });
    expect(stub.calls.at(-1)).toEqual({
      method: 'patch',
      args: ['Pod', 'p', 'default', { metadata: { resourceVersion: '42' }, status: { conditions: [{ type: 'Initialized', status: 'True' }, { type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: 'new' }] } }, { status: true }],
    });
  });

  it('feeds the handlers from an informer: the list as adds, then the watch', async () => {
    const { api, stub } = adapter();
    const a = { ...makePod('a'), metadata: { ...makePod('a').metadata, resourceVersion: '9' } };
    stub.listed = [a];
    const bound: Pod = { ...a, metadata: { ...a.metadata, resourceVersion: '11' }, spec: { containers: [], nodeName: 'n1' } };
    stub.events = [{ type: 'MODIFIED', object: bound }];
    const seen: string[] = [];
    const sub = api.watchPods({
      onAdd: (p) => seen.push(`add ${p.metadata.name ?? ''}`),
      onUpdate: (_o, p) => seen.push(`update ${p.metadata.name ?? ''} → ${p.spec?.nodeName ?? ''}`),
      onDelete: (p) => seen.push(`delete ${p.metadata.name ?? ''}`),
    });
    await sub.synced;
    while (seen.length < 2) await new Promise((r) => setTimeout(r, 1));
    expect(seen).toEqual(['add a', 'update a → n1']);
    sub.stop();
  });

  it('lists and watches pods with the projection it was told to keep, nodes whole', async () => {
    const { api, stub } = adapter();
    api.keepPodFields(SCHEDULER_POD_FIELDS);
    const pods = api.watchPods({ onAdd: () => {}, onUpdate: () => {}, onDelete: () => {} });
    const nodes = api.watchNodes({ onAdd: () => {}, onUpdate: () => {}, onDelete: () => {} });
    await Promise.all([pods.synced, nodes.synced]);
    while (stub.decoders.length < 4) await new Promise((r) => setTimeout(r, 1));
    const podDecoders = stub.decoders.filter((d) => d.kind === 'Pod');
    expect(podDecoders.map((d) => d.call).sort()).toEqual(['list', 'watch']);
    const bytes = encodeObject(benchPod);
    for (const d of podDecoders) {
      const pod = d.decode!('Pod', bytes) as Pod;
      expect(pod.spec?.containers[0]?.resources).toEqual(benchPod.spec?.containers[0]?.resources);
      expect(pod.spec?.containers[0]?.image).toBeUndefined();
    }
    expect(stub.decoders.filter((d) => d.kind === 'Node').every((d) => d.decode === undefined)).toBe(true);
    // Asked for a field Pod does not have, it says which.
    expect(() => api.keepPodFields(['spec.noSuchField'])).toThrow(/noSuchField/);
    pods.stop();
    nodes.stop();
  });
});
