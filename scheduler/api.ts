// The narrow surface through which the scheduler talks to the cluster. The scheduler uses only
// this; api-adapter.ts satisfies it over ApiClient + Informers, fake-api.ts in memory for tests.

import type { LeaseApi } from '../client/leader-election.js';
import type { Event, Node, Pod, PodCondition } from '../proto/api/types.js';
import type { PodBinder } from './framework/interfaces.js';

export interface ObjectHandlers<T> {
  onAdd(obj: T): void;
  onUpdate(oldObj: T, newObj: T): void;
  /** `obj` is the last state known. */
  onDelete(obj: T): void;
}

export interface Subscription {
  /** Resolves once the initial list has been delivered as onAdd calls. */
  readonly synced: Promise<void>;
  stop(): void;
}

export interface SchedulerApi extends PodBinder {
  /** Every pod (bound and pending): a list delivered as adds, then each change, in order. */
  watchPods(handlers: ObjectHandlers<Pod>): Subscription;
  watchNodes(handlers: ObjectHandlers<Node>): Subscription;
  /** Writes the pod's PodScheduled condition (status subresource), replacing any previous one. */
  setPodScheduledCondition(pod: Pod, condition: PodCondition): Promise<void>;
  createEvent(event: Event): Promise<void>;
  readonly leases: LeaseApi;
}
