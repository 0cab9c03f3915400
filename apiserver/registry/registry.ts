// The resource operations every master serves: create, get, list, update (and the status
// subresource), merge patch, delete (finalizers, graceful pod deletion), and binding a pod to a node.
// Each write is one store transaction that compares the object's mod revision, so concurrent
// writers through any masters are ordered by Raft and a stale resourceVersion loses (Conflict).
//
// The registry is kind-agnostic: what differs per kind (defaults, validation, codec, scope) comes
// from a KindHandler. It knows nothing of the wire.

import type { ApiObject, FieldViolation, ObjectMeta } from '../../proto/api/object.js';
import { ApiError, StatusReason, describeObject, invalid, notFound } from './errors.js';
import { ObjectStorage, kindPrefix, objectKey, type StoredValue } from './storage.js';
import type { Backend } from '../../store/backend.js';

/** Read-modify-write attempts of an update without a resourceVersion (or a patch) before Conflict. */
export const MAX_UPDATE_ATTEMPTS = 8;

/** Names tried for one generateName create before giving up (Kubernetes tries once, then 409s). */
export const MAX_GENERATE_NAME_ATTEMPTS = 5;

/** The most items one list call returns; a larger limit is lowered to this (pagination continues). */
export const MAX_LIST_LIMIT = 10_000;

/** Characters of a generated name suffix (Kubernetes: 5 from a 27-letter alphabet). */
export const GENERATED_SUFFIX_LENGTH = 5;
const SUFFIX_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

/** What the registry needs to know about one kind. */
export interface KindHandler {
  readonly kind: string;
  readonly apiVersion: string;
  readonly plural: string;
  readonly namespaced: boolean;
  /** Whether status is written only through the status subresource (and ignored by update). */
  readonly hasStatus: boolean;
  encode(obj: ApiObject): Uint8Array;
  /** Throws when the bytes do not decode. */
  decode(raw: Uint8Array): ApiObject;
  /** Fills in defaults; must be idempotent. */
  defaults(obj: ApiObject): ApiObject;
  /** Violations of the kind's rules; `old` is the current object on update. */
  validate(obj: ApiObject, old?: ApiObject): readonly FieldViolation[];
  /** Field values field selectors match (metadata.name, spec.nodeName, ...). */
  selectableFields(obj: ApiObject): Readonly<Record<string, string>>;
}

export interface RegistryDeps {
  readonly backend: Pick<Backend, 'proposeTxn' | 'range'>;
  readonly kinds: (kind: string) => KindHandler | undefined;
  /** Milliseconds since the epoch; creationTimestamp and deletionTimestamp come from it. */
  readonly now: () => number;
  readonly uid: () => string;
  /** A uniform integer in [0, n). */
  readonly randomInt: (n: number) => number;
}

export interface ObjectRef {
  readonly kind: string;
  readonly namespace?: string;
  readonly name: string;
}

export interface ListOptions {
  readonly namespace?: string;
  /** Keep only objects this accepts (label and field selectors, already parsed by the caller). */
  readonly filter?: (obj: ApiObject) => boolean;
  /** 0 = no limit. */
  readonly limit?: number;
  /** From a previous page's `continue`. */
  readonly continueToken?: string;
}

export interface ListResult {
  readonly items: readonly ApiObject[];
  readonly resourceVersion: string;
  /** Present when more items may follow; pass it back as continueToken. */
  readonly continueToken?: string;
  /** Items left after this page, when known cheaply (no filter). */
  readonly remainingItemCount?: number;
}

export interface DeleteOptions {
  /** undefined = the object's own (pods: terminationGracePeriodSeconds); 0 = now. */
  readonly gracePeriodSeconds?: number;
  readonly preconditionUid?: string;
  readonly preconditionResourceVersion?: string;
}

/** The outcome of a delete: gone, or still present (finalizers, or a pod given a grace period). */
export interface DeleteResult {
  readonly object: ApiObject;
  readonly deleted: boolean;
}

