// The API server one master runs: the Resources service (proto/api/service.proto) on the RPC layer,
// over the registry (writes and consistent reads through the store) and one watch cache per kind
// (watches, and lists at resourceVersion "0"). Any master serves any call: writes go through Raft
// wherever they arrive, and each master's caches follow its own applied state.
//
// Errors leave as RpcErrors: the registry's Kubernetes reason travels beside a gRPC-style code
// (statusOf), and field violations travel as violations.

import { randomInt, randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ApiObject } from '../proto/api/object.js';
import type { Clock } from '../raft/driver/raft-node.js';
import type { Backend } from '../store/backend.js';
import type { Logger } from '../store/logger.js';
import type { KeyValue } from '../store/mvcc/responses.js';
import {
  ApiMethods,
  MAX_BULK_ITEMS,
  type BindRequestMsg,
  type BulkResultMsg,
  type ItemErrorMsg,
  type ListRequestMsg,
  type LogChunkMsg,
  type LogsRequestMsg,
  type StoredObjectMsg,
  type WatchEventMsg,
  type WatchRequestMsg,
} from './api-methods.js';
import { COMPACTION_INTERVAL_MS, Compactor } from './compactor.js';
import { NamespaceLifecycle } from './namespace-lifecycle.js';
import { ApiError, StatusReason, invalid } from './registry/errors.js';
import { fromJson } from './resources/from-json.js';
import { AgentLogsError, agentEndpointOf, logsContainer, streamAgentLogs } from './logs-proxy.js';
import type { Node, Pod } from '../proto/api/types.js';
import { knownStoredBytes, Registry, type KindHandler } from './registry/registry.js';
import { kindPrefix, utf8 } from './registry/storage.js';
import { parseFieldSelector, parseLabelSelector, SelectorParseError, UnsupportedFieldError } from './resources/selectors.js';
import { RpcServer, isRpcUpgrade, type CallContext, type TypedServerStreamSink } from './rpc/server.js';
import { RpcError, StatusCode } from './rpc/status.js';
import { CacheNotReadyError, CacheReinitializedError, CacheStoppedError, ResourceExpiredError, TooLargeResourceVersionError, WatcherTooSlowError } from './watch/errors.js';
import type { CacheFilter, Selectable } from './watch/events.js';
import { WatchCache } from './watch/watch-cache.js';

/** How long a watch waits for a full connection buffer to drain before it is closed as slow. */
export const WATCH_DRAIN_TIMEOUT_MS = 5_000;

/** Bulk items written at once; the rest wait (bounds one bulk call's in-flight proposals). */
export const BULK_CONCURRENCY = 256;

/** Namespaces every cluster has. */
export const BUILTIN_NAMESPACES = ['default', 'kube-system', 'kube-node-lease'] as const;

/** A kind the server serves: the registry's handler plus what selectors and the cache need. */
export interface ServedKind extends KindHandler {
  /** Field names a field selector may use (selectableFields' keys). */
  readonly selectableFieldNames: readonly string[];
  /** The object with at least its labels and selectable fields (a cheaper, partial decode); defaults to decode. */
  decodeSelectable?(raw: Uint8Array): ApiObject;
}

export interface ApiServerOptions {
  readonly backend: Pick<Backend, 'propose' | 'proposeTxn' | 'range' | 'watch' | 'header'>;
  readonly kinds: readonly ServedKind[];
  /** Bearer token → user name. Undefined: no authentication (logged loudly at start). */
  readonly tokens: ReadonlyMap<string, string> | undefined;
  readonly masterName: string;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly now?: () => number;
  readonly uid?: () => string;
  readonly randomInt?: (n: number) => number;
  /** How often the store's history is compacted (one master wins each round); 0 = never. */
  readonly compactionIntervalMs?: number;
}

