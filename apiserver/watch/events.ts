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
  /**
   * The object's metadata.resourceVersion in this event: its mod revision, or for a DELETED the
   * change's revision.
   */
  readonly resourceVersion: number;
  /**
   * The revision after which a watch resumes with nothing missed or repeated. The change's revision,
   * except for the synthetic ADDED of a watch's initial state: the state's revision, which may be
   * newer than the object's resourceVersion.
   */
  readonly revision: number;
  /** The stored key-value of the object (for a DELETED, the last state's). Shared: do not mutate. */
  readonly raw: KeyValue;
  /** The object, decoded from `raw` on every call (the cache keeps bytes, not objects), with resourceVersion set. */
  decode(): T;
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

/**
 * What indexes and predicates read of an object, kept beside its stored bytes instead of the decoded
 * object: a cache of 150,000 pods would otherwise hold 150,000 object graphs for the garbage
 * collector to mark, when watchers are sent the bytes.
 */
export interface Selectable {
  readonly namespace: string | undefined;
  readonly labels: Readonly<Record<string, string>> | undefined;
  /** The kind's selectable fields, by field selector name (metadata.name, spec.nodeName, ...). */
  readonly fields: Readonly<Record<string, string>>;
}

export interface CacheFilter {
  /** Only objects whose index `name` has this value (e.g. spec.nodeName = the agent's node). */
  readonly index?: { readonly name: string; readonly value: string };
  /** undefined: every object (that the index admits). */
  readonly predicate?: ((object: Selectable) => boolean) | undefined;
}

/** One version of an object as the cache holds it: the stored bytes, what selectors read, the index values. */
export class CachedObject<T extends ApiObject> {
  constructor(
    readonly key: string,
    readonly raw: KeyValue,
    readonly selectable: Selectable,
    /** One value per configured index, in the cache's index order. */
    readonly indexValues: readonly (string | undefined)[],
    private readonly decoder: (kv: KeyValue) => T,
  ) {}

  /** Decodes the stored bytes (every call: nothing decoded is kept), with resourceVersion = `resourceVersion`. */
  decode(resourceVersion: number = this.raw.modRevision): T {
    return withResourceVersion(this.decoder(this.raw), resourceVersion);
  }
}

/** A filter with its index name resolved to a position in CachedObject.indexValues. */
export interface CompiledFilter {
  /** -1 = no index filter. */
  readonly indexPosition: number;
  readonly indexValue: string;
  readonly predicate: ((object: Selectable) => boolean) | undefined;
}

export function filterMatches<T extends ApiObject>(filter: CompiledFilter, cached: CachedObject<T>): boolean {
  if (filter.indexPosition >= 0 && cached.indexValues[filter.indexPosition] !== filter.indexValue) return false;
  return filter.predicate === undefined || filter.predicate(cached.selectable);
}

export function withResourceVersion<T extends ApiObject>(object: T, revision: number): T {
  return { ...object, metadata: { ...object.metadata, resourceVersion: String(revision) } };
}

/** An event of one cached object version; shared by every watcher it goes to. */
export class CachedObjectEvent<T extends ApiObject> implements ObjectEvent<T> {
  constructor(
    readonly type: 'ADDED' | 'MODIFIED' | 'DELETED',
    private readonly cached: CachedObject<T>,
    readonly revision: number,
    readonly resourceVersion: number,
  ) {}

  get raw(): KeyValue {
    return this.cached.raw;
  }

  decode(): T {
    return this.cached.decode(this.resourceVersion);
  }
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
  eventFor(filter: CompiledFilter): ObjectEvent<T> | undefined {
    const currentPasses = this.current !== undefined && filterMatches(filter, this.current);
    const previousPasses = this.previous !== undefined && filterMatches(filter, this.previous);
    if (currentPasses) return previousPasses ? this.modifiedEvent() : this.addedEvent();
    return previousPasses ? this.deletedEvent() : undefined;
  }

  private addedEvent(): ObjectEvent<T> {
    this.added ??= new CachedObjectEvent('ADDED', this.current!, this.revision, this.revision);
    return this.added;
  }

  private modifiedEvent(): ObjectEvent<T> {
    this.modified ??= new CachedObjectEvent('MODIFIED', this.current!, this.revision, this.revision);
    return this.modified;
  }

  private deletedEvent(): ObjectEvent<T> {
    // The last state a watcher saw, stamped with the revision at which it stopped being there, so
    // a client that stores the resourceVersion resumes after the delete (Kubernetes does the same).
    this.deleted ??= new CachedObjectEvent('DELETED', this.previous!, this.revision, this.revision);
    return this.deleted;
  }
}