type Json = Record<string, unknown>;

function rfc3339(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

function withMeta(obj: ApiObject, meta: ObjectMeta): ApiObject {
  return { ...obj, metadata: meta };
}

function rvNumber(rv: string | undefined, field: string): number | undefined {
  if (rv === undefined || rv === '') return undefined;
  if (!/^[0-9]{1,16}$/.test(rv)) throw new ApiError(StatusReason.BadRequest, `${field}: "${rv}" is not a resourceVersion`, [{ field, description: 'must be a resourceVersion this API returned' }]);
  return Number(rv);
}

/**
 * The stored bytes behind objects the registry hands out: decoded from them (get, list) or just
 * written (create, update, bind). The API answers with these bytes instead of encoding the object
 * again. Objects are never mutated once built (every change makes a new one), so the bytes stay
 * the object's; the map lets go of them with the object.
 */
const storedBytesByObject = new WeakMap<ApiObject, Uint8Array>();

/** The stored bytes (no resourceVersion) of an object this registry returned, if it knows them. */
export function knownStoredBytes(obj: ApiObject): Uint8Array | undefined {
  return storedBytesByObject.get(obj);
}

function atRevision(obj: ApiObject, revision: number): ApiObject {
  return withMeta(obj, { ...obj.metadata, resourceVersion: String(revision) });
}

/** `obj` at `revision`, remembered as the object whose stored bytes are `bytes`. */
function withStoredBytes(obj: ApiObject, revision: number, bytes: Uint8Array): ApiObject {
  const result = atRevision(obj, revision);
  storedBytesByObject.set(result, bytes);
  return result;
}

/** JSON with object keys sorted, so two objects that differ only in key order compare equal. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value instanceof Uint8Array) return JSON.stringify(Buffer.from(value).toString('base64'));
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value as Json).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** The parts of an object a spec change is measured on: everything but metadata and status. */
function specPart(obj: ApiObject): string {
  const { metadata: _m, status: _s, apiVersion: _a, kind: _k, ...rest } = obj as unknown as Json;
  return canonicalJson(rest);
}

/** The whole object but its resourceVersion, canonically: what tells a no-op update. */
function contentOf(obj: ApiObject): string {
  const { resourceVersion: _rv, ...meta } = obj.metadata;
  return canonicalJson({ ...obj, metadata: meta });
}

interface ContinueToken {
  readonly rv: number;
  readonly key: string;
}

function encodeContinue(token: ContinueToken): string {
  return Buffer.from(JSON.stringify(token)).toString('base64url');
}

function decodeContinue(token: string, prefix: string): ContinueToken {
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as unknown;
    if (typeof parsed === 'object' && parsed !== null) {
      const { rv, key } = parsed as { rv?: unknown; key?: unknown };
      if (typeof rv === 'number' && Number.isSafeInteger(rv) && rv > 0 && typeof key === 'string' && key.startsWith(prefix)) return { rv, key };
    }
  } catch {
    // fall through to the error below
  }
  throw new ApiError(StatusReason.BadRequest, 'continue: not a continue token of this list', [{ field: 'continue', description: 'must be the continue value of a previous page of the same list' }]);
}

/**
 * At most this many namespaces have a liveness read in flight that later creates can share; past
 * it, a create reads the namespace on its own.
 */
export const MAX_SHARED_NAMESPACE_READS = 1024;

export class Registry {
  private readonly storage: ObjectStorage;
  /** The namespace reads in flight, by namespace; each entry is gone once its read settles. */
  private readonly namespaceReads = new Map<string, Promise<void>>();

  constructor(private readonly deps: RegistryDeps) {
    this.storage = new ObjectStorage(deps.backend);
  }

  handler(kind: string): KindHandler {
    const h = this.deps.kinds(kind);
    if (h === undefined) throw new ApiError(StatusReason.NotFound, `the server does not serve kind "${kind}"`, [{ field: 'kind', description: 'unknown kind' }]);
    return h;
  }