const REASON_CODES: Record<StatusReason, StatusCode> = {
  NotFound: StatusCode.NOT_FOUND,
  AlreadyExists: StatusCode.ALREADY_EXISTS,
  Conflict: StatusCode.ABORTED,
  Invalid: StatusCode.INVALID_ARGUMENT,
  BadRequest: StatusCode.INVALID_ARGUMENT,
  Expired: StatusCode.OUT_OF_RANGE,
  Forbidden: StatusCode.FAILED_PRECONDITION,
  ServiceUnavailable: StatusCode.UNAVAILABLE,
  Timeout: StatusCode.DEADLINE_EXCEEDED,
  TooManyRequests: StatusCode.RESOURCE_EXHAUSTED,
  RequestEntityTooLarge: StatusCode.RESOURCE_EXHAUSTED,
  TooLargeResourceVersion: StatusCode.UNAVAILABLE,
  SlowWatcher: StatusCode.RESOURCE_EXHAUSTED,
  InternalError: StatusCode.INTERNAL,
};

/** Any error of a handler as the RpcError the client gets. */
export function statusOf(err: unknown): RpcError {
  if (err instanceof RpcError) return err;
  if (err instanceof ApiError) {
    return new RpcError(REASON_CODES[err.reason], err.message, {
      reason: err.reason,
      violations: err.violations,
      ...(err.resourceVersion !== undefined ? { metadata: { resourceVersion: err.resourceVersion } } : {}),
      outcomeUnknown: err.reason === StatusReason.Timeout,
    });
  }
  if (err instanceof SelectorParseError || err instanceof UnsupportedFieldError) {
    return new RpcError(StatusCode.INVALID_ARGUMENT, err.message, { reason: StatusReason.BadRequest });
  }
  if (err instanceof ResourceExpiredError) {
    return new RpcError(StatusCode.OUT_OF_RANGE, `${err.message}; list again`, { reason: StatusReason.Expired });
  }
  if (err instanceof WatcherTooSlowError || err instanceof CacheReinitializedError || err instanceof CacheStoppedError) {
    return new RpcError(StatusCode.RESOURCE_EXHAUSTED, `${err.message}; watch again from resourceVersion ${err.lastRevision}`, {
      reason: StatusReason.SlowWatcher,
      metadata: { resourceVersion: String(err.lastRevision) },
    });
  }
  if (err instanceof TooLargeResourceVersionError || err instanceof CacheNotReadyError) {
    return new RpcError(StatusCode.UNAVAILABLE, err.message, { reason: StatusReason.TooLargeResourceVersion });
  }
  return new RpcError(StatusCode.INTERNAL, 'internal error', { cause: err });
}

function itemError(err: unknown): ItemErrorMsg {
  const e = statusOf(err);
  return { code: e.code, reason: e.reason ?? '', message: e.message, violations: e.violations };
}

function rvParam(rv: string, field: string): number | undefined {
  if (rv === '' || rv === '0') return undefined;
  if (!/^[0-9]{1,16}$/.test(rv)) throw new ApiError(StatusReason.BadRequest, `${field}: "${rv}" is not a resourceVersion`, [{ field, description: 'must be a resourceVersion this API returned' }]);
  return Number(rv);
}

