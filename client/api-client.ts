// The typed API client: what the CLI, the scheduler, controllers and node agents use to talk to the
// masters, over one multiplexed WebSocket that moves across the masters when one goes away.
//
// Errors are RpcErrors with gRPC-style codes and a Kubernetes reason (NOT_FOUND, ALREADY_EXISTS,
// ABORTED 'Conflict', INVALID_ARGUMENT with the fields, OUT_OF_RANGE 'Expired', ...). Reads are
// retried on another master when the connection fails; writes never are, because their outcome is
// unknown (RpcError.outcomeUnknown): the caller decides, usually by reading back.

import { ApiMethods, MAX_BULK_ITEMS, type BulkResponseMsg, type StoredObjectMsg, type WatchEventMsg } from '../apiserver/api-methods.js';
import { RpcClient, type RpcClientOptions } from '../apiserver/rpc/client.js';
import { RpcError, StatusCode } from '../apiserver/rpc/status.js';
import { decodeObject, encodeObject } from '../proto/api/codec.js';
import type { ApiObject } from '../proto/api/object.js';

/** Deadline of one unary call unless the caller gives one. */
export const DEFAULT_API_TIMEOUT_MS = 10_000;

/** Attempts of a read whose connection failed (each on the next master). */
export const READ_ATTEMPTS = 3;

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK';

export interface WatchEvent<T extends ApiObject = ApiObject> {
  readonly type: WatchEventType;
  /** For BOOKMARK: an object with only metadata.resourceVersion. */
  readonly object: T;
}

export interface ListOptions {
  readonly namespace?: string;
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  readonly limit?: number;
  readonly continue?: string;
  /** "" (default) = consistent; "0" = the master's watch cache, possibly behind. */
  readonly resourceVersion?: string;
  readonly timeoutMs?: number;
  /** How each item is decoded (default: whole). */
  readonly decode?: ObjectDecoder;
}

export interface ListResult<T extends ApiObject> {
  readonly items: T[];
  readonly resourceVersion: string;
  readonly continue?: string;
}

export interface WatchOptions {
  readonly namespace?: string;
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  readonly resourceVersion?: string;
  readonly allowBookmarks?: boolean;
  readonly signal?: AbortSignal;
  /** How each event's object is decoded (default: whole). */
  readonly decode?: ObjectDecoder;
}

export interface DeleteOptions {
  readonly gracePeriodSeconds?: number;
  readonly preconditionUid?: string;
  readonly preconditionResourceVersion?: string;
}

export interface ApiClientOptions {
  /** host:port of each master's --listen. */
  readonly endpoints: readonly string[];
  readonly token?: string;
  readonly timeoutMs?: number;
  readonly rpc?: Omit<RpcClientOptions, 'endpoints' | 'token'>;
}

/** One item of a bulk call: the object written, or why not. */
export type BulkItem<T extends ApiObject> = { readonly ok: true; readonly object: T } | { readonly ok: false; readonly error: RpcError };

/**
 * Turns an object's stored bytes into the object a caller keeps. The default is the whole object;
 * a reader of a few fields of many objects (the scheduler's pod cache) may pass a projection
 * (proto/api/codec.ts projectedDecoder), which skips the other fields instead of decoding them.
 */
export type ObjectDecoder = (kind: string, raw: Uint8Array) => ApiObject;

export function materialize<T extends ApiObject>(kind: string, stored: StoredObjectMsg | undefined | null, decode: ObjectDecoder = decodeObject): T {
  if (stored === undefined || stored === null) throw new RpcError(StatusCode.INTERNAL, `the server answered without a ${kind}`);
  const obj = decode(kind, stored.raw);
  return { ...obj, metadata: { ...obj.metadata, resourceVersion: String(stored.resourceVersion) } } as T;
}

export class ApiClient {
  readonly rpc: RpcClient;
  private readonly timeoutMs: number;

  constructor(opts: ApiClientOptions) {
    this.rpc = new RpcClient({ ...(opts.rpc ?? {}), endpoints: opts.endpoints, ...(opts.token !== undefined ? { token: opts.token } : {}) });
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_API_TIMEOUT_MS;
  }