  /** Checks the namespace fits the kind's scope; returns the namespace to use ('' for cluster-scoped). */
  private scope(h: KindHandler, namespace: string | undefined, field = 'metadata.namespace'): string {
    if (h.namespaced) {
      if (namespace === undefined || namespace === '') throw new ApiError(StatusReason.BadRequest, `${h.kind} is namespaced: ${field} is required`, [{ field, description: 'required' }]);
      return namespace;
    }
    if (namespace !== undefined && namespace !== '') throw new ApiError(StatusReason.BadRequest, `${h.kind} is cluster-scoped: ${field} must be empty`, [{ field, description: 'must be empty for a cluster-scoped kind' }]);
    return '';
  }

  private key(h: KindHandler, namespace: string, name: string): string {
    return objectKey(h.plural, namespace, name);
  }

  /**
   * Decodes a stored value into the object clients see, resourceVersion filled in. `answer`: the
   * object goes back to the caller, so it remembers its stored bytes (knownStoredBytes).
   */
  materialize(h: KindHandler, value: StoredValue, answer = false): ApiObject {
    let obj: ApiObject;
    try {
      obj = h.decode(value.raw);
    } catch (err) {
      throw new ApiError(StatusReason.InternalError, `a stored ${h.kind} does not decode: ${(err as Error).message}`, [], undefined, { cause: err });
    }
    return answer ? withStoredBytes(obj, value.modRevision, value.raw) : atRevision(obj, value.modRevision);
  }

  /** The bytes stored for an object: resourceVersion is the key's mod revision, never stored. */
  private storedBytes(h: KindHandler, obj: ApiObject): Uint8Array {
    const { resourceVersion: _rv, ...meta } = obj.metadata;
    return h.encode(withMeta(obj, meta));
  }

  private validated(h: KindHandler, obj: ApiObject, old?: ApiObject): ApiObject {
    const defaulted = h.defaults(obj);
    const violations = h.validate(defaulted, old);
    if (violations.length > 0) throw invalid(h.kind, defaulted.metadata.name ?? defaulted.metadata.generateName ?? '', violations);
    return defaulted;
  }

  async create(input: ApiObject): Promise<ApiObject> {
    const h = this.handler(input.kind);
    const namespace = this.scope(h, input.metadata.namespace);
    const meta = input.metadata;
    const generate = (meta.name === undefined || meta.name === '') && meta.generateName !== undefined && meta.generateName !== '';
    if (!generate && (meta.name === undefined || meta.name === '')) {
      throw invalid(h.kind, '', [{ field: 'metadata.name', description: 'name or generateName is required' }]);
    }
    const attempts = generate ? MAX_GENERATE_NAME_ATTEMPTS : 1;
    for (let attempt = 1; ; attempt++) {
      const name = generate ? `${meta.generateName}${this.suffix()}` : meta.name!;
      const now = rfc3339(this.deps.now());
      const {
        resourceVersion: _rv,
        deletionTimestamp: _dt,
        deletionGracePeriodSeconds: _dg,
        ...kept
      } = meta;
      const fresh = withMeta(input, {
        ...kept,
        name,
        ...(h.namespaced ? { namespace } : {}),
        uid: this.deps.uid(),
        creationTimestamp: now,
        generation: 1,
      });
      const obj = this.validated(h, fresh);
      const requires = h.namespaced ? [objectKey('namespaces', '', namespace)] : [];
      if (h.namespaced) await this.requireLiveNamespace(namespace);
      const bytes = this.storedBytes(h, obj);
      const outcome = await this.storage.create(this.key(h, namespace, name), bytes, requires);
      if (outcome.ok) return withStoredBytes(obj, outcome.revision, bytes);
      if (outcome.current === undefined) throw notFound('namespaces', undefined, namespace);
      if (attempt >= attempts) {
        throw new ApiError(StatusReason.AlreadyExists, `${describeObject(h.plural, namespace, name)} already exists`);
      }
    }
  }