/** Runs fn over items with at most `limit` in flight; results in order. */
async function mapBounded<I, R>(items: readonly I[], limit: number, fn: (item: I) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

export class ApiServer {
  readonly rpc: RpcServer;
  readonly registry: Registry;
  private readonly kinds = new Map<string, ServedKind>();
  private readonly caches = new Map<string, WatchCache<ApiObject>>();
  private readonly logger: Logger;
  private readonly compactor: Compactor | undefined;
  private readonly namespaces: NamespaceLifecycle;
  private closed = false;

  constructor(private readonly opts: ApiServerOptions) {
    this.logger = opts.logger;
    for (const k of opts.kinds) this.kinds.set(k.kind, k);
    this.registry = new Registry({
      backend: opts.backend,
      kinds: (kind) => this.kinds.get(kind),
      now: opts.now ?? (() => Date.now()),
      uid: opts.uid ?? (() => randomUUID()),
      randomInt: opts.randomInt ?? ((n) => randomInt(n)),
    });
    const tokens = opts.tokens;
    if (tokens === undefined) this.logger.warn('API authentication is OFF: no API token configured; any client may call the API');
    this.rpc = new RpcServer({
      authenticate: (token) => {
        if (tokens === undefined) return { name: 'anonymous' };
        const user = token === undefined ? undefined : tokens.get(token);
        return user === undefined || token === undefined ? undefined : { name: user, credential: token };
      },
      logger: opts.logger,
    });
    for (const k of opts.kinds) {
      const indexes: Record<string, (obj: Selectable) => string | undefined> = {
        'metadata.namespace': (obj) => obj.namespace,
      };
      if (k.selectableFieldNames.includes('spec.nodeName')) indexes['spec.nodeName'] = (obj) => obj.fields['spec.nodeName'];
      this.caches.set(
        k.kind,
        new WatchCache<ApiObject>({
          source: opts.backend,
          prefix: utf8(kindPrefix(k.plural)),
          typeMeta: { apiVersion: k.apiVersion, kind: k.kind },
          decode: (kv) => k.decode(kv.value),
          ...(k.decodeSelectable === undefined ? {} : { decodeForSelection: (kv: KeyValue) => k.decodeSelectable!(kv.value) }),
          selectable: (obj) => ({ namespace: obj.metadata.namespace, labels: obj.metadata.labels, fields: k.selectableFields(obj) }),
          indexes,
          clock: opts.clock,
          logger: opts.logger,
        }),
      );
    }
    const interval = opts.compactionIntervalMs ?? COMPACTION_INTERVAL_MS;
    this.compactor = interval > 0 ? new Compactor(opts.backend, opts.clock, opts.logger, interval) : undefined;
    this.namespaces = new NamespaceLifecycle(this.registry, opts.kinds.map((k) => k.kind), opts.clock, opts.logger);
    this.register();
  }

  /** Starts the caches and creates the built-in namespaces, in the background (the store may have no leader yet). */
  start(): void {
    for (const cache of this.caches.values()) void cache.start();
    void this.ensureNamespaces();
    this.compactor?.start();
    this.namespaces.start();
  }

  private async ensureNamespaces(): Promise<void> {
    for (let attempt = 0; !this.closed; attempt++) {
      try {
        for (const ns of BUILTIN_NAMESPACES) await this.registry.ensureNamespace(ns);
        return;
      } catch (err) {
        if (attempt % 10 === 9) this.logger.warn('built-in namespaces not created yet; retrying', { error: (err as Error).message });
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  handlesUpgrade(request: IncomingMessage): boolean {
    return isRpcUpgrade(request);
  }

  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.rpc.handleUpgrade(request, socket, head);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.compactor?.stop();
    this.namespaces.stop();
    await this.rpc.close();
    for (const cache of this.caches.values()) cache.stop();
  }

  cache(kind: string): WatchCache<ApiObject> | undefined {
    return this.caches.get(kind);
  }

  private served(kind: string): ServedKind {
    const k = this.kinds.get(kind);
    if (k === undefined) throw new ApiError(StatusReason.NotFound, `the server does not serve kind "${kind}"`, [{ field: 'kind', description: 'unknown kind' }]);
    return k;
  }

  private decodeRequestObject(kind: string, bytes: Uint8Array): ApiObject {
    const k = this.served(kind);
    let obj: ApiObject;
    try {
      obj = k.decode(bytes);
    } catch (err) {
      throw new ApiError(StatusReason.BadRequest, `the ${kind} in the request does not decode: ${(err as Error).message}`, [{ field: 'object', description: 'does not decode' }]);
    }
    return { ...obj, apiVersion: k.apiVersion, kind: k.kind };
  }

  private stored(kind: string, obj: ApiObject): StoredObjectMsg {
    const { resourceVersion, ...meta } = obj.metadata;
    const raw = knownStoredBytes(obj) ?? this.served(kind).encode({ ...obj, metadata: meta });
    return { raw, resourceVersion: resourceVersion ?? '0' };
  }

  /** Wraps a handler so every error leaves as an RpcError. */
  private guard<Req, Res>(fn: (req: Req, ctx: CallContext) => Promise<Res>): (req: Req, ctx: CallContext) => Promise<Res> {
    return async (req, ctx) => {
      try {
        return await fn(req, ctx);
      } catch (err) {
        const e = statusOf(err);
        if (e.code === StatusCode.INTERNAL) this.logger.error('API call failed', { method: ctx.method, error: (err as Error).message, stack: (err as Error).stack });
        throw e;
      }
    };
  }

  /**
   * A request's namespace, label and field selectors as one predicate over objects (for the store's
   * reads) and one over what the watch cache keeps of them, and the cache index that narrows it. The
   * object's selectable fields are computed only when a field selector needs them.
   */
  private filterOf(k: ServedKind, req: { namespace: string; labelSelector: string; fieldSelector: string }): {
    /** The whole filter, for reads from the store. */
    predicate: (obj: ApiObject) => boolean;
    /** The cache's filter: an index, and what is left to check once it has matched (undefined: nothing). */
    cacheFilter: CacheFilter;
  } {
    const labels = parseLabelSelector(req.labelSelector);
    const fields = parseFieldSelector(req.fieldSelector, k.selectableFieldNames, k.kind);
    const namespace = k.namespaced ? req.namespace : '';
    const noLabels = labels.requirements.length === 0;
    const node = fields.requiredEquals().get('spec.nodeName');
    const nodeIndexed = node !== undefined && k.selectableFieldNames.includes('spec.nodeName');
    // A node agent's `spec.nodeName=N` is answered by the index alone: no per-event field check.
    const onlyNodeField = nodeIndexed && fields.requirements.length === 1;
    const checkFields = fields.requirements.length > 0;
    const predicate = (obj: ApiObject): boolean =>
      (namespace === '' || obj.metadata.namespace === namespace) && (noLabels || labels.matches(obj.metadata.labels)) && (!checkFields || fields.matches(k.selectableFields(obj)));
    const cachePredicate = (withNamespace: boolean, withFields: boolean): CacheFilter['predicate'] =>
      !withNamespace && noLabels && !withFields
        ? undefined
        : (obj: Selectable): boolean => (!withNamespace || obj.namespace === namespace) && (noLabels || labels.matches(obj.labels)) && (!withFields || fields.matches(obj.fields));
    if (nodeIndexed) return { predicate, cacheFilter: { index: { name: 'spec.nodeName', value: node }, predicate: cachePredicate(namespace !== '', !onlyNodeField) } };
    if (namespace !== '') return { predicate, cacheFilter: { index: { name: 'metadata.namespace', value: namespace }, predicate: cachePredicate(false, checkFields) } };
    return { predicate, cacheFilter: { predicate: cachePredicate(false, checkFields) } };
  }

  private async list(req: ListRequestMsg): Promise<{ items: StoredObjectMsg[]; resourceVersion: string; continue: string }> {
    const k = this.served(req.kind);
    const { predicate, cacheFilter } = this.filterOf(k, req);
    if (req.resourceVersion === '0') {
      const listed = this.caches.get(k.kind)!.list(cacheFilter);
      const items = req.limit > 0 ? listed.items.slice(0, req.limit) : listed.items;
      // The cache's bytes are what the store holds: stored() without decoding and encoding again.
      return { items: items.map((c) => ({ raw: c.raw.value, resourceVersion: String(c.raw.modRevision) })), resourceVersion: String(listed.revision), continue: '' };
    }
    if (req.resourceVersion !== '') rvParam(req.resourceVersion, 'resourceVersion');
    const r = await this.registry.list(k.kind, {
      namespace: req.namespace,
      filter: predicate,
      limit: req.limit,
      ...(req.continue !== '' ? { continueToken: req.continue } : {}),
    });
    return { items: r.items.map((o) => this.stored(k.kind, o)), resourceVersion: r.resourceVersion, continue: r.continueToken ?? '' };
  }

  private async bind(b: BindRequestMsg): Promise<StoredObjectMsg> {
    return this.stored('Pod', await this.registry.bind({ namespace: b.namespace, name: b.name, ...(b.uid !== '' ? { uid: b.uid } : {}) }, b.nodeName));
  }

  private async bulk<I>(items: readonly I[], fn: (item: I) => Promise<StoredObjectMsg>): Promise<{ results: BulkResultMsg[] }> {
    if (items.length > MAX_BULK_ITEMS) {
      throw new ApiError(StatusReason.BadRequest, `a bulk request carries at most ${MAX_BULK_ITEMS} items, not ${items.length}; split it`, [{ field: 'objects', description: `at most ${MAX_BULK_ITEMS} items` }]);
    }
    const results = await mapBounded(items, BULK_CONCURRENCY, async (item): Promise<BulkResultMsg> => {
      try {
        return { object: await fn(item) };
      } catch (err) {
        return { error: itemError(err) };
      }
    });
    return { results };
  }

  private async watch(req: WatchRequestMsg, ctx: CallContext, sink: TypedServerStreamSink<WatchEventMsg>): Promise<void> {
    const k = this.served(req.kind);
    const { cacheFilter } = this.filterOf(k, req);
    const fromRevision = rvParam(req.resourceVersion, 'resourceVersion');
    const cache = this.caches.get(k.kind)!;
    const watcher = cache.watch({
      ...(fromRevision !== undefined ? { fromRevision } : {}),
      filter: cacheFilter,
      bookmarks: req.allowBookmarks,
    });
    const stop = (): void => watcher.cancel();
    ctx.signal.addEventListener('abort', stop, { once: true });
    const empty = new Uint8Array(0);
    try {
      for (;;) {
        const next = await watcher.next();
        if (next.done === true || ctx.signal.aborted) return;
        for (const ev of next.value) {
          const msg: { type: string; object: StoredObjectMsg } =
            ev.type === 'BOOKMARK'
              ? { type: ev.type, object: { raw: empty, resourceVersion: String(ev.revision) } }
              : { type: ev.type, object: { raw: ev.raw.value, resourceVersion: String(ev.resourceVersion) } };
          while (!sink.send(msg)) {
            if (ctx.signal.aborted) return;
            const drained = await Promise.race([sink.drained(), new Promise<boolean>((r) => setTimeout(() => r(false), WATCH_DRAIN_TIMEOUT_MS).unref())]);
            if (!drained) {
              if (ctx.signal.aborted) return;
              throw new RpcError(StatusCode.RESOURCE_EXHAUSTED, `watcher too slow: the connection did not drain within ${WATCH_DRAIN_TIMEOUT_MS} ms; watch again from resourceVersion ${msg.object.resourceVersion}`, {
                reason: StatusReason.SlowWatcher,
                metadata: { resourceVersion: msg.object.resourceVersion },
              });
            }
          }
        }
      }
    } finally {
      ctx.signal.removeEventListener('abort', stop);
      watcher.cancel();
    }
  }

  /** Streams a container's output from the agent of the pod's node, with the caller's own token. */
  private async logs(req: LogsRequestMsg, ctx: CallContext, sink: TypedServerStreamSink<LogChunkMsg>): Promise<void> {
    const pod = (await this.registry.get({ kind: 'Pod', namespace: req.namespace, name: req.pod })) as Pod;
    const nodeName = pod.spec?.nodeName ?? '';
    if (nodeName === '') throw new ApiError(StatusReason.BadRequest, `pod ${req.namespace}/${req.pod} is not bound to a node yet`);
    const chosen = logsContainer(pod, req.container);
    if ('problem' in chosen) throw new ApiError(StatusReason.BadRequest, chosen.problem, [{ field: 'container', description: chosen.problem }]);
    const { container } = chosen;
    const node = (await this.registry.get({ kind: 'Node', name: nodeName })) as Node;
    const endpoint = agentEndpointOf(node);
    if (endpoint === undefined) throw new ApiError(StatusReason.ServiceUnavailable, `node ${nodeName} publishes no agent endpoint`);
    try {
      await streamAgentLogs(
        { endpoint, namespace: req.namespace, pod: req.pod, container, follow: req.follow, previous: req.previous, signal: ctx.signal, ...(ctx.principal.credential !== undefined ? { token: ctx.principal.credential } : {}) },
        async (chunk) => {
          // Backpressure: the agent's stream pauses while the caller's connection drains.
          while (!sink.send({ data: chunk })) {
            if (!(await sink.drained())) throw new RpcError(StatusCode.CANCELLED, 'the log stream ended');
          }
        },
      );
    } catch (err) {
      if (ctx.signal.aborted) return;
      if (err instanceof AgentLogsError) {
        const reason = err.status === 404 ? StatusReason.NotFound : err.status === 401 ? StatusReason.Forbidden : StatusReason.ServiceUnavailable;
        throw new ApiError(reason, err.message, [], undefined, { cause: err });
      }
      throw err;
    }
  }

  private register(): void {
    const rpc = this.rpc;
    rpc.unaryTyped(
      ApiMethods.create,
      this.guard(async (req) => ({ object: this.stored(req.kind, await this.registry.create(this.decodeRequestObject(req.kind, req.object))) })),
    );
    rpc.unaryTyped(
      ApiMethods.get,
      this.guard(async (req) => ({ object: this.stored(req.kind, await this.registry.get({ kind: req.kind, namespace: req.namespace, name: req.name }, req.serializable)) })),
    );
    rpc.unaryTyped(ApiMethods.list, this.guard((req) => this.list(req)));
    rpc.unaryTyped(
      ApiMethods.update,
      this.guard(async (req) => ({ object: this.stored(req.kind, await this.registry.update(this.decodeRequestObject(req.kind, req.object), req.status ? 'status' : 'main')) })),
    );
    rpc.unaryTyped(
      ApiMethods.patch,
      this.guard(async (req) => {
        let patch: unknown;
        try {
          patch = JSON.parse(req.mergePatch);
        } catch (err) {
          throw new ApiError(StatusReason.BadRequest, `mergePatch is not JSON: ${(err as Error).message}`, [{ field: 'mergePatch', description: 'must be a JSON object' }]);
        }
        const k = this.served(req.kind);
        const parse = (json: unknown): ApiObject => {
          // The patched JSON form is converted strictly: a field the kind lacks, or a wrong type, is Invalid.
          const r = fromJson({ ...(json as Record<string, unknown>), apiVersion: k.apiVersion, kind: k.kind });
          if ('violations' in r) throw invalid(k.kind, req.name, r.violations);
          return r.object;
        };
        return { object: this.stored(req.kind, await this.registry.patch({ kind: req.kind, namespace: req.namespace, name: req.name }, patch, req.status ? 'status' : 'main', parse)) };
      }),
    );
    rpc.unaryTyped(
      ApiMethods.delete,
      this.guard(async (req) => {
        if (req.kind === 'Namespace' && (BUILTIN_NAMESPACES as readonly string[]).includes(req.name)) {
          throw new ApiError(StatusReason.Forbidden, `namespace "${req.name}" is built in and may not be deleted`);
        }
        const grace = req.gracePeriodSeconds === undefined || req.gracePeriodSeconds === null ? undefined : Number(req.gracePeriodSeconds);
        const r = await this.registry.delete(
          { kind: req.kind, namespace: req.namespace, name: req.name },
          {
            ...(grace !== undefined ? { gracePeriodSeconds: grace } : {}),
            ...(req.preconditionUid !== '' ? { preconditionUid: req.preconditionUid } : {}),
            ...(req.preconditionResourceVersion !== '' ? { preconditionResourceVersion: req.preconditionResourceVersion } : {}),
          },
        );
        // A namespace is emptied at once; what cannot go yet (pods stopping) the sweeps finish.
        const gone = !r.deleted && req.kind === 'Namespace' ? await this.namespaces.finalize(req.name) : r.deleted;
        return { object: this.stored(req.kind, r.object), deleted: gone };
      }),
    );
    rpc.unaryTyped(ApiMethods.bind, this.guard(async (req) => ({ object: await this.bind(req) })));
    rpc.unaryTyped(
      ApiMethods.bulkCreate,
      this.guard((req) => this.bulk(req.objects, async (bytes) => this.stored(req.kind, await this.registry.create(this.decodeRequestObject(req.kind, bytes))))),
    );
    rpc.unaryTyped(
      ApiMethods.bulkUpdate,
      this.guard((req) => this.bulk(req.objects, async (bytes) => this.stored(req.kind, await this.registry.update(this.decodeRequestObject(req.kind, bytes), req.status ? 'status' : 'main')))),
    );
    rpc.unaryTyped(ApiMethods.bulkBind, this.guard((req) => this.bulk(req.bindings, (b) => this.bind(b))));
    rpc.unaryTyped(ApiMethods.whoAmI, this.guard(async (_req, ctx) => ({ user: ctx.principal.name, master: this.opts.masterName })));
    rpc.serverStreamTyped(ApiMethods.logs, async (req, ctx, sink) => {
      try {
        await this.logs(req, ctx, sink);
      } catch (err) {
        throw statusOf(err);
      }
    });
    rpc.serverStreamTyped(ApiMethods.watch, async (req, ctx, sink) => {
      try {
        await this.watch(req, ctx, sink);
      } catch (err) {
        throw statusOf(err);
      }
    });
  }
}
