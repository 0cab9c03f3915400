// SchedulerApi over the real client: Informers for pods and nodes (list, then watch, resuming
// across master failovers), bulkBind for bindings, a status merge patch for the PodScheduled
// condition, create for Events, and get/create/update for the election Lease.

import { LeaseConflictError, type LeaseApi } from '../client/leader-election.js';
import type { ApiClient, ObjectDecoder } from '../client/api-client.js';
import { Informer, type InformerOptions } from '../client/informer.js';
import { RpcError, StatusCode, statusCodeName } from '../apiserver/rpc/status.js';
import { projectedDecoder } from '../proto/api/codec.js';
import type { Event, Lease, Node, Pod, PodCondition } from '../proto/api/types.js';
import type { ObjectHandlers, SchedulerApi, Subscription } from './api.js';
import type { BindOutcome, PodBinding } from './framework/interfaces.js';

export interface ApiClientSchedulerApiOptions {
  readonly logger?: { warn(msg: string, fields?: Record<string, unknown>): void };
  readonly informer?: Omit<InformerOptions, 'logger'>;
}

function isConflict(err: unknown): boolean {
  return err instanceof RpcError && (err.code === StatusCode.ALREADY_EXISTS || err.code === StatusCode.ABORTED || err.reason === 'Conflict' || err.reason === 'AlreadyExists');
}

function isNotFound(err: unknown): boolean {
  return err instanceof RpcError && (err.code === StatusCode.NOT_FOUND || err.reason === 'NotFound');
}

/** What bulkBind's answer is decoded to: the bound pod's name, the rest of it skipped. */
const boundPodName = projectedDecoder('Pod', ['metadata.name']);
const decodeBoundPodName: ObjectDecoder = (_kind, raw) => boundPodName(raw);

export class ApiClientSchedulerApi implements SchedulerApi {
  constructor(private readonly client: ApiClient, private readonly opts: ApiClientSchedulerApiOptions = {}) {}

  /** Decodes only the pod fields the scheduler reads; undefined: whole pods. */
  private podDecoder: ObjectDecoder | undefined;

  /**
   * From now on, pods are decoded with only `fields` (Framework.podFields); undefined: whole.
   * Throws a CodecError naming a path that Pod does not have.
   */
  keepPodFields(fields: readonly string[] | undefined): void {
    if (fields === undefined) {
      this.podDecoder = undefined;
      return;
    }
    const decode = projectedDecoder('Pod', fields);
    this.podDecoder = (_kind, raw) => decode(raw);
  }

  private subscribe<T extends Pod | Node>(kind: 'Pod' | 'Node', handlers: ObjectHandlers<T>): Subscription {
    const decode = kind === 'Pod' ? this.podDecoder : undefined;
    const informer = new Informer<T>(this.client, kind, {
      ...(this.opts.informer ?? {}),
      ...(this.opts.logger !== undefined ? { logger: this.opts.logger } : {}),
      ...(decode !== undefined ? { decode } : {}),
    });
    informer.addHandlers({ onAdd: (o) => handlers.onAdd(o), onUpdate: (a, b) => handlers.onUpdate(a, b), onDelete: (o) => handlers.onDelete(o) });
    informer.start();
    return { synced: informer.waitForSync(), stop: () => void informer.stop() };
  }

  watchPods(handlers: ObjectHandlers<Pod>): Subscription {
    return this.subscribe<Pod>('Pod', handlers);
  }

  watchNodes(handlers: ObjectHandlers<Node>): Subscription {
    return this.subscribe<Node>('Node', handlers);
  }

  async bulkBind(bindings: readonly PodBinding[]): Promise<readonly BindOutcome[]> {
    try {
      const items = await this.client.bulkBind<Pod>(
        bindings.map((b) => ({ namespace: b.namespace, name: b.name, nodeName: b.nodeName, ...(b.uid !== undefined ? { uid: b.uid } : {}) })),
        // Only each item's outcome is read: the bound pod arrives through the watch.
        { decode: decodeBoundPodName },
      );
      return bindings.map((_, i): BindOutcome => {
        const item = items[i];
        if (item === undefined) return { ok: false, reason: 'InternalError', message: 'bulkBind answered fewer results than bindings' };
        return item.ok ? { ok: true } : { ok: false, reason: item.error.reason ?? statusCodeName(item.error.code), message: item.error.message };
      });
    } catch (err) {
      // The outcome may be unknown (the connection dropped): the scheduler forgets and retries;
      // a pod that did get bound arrives through the watch, and a second bind is a Conflict.
      const reason = err instanceof RpcError ? (err.reason ?? statusCodeName(err.code)) : 'Unavailable';
      return bindings.map(() => ({ ok: false, reason, message: (err as Error).message }));
    }
  }

  async setPodScheduledCondition(pod: Pod, condition: PodCondition): Promise<void> {
    const conditions = (pod.status?.conditions ?? []).filter((c) => c.type !== 'PodScheduled');
    conditions.push(condition);
    // The resourceVersion makes the patch conditional: a pod changed since (bound, say) keeps its state.
    await this.client.patch<Pod>('Pod', pod.metadata.name ?? '', pod.metadata.namespace ?? '', { metadata: { resourceVersion: pod.metadata.resourceVersion }, status: { conditions } }, { status: true });
  }

  async createEvent(event: Event): Promise<void> {
    await this.client.create<Event>(event);
  }

  readonly leases: LeaseApi = {
    getLease: async (namespace, name) => {
      try {
        return await this.client.get<Lease>('Lease', name, namespace);
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    },
    createLease: async (lease) => {
      try {
        return await this.client.create<Lease>(lease);
      } catch (err) {
        if (isConflict(err)) throw new LeaseConflictError(lease.metadata.namespace ?? '', lease.metadata.name ?? '', 'already exists', { cause: err });
        throw err;
      }
    },
    updateLease: async (lease) => {
      try {
        return await this.client.update<Lease>(lease);
      } catch (err) {
        if (isConflict(err)) throw new LeaseConflictError(lease.metadata.namespace ?? '', lease.metadata.name ?? '', `resourceVersion ${lease.metadata.resourceVersion ?? ''} is stale`, { cause: err });
        throw err;
      }
    },
  };
}