  /**
   * Refuses a create in a namespace that is being terminated. Concurrent creates in one namespace
   * (the items of a bulk call) share one read: it is a serializable read, so a read that started
   * a moment earlier is as good as one's own, and the create's compare still decides, linearizably,
   * that the namespace exists.
   */
  private requireLiveNamespace(namespace: string): Promise<void> {
    const shared = this.namespaceReads.get(namespace);
    if (shared !== undefined) return shared;
    const read = this.readLiveNamespace(namespace);
    if (this.namespaceReads.size < MAX_SHARED_NAMESPACE_READS) {
      this.namespaceReads.set(namespace, read);
      const forget = (): void => {
        this.namespaceReads.delete(namespace);
      };
      read.then(forget, forget);
    }
    return read;
  }

  private async readLiveNamespace(namespace: string): Promise<void> {
    const ns = await this.storage.get(objectKey('namespaces', '', namespace), true);
    if (ns === undefined) return; // the create's own compare decides, linearizably
    const obj = this.materialize(this.handler('Namespace'), ns);
    if (obj.metadata.deletionTimestamp !== undefined) {
      throw new ApiError(StatusReason.Forbidden, `namespace "${namespace}" is being terminated; no new objects may be created in it`);
    }
  }

  private suffix(): string {
    let s = '';
    for (let i = 0; i < GENERATED_SUFFIX_LENGTH; i++) s += SUFFIX_ALPHABET[this.deps.randomInt(SUFFIX_ALPHABET.length)];
    return s;
  }

  async get(ref: ObjectRef, serializable = false): Promise<ApiObject> {
    const h = this.handler(ref.kind);
    const namespace = this.scope(h, ref.namespace, 'namespace');
    const value = await this.storage.get(this.key(h, namespace, ref.name), serializable);
    if (value === undefined) throw notFound(h.plural, namespace, ref.name);
    return this.materialize(h, value, true);
  }

  /**
   * A consistent list from the store. Pages read at the first page's revision, so a paginated list
   * is one snapshot; once that revision is compacted the next page is Expired (list again).
   */
  async list(kind: string, options: ListOptions = {}): Promise<ListResult> {
    const h = this.handler(kind);
    const namespace = h.namespaced ? (options.namespace ?? '') : this.scope(h, options.namespace, 'namespace');
    const prefix = kindPrefix(h.plural, namespace);
    const limit = options.limit === undefined || options.limit <= 0 ? MAX_LIST_LIMIT : Math.min(options.limit, MAX_LIST_LIMIT);
    const token = options.continueToken === undefined || options.continueToken === '' ? undefined : decodeContinue(options.continueToken, prefix);
    let revision = token?.rv ?? 0;
    let afterKey = token?.key;
    const items: ApiObject[] = [];
    for (;;) {
      const page = await this.storage.listPage(prefix, {
        ...(afterKey !== undefined ? { afterKey } : {}),
        revision,
        limit: Math.min(limit - items.length + 1, 1_000),
      });
      // A range's header carries the store's current revision; a list is read at its first page's.
      if (revision === 0) revision = page.revision;
      for (const item of page.items) {
        const obj = this.materialize(h, item, true);
        if (options.filter !== undefined && !options.filter(obj)) {
          afterKey = item.key;
          continue;
        }
        if (items.length === limit) {
          return { items, resourceVersion: String(revision), continueToken: encodeContinue({ rv: revision, key: afterKey! }) };
        }
        items.push(obj);
        afterKey = item.key;
      }
      if (!page.more) return { items, resourceVersion: String(revision) };
    }
  }

