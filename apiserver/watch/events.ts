// What a cache watcher receives, and how one store change becomes the event each watcher's filter
// sees (Kubernetes' cacheWatcher.convertToWatchEvent): an object that starts matching arrives as
// ADDED, one that stops matching as DELETED (its last matching state, at the change's revision),
// one that matches before and after as MODIFIED. A change builds each of its three possible events
// at most once, so every watcher shares the same event objects.

import type { ApiObject } from '../../proto/api/object.js';
import type { KeyValue } from '../../store/mvcc/responses.js';

export const CacheEventType = {
  Added: 'ADDED',
  Modified: 'MODIFIED',
  Deleted: 'DELETED',
  Bookmark: 'BOOKMARK',
} as const;
export type CacheEventType = (typeof CacheEventType)[keyof typeof CacheEventType];

export interface ObjectEvent<T extends ApiObject> {
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED';
  /** metadata.resourceVersion is set: the change's revision (for a DELETED too). */
  readonly object: T;
  /**
   * The revision after which a watch resumes with nothing missed or repeated. The change's revision,
   * except for the synthetic ADDED of a watch's initial state: the state's revision, which may be
   * newer than the object's resourceVersion.
   */
  readonly revision: number;
  /** The stored key-value whose value is `object` (for a DELETED, the last state's). Shared: do not mutate. */
  readonly raw: KeyValue;
}

/** "Everything up to `revision` has been delivered" (Kubernetes' watch bookmark). */
export interface BookmarkEvent {
  readonly type: 'BOOKMARK';
  /** An empty object of the kind: only apiVersion, kind and metadata.resourceVersion. */
  readonly object: ApiObject;
  readonly revision: number;
}

export type CacheEvent<T extends ApiObject> = ObjectEvent<T> | BookmarkEvent;

/** Events handed out together; a batch never ends inside a revision. */
export type CacheEventBatch<T extends ApiObject> = readonly CacheEvent<T>[];

export interface CacheFilter<T extends ApiObject> {
  /** Only objects whose index `name` has this value (e.g. spec.nodeName = the agent's node). */
  readonly index?: { readonly name: string; readonly value: string };
  readonly predicate?: (object: T) => boolean;
}

/** An object as the cache holds it: decoded once, with its index values computed once. */
export interface CachedObject<T extends ApiObject> {
  readonly key: string;
  readonly object: T;
  readonly raw: KeyValue;
  /** One value per configured index, in the cache's index order. */
  readonly indexValues: readonly (string | undefined)[];
}

/** A filter with its index name resolved to a position in CachedObject.indexValues. */
export interface CompiledFilter<T extends ApiObject> {
  /** -1 = no index filter. */
  readonly indexPosition: number;
  readonly indexValue: string;
  readonly predicate: ((object: T) => boolean) | undefined;
}

export function filterMatches<T extends ApiObject>(filter: CompiledFilter<T>, cached: CachedObject<T>): boolean {
  if (filter.indexPosition >= 0 && cached.indexValues[filter.indexPosition] !== filter.indexValue) return false;
  return filter.predicate === undefined || filter.predicate(cached.object);
}

export function withResourceVersion<T extends ApiObject>(object: T, revision: number): T {
  return { ...object, metadata: { ...object.metadata, resourceVersion: String(revision) } };
}

/**
 * One store event as the cache keeps it in its history. Invariant: current is undefined exactly for
 * a delete; previous is undefined exactly when the cache did not hold the key before.
 */
export class CacheChange<T extends ApiObject> {
  private added: ObjectEvent<T> | undefined;
  private modified: ObjectEvent<T> | undefined;
  private deleted: ObjectEvent<T> | undefined;

  constructor(
    readonly revision: number,
    readonly current: CachedObject<T> | undefined,
    readonly previous: CachedObject<T> | undefined,
  ) {}

  /** The event a watcher with this filter sees, or undefined when the change is none of its business. */
  eventFor(filter: CompiledFilter<T>): ObjectEvent<T> | undefined {
    const currentPasses = this.current !== undefined && filterMatches(filter, this.current);
    const previousPasses = this.previous !== undefined && filterMatches(filter, this.previous);
    if (currentPasses) return previousPasses ? this.modifiedEvent() : this.addedEvent();
    return previousPasses ? this.deletedEvent() : undefined;
  }

  private addedEvent(): ObjectEvent<T> {
    const current = this.current!;
    this.added ??= { type: 'ADDED', object: current.object, revision: this.revision, raw: current.raw };
    return this.added;
  }

  private modifiedEvent(): ObjectEvent<T> {
    const current = this.current!;
    this.modified ??= { type: 'MODIFIED', object: current.object, revision: this.revision, raw: current.raw };
    return this.modified;
  }

  private deletedEvent(): ObjectEvent<T> {
    const previous = this.previous!;
    // The last state a watcher saw, stamped with the revision at which it stopped being there, so
    // a client that stores the resourceVersion resumes after the delete (Kubernetes does the same).
    this.deleted ??= {
      type: 'DELETED',
      object: withResourceVersion(previous.object, this.revision),
      revision: this.revision,
      raw: previous.raw,
    };
    return this.deleted;
  }
}