  private async read<R>(call: () => Promise<R>): Promise<R> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await call();
      } catch (err) {
        if (!(err instanceof RpcError) || err.code !== StatusCode.UNAVAILABLE || attempt >= READ_ATTEMPTS) throw err;
      }
    }
  }

  async create<T extends ApiObject>(obj: T): Promise<T> {
    const r = await this.rpc.unaryTyped(ApiMethods.create, { kind: obj.kind, object: encodeObject(obj) }, { timeoutMs: this.timeoutMs });
    return materialize<T>(obj.kind, r.object);
  }

  async get<T extends ApiObject>(kind: string, name: string, namespace = '', opts: { serializable?: boolean } = {}): Promise<T> {
    const r = await this.read(() => this.rpc.unaryTyped(ApiMethods.get, { kind, namespace, name, serializable: opts.serializable === true }, { timeoutMs: this.timeoutMs }));
    return materialize<T>(kind, r.object);
  }

  async list<T extends ApiObject>(kind: string, opts: ListOptions = {}): Promise<ListResult<T>> {
    const r = await this.read(() =>
      this.rpc.unaryTyped(
        ApiMethods.list,
        {
          kind,
          namespace: opts.namespace ?? '',
          labelSelector: opts.labelSelector ?? '',
          fieldSelector: opts.fieldSelector ?? '',
          limit: opts.limit ?? 0,
          continue: opts.continue ?? '',
          resourceVersion: opts.resourceVersion ?? '',
        },
        { timeoutMs: opts.timeoutMs ?? this.timeoutMs },
      ),
    );
    return {
      items: r.items.map((i) => materialize<T>(kind, i, opts.decode)),
      resourceVersion: String(r.resourceVersion),
      ...(r.continue !== '' ? { continue: r.continue } : {}),
    };
  }

  /** Every page of a list, at one resourceVersion. */
  async listAll<T extends ApiObject>(kind: string, opts: Omit<ListOptions, 'continue'> = {}, pageSize = 5_000): Promise<ListResult<T>> {
    const items: T[] = [];
    let page = await this.list<T>(kind, { ...opts, limit: pageSize });
    const resourceVersion = page.resourceVersion;
    items.push(...page.items);
    while (page.continue !== undefined) {
      page = await this.list<T>(kind, { ...opts, limit: pageSize, continue: page.continue });
      items.push(...page.items);
    }
    return { items, resourceVersion };
  }

  async update<T extends ApiObject>(obj: T): Promise<T> {
    const r = await this.rpc.unaryTyped(ApiMethods.update, { kind: obj.kind, object: encodeObject(obj), status: false }, { timeoutMs: this.timeoutMs });
    return materialize<T>(obj.kind, r.object);
  }

  /** Writes only the status subresource. */
  async updateStatus<T extends ApiObject>(obj: T): Promise<T> {
    const r = await this.rpc.unaryTyped(ApiMethods.update, { kind: obj.kind, object: encodeObject(obj), status: true }, { timeoutMs: this.timeoutMs });
    return materialize<T>(obj.kind, r.object);
  }

  /** An RFC 7386 JSON merge patch. */
  async patch<T extends ApiObject>(kind: string, name: string, namespace: string, patch: object, opts: { status?: boolean } = {}): Promise<T> {
    const r = await this.rpc.unaryTyped(
      ApiMethods.patch,
      { kind, namespace, name, mergePatch: JSON.stringify(patch), status: opts.status === true },
      { timeoutMs: this.timeoutMs },
    );
    return materialize<T>(kind, r.object);
  }

  /** Resolves with the object as deleted, or as marked (finalizers, a pod's grace period). */
  async delete<T extends ApiObject>(kind: string, name: string, namespace = '', opts: DeleteOptions = {}): Promise<{ object: T; deleted: boolean }> {
    const r = await this.rpc.unaryTyped(
      ApiMethods.delete,
      {
        kind,
        namespace,
        name,
        ...(opts.gracePeriodSeconds !== undefined ? { gracePeriodSeconds: opts.gracePeriodSeconds } : {}),
        preconditionUid: opts.preconditionUid ?? '',
        preconditionResourceVersion: opts.preconditionResourceVersion ?? '',
      },
      { timeoutMs: this.timeoutMs },
    );
    return { object: materialize<T>(kind, r.object), deleted: r.deleted };
  }

  async bind<T extends ApiObject>(namespace: string, name: string, nodeName: string, uid = ''): Promise<T> {
    const r = await this.rpc.unaryTyped(ApiMethods.bind, { namespace, name, nodeName, uid }, { timeoutMs: this.timeoutMs });
    return materialize<T>('Pod', r.object);
  }

  async bulkCreate<T extends ApiObject>(kind: string, objects: readonly T[]): Promise<BulkItem<T>[]> {
    return this.bulk(kind, objects, (chunk) => this.rpc.unaryTyped(ApiMethods.bulkCreate, { kind, objects: chunk.map((o) => encodeObject(o)) }, { timeoutMs: this.timeoutMs }));
  }

  async bulkUpdate<T extends ApiObject>(kind: string, objects: readonly T[], opts: { status?: boolean } = {}): Promise<BulkItem<T>[]> {
    return this.bulk(kind, objects, (chunk) =>
      this.rpc.unaryTyped(ApiMethods.bulkUpdate, { kind, objects: chunk.map((o) => encodeObject(o)), status: opts.status === true }, { timeoutMs: this.timeoutMs }),
    );
  }

  /** Binds pods to nodes; `decode` (default: whole) decodes each bound pod returned. */
  async bulkBind<T extends ApiObject>(
    bindings: readonly { namespace: string; name: string; nodeName: string; uid?: string }[],
    opts: { decode?: ObjectDecoder } = {},
  ): Promise<BulkItem<T>[]> {
    return this.bulk(
      'Pod',
      bindings,
      (chunk) => this.rpc.unaryTyped(ApiMethods.bulkBind, { bindings: chunk.map((b) => ({ namespace: b.namespace, name: b.name, nodeName: b.nodeName, uid: b.uid ?? '' })) }, { timeoutMs: this.timeoutMs }),
      opts.decode,
    );
  }

  private async bulk<I, T extends ApiObject>(
    kind: string,
    items: readonly I[],
    call: (chunk: readonly I[]) => Promise<BulkResponseMsg>,
    decode: ObjectDecoder = decodeObject,
  ): Promise<BulkItem<T>[]> {
    const out: BulkItem<T>[] = [];
    for (let i = 0; i < items.length; i += MAX_BULK_ITEMS) {
      const r = await call(items.slice(i, i + MAX_BULK_ITEMS));
      for (const res of r.results) {
        if (res.error !== undefined && res.error !== null && res.error.code !== 0) {
          out.push({ ok: false, error: RpcError.fromStatus({ code: res.error.code, message: res.error.message, reason: res.error.reason, violations: res.error.violations, metadata: {} }) });
        } else {
          out.push({ ok: true, object: materialize<T>(kind, res.object, decode) });
        }
      }
    }
    return out;
  }

  /**
   * Watches a kind. The iterator ends when the server ends the stream (resume from the last
   * resourceVersion seen), and throws an RpcError for 'Expired' (list again) and other failures.
   */
  async *watch<T extends ApiObject>(kind: string, opts: WatchOptions = {}): AsyncGenerator<WatchEvent<T>, void, undefined> {
    const stream = this.rpc.serverStreamTyped(
      ApiMethods.watch,
      {
        kind,
        namespace: opts.namespace ?? '',
        labelSelector: opts.labelSelector ?? '',
        fieldSelector: opts.fieldSelector ?? '',
        resourceVersion: opts.resourceVersion ?? '',
        allowBookmarks: opts.allowBookmarks === true,
      },
      opts.signal !== undefined ? { signal: opts.signal } : {},
    );
    for await (const ev of stream as AsyncIterable<WatchEventMsg>) {
      yield { type: ev.type as WatchEventType, object: materialize<T>(kind, ev.object, opts.decode) };
    }
  }

  /** A container's output, streamed from its node's agent through the API. */
  async *logs(namespace: string, pod: string, opts: { container?: string; follow?: boolean; previous?: boolean; signal?: AbortSignal } = {}): AsyncGenerator<Uint8Array, void, undefined> {
    const stream = this.rpc.serverStreamTyped(
      ApiMethods.logs,
      { namespace, pod, container: opts.container ?? '', follow: opts.follow === true, previous: opts.previous === true },
      opts.signal !== undefined ? { signal: opts.signal } : {},
    );
    for await (const chunk of stream) yield chunk.data;
  }

  async whoAmI(): Promise<{ user: string; master: string }> {
    return this.rpc.unaryTyped(ApiMethods.whoAmI, {}, { timeoutMs: this.timeoutMs });
  }

  async close(): Promise<void> {
    await this.rpc.close();
  }
}

/** Kubernetes reasons carried by API errors, for callers that branch on them. */
export function isReason(err: unknown, reason: string): boolean {
  return err instanceof RpcError && err.reason === reason;
}