  /**
   * Replaces an object. With metadata.resourceVersion, the write happens only if the object is still
   * at that version (else Conflict); without, it is read-modify-write retried on races. For a kind
   * with a status subresource, update keeps the stored status; updateStatus keeps everything else.
   */
  async update(input: ApiObject, subresource: 'main' | 'status' = 'main'): Promise<ApiObject> {
    const h = this.handler(input.kind);
    const namespace = this.scope(h, input.metadata.namespace);
    const name = input.metadata.name;
    if (name === undefined || name === '') throw invalid(h.kind, '', [{ field: 'metadata.name', description: 'required' }]);
    if (subresource === 'status' && !h.hasStatus) throw new ApiError(StatusReason.NotFound, `${h.kind} has no status subresource`);
    const expected = rvNumber(input.metadata.resourceVersion, 'metadata.resourceVersion');
    return this.readModifyWrite(
      h,
      namespace,
      name,
      expected,
      (current) => (subresource === 'status' ? this.mergeStatus(current, input) : this.mergeMain(h, current, input)),
      subresource === 'main',
    );
  }

  /** RFC 7386 JSON merge patch of an object (or of its status subresource). */
  async patch(ref: ObjectRef, patch: unknown, subresource: 'main' | 'status', parse: (json: unknown) => ApiObject): Promise<ApiObject> {
    const h = this.handler(ref.kind);
    const namespace = this.scope(h, ref.namespace, 'namespace');
    if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) {
      throw new ApiError(StatusReason.BadRequest, 'a merge patch must be a JSON object', [{ field: 'patch', description: 'must be a JSON object' }]);
    }
    const pinned = (patch as { metadata?: { resourceVersion?: unknown } }).metadata?.resourceVersion;
    const expected = typeof pinned === 'string' ? rvNumber(pinned, 'metadata.resourceVersion') : undefined;
    return this.readModifyWrite(h, namespace, ref.name, expected, (current) => {
      const patched = parse(mergePatch(current as unknown as Json, patch as Json));
      if (patched.metadata.name !== ref.name || (patched.metadata.namespace ?? '') !== namespace) {
        throw invalid(h.kind, ref.name, [{ field: 'metadata.name', description: 'a patch may not change the name or namespace' }]);
      }
      return subresource === 'status' ? this.mergeStatus(current, patched) : this.mergeMain(h, current, patched);
    }, subresource === 'main');
  }

  /** The object as update writes it: server-owned metadata from current, status kept when it is a subresource. */
  private mergeMain(h: KindHandler, current: ApiObject, input: ApiObject): ApiObject {
    const c = current.metadata;
    const meta: ObjectMeta = {
      ...input.metadata,
      name: c.name,
      ...(c.namespace !== undefined ? { namespace: c.namespace } : {}),
      uid: c.uid,
      creationTimestamp: c.creationTimestamp,
      generation: c.generation,
      ...(c.deletionTimestamp !== undefined ? { deletionTimestamp: c.deletionTimestamp } : {}),
      ...(c.deletionGracePeriodSeconds !== undefined ? { deletionGracePeriodSeconds: c.deletionGracePeriodSeconds } : {}),
    };
    const { deletionTimestamp: _dt, deletionGracePeriodSeconds: _dg, ...metaNoDeletion } = meta;
    const next = withMeta(input, c.deletionTimestamp === undefined ? metaNoDeletion : meta) as unknown as Json;
    if (h.hasStatus) {
      const status = (current as unknown as Json).status;
      if (status === undefined) delete next.status;
      else next.status = status;
    }
    return next as unknown as ApiObject;
  }

  private mergeStatus(current: ApiObject, input: ApiObject): ApiObject {
    const next = { ...(current as unknown as Json) };
    const status = (input as unknown as Json).status;
    if (status === undefined) delete next.status;
    else next.status = status;
    return next as unknown as ApiObject;
  }

  private async readModifyWrite(
    h: KindHandler,
    namespace: string,
    name: string,
    expected: number | undefined,
    modify: (current: ApiObject) => ApiObject,
    /** False for the status subresource, which keeps the stored spec: no generation check needed. */
    specMayChange = true,
  ): Promise<ApiObject> {
    const key = this.key(h, namespace, name);
    let value = await this.readForWrite(key, expected);
    for (let attempt = 1; ; attempt++) {
      if (value === undefined) throw notFound(h.plural, namespace, name);
      if (expected !== undefined && value.modRevision !== expected) throw this.conflict(h, namespace, name, expected, value.modRevision);
      const current = this.materialize(h, value);
      // Through the codec and back: the object as it will read, so comparisons see only real changes.
      let bytes = this.storedBytes(h, this.validated(h, modify(current), current));
      let next = this.materialize(h, { raw: bytes, modRevision: value.modRevision, createRevision: 0 });
      if (specMayChange && specPart(next) !== specPart(current)) {
        next = withMeta(next, { ...next.metadata, generation: (current.metadata.generation ?? 1) + 1 });
        bytes = this.storedBytes(h, next);
      }
      // An update that changes nothing is not written (Kubernetes answers with the current version).
      // Equal bytes are the same object (Kubernetes compares the encodings too); bytes of the same
      // length may still be the same object with its map entries (labels, annotations) reordered.
      if (bytes.byteLength === value.raw.byteLength && (Buffer.compare(bytes, value.raw) === 0 || contentOf(next) === contentOf(current))) return current;
      const finished = next.metadata.deletionTimestamp !== undefined && (next.metadata.finalizers ?? []).length === 0 && !isGracefulPod(h, next);
      const outcome = finished ? await this.storage.compareAndDelete(key, value.modRevision) : await this.storage.compareAndPut(key, bytes, value.modRevision);
      if (outcome.ok) return finished ? atRevision(next, outcome.revision) : withStoredBytes(next, outcome.revision, bytes);
      if (expected !== undefined) {
        if (outcome.current === undefined) throw notFound(h.plural, namespace, name);
        throw this.conflict(h, namespace, name, expected, outcome.current.modRevision);
      }
      if (attempt >= MAX_UPDATE_ATTEMPTS) throw this.conflict(h, namespace, name, value.modRevision, outcome.current?.modRevision ?? 0);
      value = outcome.current;
    }
  }

  /**
   * The current value for a read-modify-write. This master's own applied state comes first: the
   * write's compare on the mod revision catches a stale read, and a failed compare answers with the
   * value current at the write, so staleness costs a retry, never a wrong write. The linearizable
   * read (a Raft read index) is needed only when the local state cannot decide: the key is missing
   * here, or older than the resourceVersion the caller names. Local state never runs ahead of the
   * log, so a local version newer than the caller's is a real Conflict.
   */
  private async readForWrite(key: string, expected?: number): Promise<StoredValue | undefined> {
    const local = await this.storage.get(key, true);
    if (local !== undefined && (expected === undefined || local.modRevision >= expected)) return local;
    return this.storage.get(key);
  }

  private conflict(h: KindHandler, namespace: string, name: string, expected: number, actual: number): ApiError {
    return new ApiError(
      StatusReason.Conflict,
      `Operation cannot be fulfilled on ${describeObject(h.plural, namespace, name)}: the object has been modified (resourceVersion ${expected} is stale; it is now ${actual}); please apply your changes to the latest version and try again`,
      [],
      String(actual),
    );
  }

  /**
   * Deletes an object. With finalizers it is only marked (deletionTimestamp) and goes when the last
   * finalizer is removed. A pod bound to a node gets a grace period: it is marked, its node's agent
   * stops it, and the agent's delete with grace 0 removes it.
   */
  async delete(ref: ObjectRef, options: DeleteOptions = {}): Promise<DeleteResult> {
    const h = this.handler(ref.kind);
    const namespace = this.scope(h, ref.namespace, 'namespace');
    const key = this.key(h, namespace, ref.name);
    const uidPin = options.preconditionUid;
    const rvPin = rvNumber(options.preconditionResourceVersion, 'preconditions.resourceVersion');
    if (options.gracePeriodSeconds !== undefined && (!Number.isSafeInteger(options.gracePeriodSeconds) || options.gracePeriodSeconds < 0)) {
      throw new ApiError(StatusReason.BadRequest, 'gracePeriodSeconds must be a non-negative integer', [{ field: 'gracePeriodSeconds', description: 'must be >= 0' }]);
    }
    for (let attempt = 1; ; attempt++) {
      const value = await this.readForWrite(key, rvPin);
      if (value === undefined) throw notFound(h.plural, namespace, ref.name);
      const current = this.materialize(h, value);
      if (uidPin !== undefined && uidPin !== '' && current.metadata.uid !== uidPin) {
        throw new ApiError(StatusReason.Conflict, `Precondition failed: UID in precondition: ${uidPin}, UID in object meta: ${current.metadata.uid ?? ''}`);
      }
      if (rvPin !== undefined && value.modRevision !== rvPin) throw this.conflict(h, namespace, ref.name, rvPin, value.modRevision);

      const marked = this.deletionMark(h, current, options.gracePeriodSeconds);
      const outcome =
        marked === undefined
          ? await this.storage.compareAndDelete(key, value.modRevision)
          : marked === current
            ? ({ ok: true, revision: value.modRevision } as const)
            : await this.storage.compareAndPut(key, this.storedBytes(h, marked), value.modRevision);
      if (outcome.ok) {
        if (marked === undefined) return { object: withMeta(current, { ...current.metadata, resourceVersion: String(outcome.revision) }), deleted: true };
        return { object: withMeta(marked, { ...marked.metadata, resourceVersion: String(outcome.revision) }), deleted: false };
      }
      if (outcome.current === undefined) throw notFound(h.plural, namespace, ref.name);
      if (attempt >= MAX_UPDATE_ATTEMPTS) throw this.conflict(h, namespace, ref.name, value.modRevision, outcome.current.modRevision);
    }
  }

  /** The object marked for deletion, the same object when it is already marked as asked, or undefined to delete now. */
  private deletionMark(h: KindHandler, current: ApiObject, graceRequested: number | undefined): ApiObject | undefined {
    const meta = current.metadata;
    const finalizers = meta.finalizers ?? [];
    const nowMs = this.deps.now();
    let grace = 0;
    if (h.kind === 'Pod') {
      const spec = (current as unknown as { spec?: { nodeName?: string; terminationGracePeriodSeconds?: number } }).spec;
      const bound = spec?.nodeName !== undefined && spec.nodeName !== '';
      const podPhase = (current as unknown as { status?: { phase?: string } }).status?.phase;
      const finishedPhase = podPhase === 'Succeeded' || podPhase === 'Failed';
      grace = bound && !finishedPhase ? (graceRequested ?? spec?.terminationGracePeriodSeconds ?? 30) : 0;
      // A grace period may shorten an earlier one, never lengthen it (as Kubernetes does).
      if (meta.deletionGracePeriodSeconds !== undefined) grace = Math.min(grace, meta.deletionGracePeriodSeconds);
    }
    if (h.kind === 'Namespace') {
      // A namespace is Terminating until its contents are gone (NamespaceLifecycle removes it then).
      if (meta.deletionTimestamp !== undefined) return current;
      const status = (current as unknown as { status?: Record<string, unknown> }).status ?? {};
      return { ...withMeta(current, { ...meta, deletionTimestamp: rfc3339(nowMs), deletionGracePeriodSeconds: 0 }), status: { ...status, phase: 'Terminating' } } as unknown as ApiObject;
    }
    if (finalizers.length === 0 && grace === 0) return undefined;
    if (meta.deletionTimestamp !== undefined && (meta.deletionGracePeriodSeconds ?? 0) === grace) return current;
    return withMeta(current, {
      ...meta,
      deletionTimestamp: rfc3339(nowMs + grace * 1000),
      deletionGracePeriodSeconds: grace,
    });
  }

  /**
   * Binds a pod to a node (the scheduler's Binding): sets spec.nodeName once and the PodScheduled
   * condition. A pod already bound, or being deleted, is a Conflict.
   */
  async bind(ref: { namespace: string; name: string; uid?: string }, nodeName: string): Promise<ApiObject> {
    const h = this.handler('Pod');
    const namespace = this.scope(h, ref.namespace, 'namespace');
    if (nodeName === '') throw new ApiError(StatusReason.Invalid, 'binding: target node name is required', [{ field: 'target.name', description: 'required' }]);
    const key = this.key(h, namespace, ref.name);
    for (let attempt = 1; ; attempt++) {
      const value = await this.readForWrite(key);
      if (value === undefined) throw notFound('pods', namespace, ref.name);
      const current = this.materialize(h, value) as unknown as Json & ApiObject;
      if (ref.uid !== undefined && ref.uid !== '' && ref.uid !== current.metadata.uid) {
        throw new ApiError(StatusReason.Conflict, `Precondition failed: UID in precondition: ${ref.uid}, UID in object meta: ${current.metadata.uid ?? ''}`);
      }
      const spec = (current.spec ?? {}) as Json;
      if (typeof spec.nodeName === 'string' && spec.nodeName !== '') {
        throw new ApiError(StatusReason.Conflict, `Operation cannot be fulfilled on pods/binding "${ref.name}": pod ${ref.name} is already assigned to node "${spec.nodeName}"`);
      }
      if (current.metadata.deletionTimestamp !== undefined) {
        throw new ApiError(StatusReason.Conflict, `pod ${ref.name} is being deleted, cannot be assigned to a host`);
      }
      const status = (current.status ?? {}) as Json;
      const conditions = ((status.conditions ?? []) as Json[]).filter((c) => c.type !== 'PodScheduled');
      conditions.push({ type: 'PodScheduled', status: 'True', lastTransitionTime: rfc3339(this.deps.now()) });
      const next = { ...current, spec: { ...spec, nodeName }, status: { ...status, conditions } } as unknown as ApiObject;
      const bytes = this.storedBytes(h, next);
      const outcome = await this.storage.compareAndPut(key, bytes, value.modRevision);
      if (outcome.ok) return withStoredBytes(next, outcome.revision, bytes);
      if (attempt >= MAX_UPDATE_ATTEMPTS) throw this.conflict(h, namespace, ref.name, value.modRevision, outcome.current?.modRevision ?? 0);
    }
  }

  /** Whether any object of a namespaced kind is left in the namespace. */
  async namespaceHasObjects(namespace: string, kinds: readonly string[]): Promise<boolean> {
    for (const kind of kinds) {
      const h = this.handler(kind);
      if (!h.namespaced) continue;
      const page = await this.storage.listPage(kindPrefix(h.plural, namespace), { limit: 1 });
      if (page.items.length > 0) return true;
    }
    return false;
  }

  /** Removes a Terminating namespace's own key, if it is still at the version read. Resolves whether it is gone. */
  async removeTerminatedNamespace(name: string): Promise<boolean> {
    const h = this.handler('Namespace');
    const key = this.key(h, '', name);
    const value = await this.storage.get(key);
    if (value === undefined) return true;
    if (this.materialize(h, value).metadata.deletionTimestamp === undefined) return false;
    return (await this.storage.compareAndDelete(key, value.modRevision)).ok;
  }

  /** Creates the namespace unless it exists (the masters' built-in namespaces). */
  async ensureNamespace(name: string): Promise<void> {
    try {
      await this.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
    } catch (err) {
      if (!(err instanceof ApiError && err.reason === StatusReason.AlreadyExists)) throw err;
    }
  }
}

/** A pod marked with a grace period stays until its agent deletes it with grace 0. */
function isGracefulPod(h: KindHandler, obj: ApiObject): boolean {
  return h.kind === 'Pod' && (obj.metadata.deletionGracePeriodSeconds ?? 0) > 0;
}

/** RFC 7386: objects merge recursively, null deletes, anything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch;
  const out: Json = typeof target === 'object' && target !== null && !Array.isArray(target) ? { ...(target as Json) } : {};
  for (const [k, v] of Object.entries(patch as Json)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}
