// An informer: list, then watch from the list's resourceVersion, keeping a local cache and calling
// handlers for each change — what the scheduler, controllers and node agents build on.
//
// It survives what a cluster does to a watch: a master that dies (the stream fails, the client
// moves to another master, and the informer resumes from the last resourceVersion it saw — the
// server guarantees no gap and no repeat), a watch the server closed for being slow (resume), and a
// resourceVersion that is too old ('Expired': list again, and tell the handlers what changed
// between the old cache and the new list, so none of them misses a delete).

import { RpcError, StatusCode } from '../apiserver/rpc/status.js';
import type { ApiObject } from '../proto/api/object.js';
import type { ApiClient, ObjectDecoder, WatchEvent } from './api-client.js';

/** Backoff between failed list/watch attempts: doubles from the first to the cap. */
export const INFORMER_BACKOFF_MIN_MS = 100;
export const INFORMER_BACKOFF_MAX_MS = 5_000;

/** Items per list page while (re)listing. */
export const INFORMER_LIST_PAGE = 5_000;

export interface InformerHandlers<T extends ApiObject> {
  onAdd?(obj: T): void;
  onUpdate?(oldObj: T, newObj: T): void;
  /** `obj` is the last state the informer knew. */
  onDelete?(obj: T): void;
}

export interface InformerOptions {
  readonly namespace?: string;
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  readonly logger?: { warn(msg: string, fields?: Record<string, unknown>): void };
  readonly sleep?: (ms: number) => Promise<void>;
  /**
   * How listed and watched objects are decoded (default: whole). A projection keeps the cache to
   * the fields its handlers read: less memory, and less for the garbage collector to copy.
   */
  readonly decode?: ObjectDecoder;
}

export function objectKeyOf(obj: ApiObject): string {
  const ns = obj.metadata.namespace ?? '';
  return ns === '' ? (obj.metadata.name ?? '') : `${ns}/${obj.metadata.name ?? ''}`;
}

function isExpired(err: unknown): boolean {
  return err instanceof RpcError && (err.reason === 'Expired' || err.code === StatusCode.OUT_OF_RANGE);
}

export class Informer<T extends ApiObject> {
  private readonly cache = new Map<string, T>();
  private readonly handlers: InformerHandlers<T>[] = [];
  private readonly abort = new AbortController();
  private synced = false;
  private readonly syncWaiters: (() => void)[] = [];
  private loop: Promise<void> | undefined;
  /** The newest resourceVersion the cache reflects. */
  resourceVersion = '';
  /** Lists done (the first, and one per 'Expired'); for tests and metrics. */
  relists = 0;
  /** Watches started (each resume counts). */
  watches = 0;

  constructor(
    private readonly client: ApiClient,
    readonly kind: string,
    private readonly opts: InformerOptions = {},
  ) {}

  addHandlers(h: InformerHandlers<T>): void {
    this.handlers.push(h);
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Resolves once the first list is in the cache. */
  waitForSync(): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  get hasSynced(): boolean {
    return this.synced;
  }

  get(name: string, namespace = ''): T | undefined {
    return this.cache.get(namespace === '' ? name : `${namespace}/${name}`);
  }

  list(): T[] {
    return [...this.cache.values()];
  }

  get size(): number {
    return this.cache.size;
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
  }

  private get stopped(): boolean {
    return this.abort.signal.aborted;
  }

  private sleep(ms: number): Promise<void> {
    if (this.opts.sleep !== undefined) return this.opts.sleep(ms);
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.abort.signal.addEventListener('abort', () => {
        clearTimeout(t);
        resolve();
      }, { once: true });
    });
  }

  private emit(fn: (h: InformerHandlers<T>) => void): void {
    for (const h of this.handlers) {
      try {
        fn(h);
      } catch (err) {
        this.opts.logger?.warn('informer handler threw', { kind: this.kind, error: (err as Error).message });
      }
    }
  }

  private async run(): Promise<void> {
    let backoff = INFORMER_BACKOFF_MIN_MS;
    let needList = true;
    while (!this.stopped) {
      try {
        if (needList) {
          await this.relist();
          needList = false;
        }
        await this.watchOnce();
        backoff = INFORMER_BACKOFF_MIN_MS; // the stream ended cleanly: resume at once
      } catch (err) {
        if (this.stopped) break;
        if (isExpired(err)) {
          needList = true;
          continue;
        }
        this.opts.logger?.warn('informer list/watch failed; retrying', { kind: this.kind, error: (err as Error).message, backoffMs: backoff });
        await this.sleep(backoff);
        backoff = Math.min(backoff * 2, INFORMER_BACKOFF_MAX_MS);
      }
    }
  }

  private async relist(): Promise<void> {
    const listed = await this.client.listAll<T>(
      this.kind,
      {
        ...(this.opts.namespace !== undefined ? { namespace: this.opts.namespace } : {}),
        ...(this.opts.labelSelector !== undefined ? { labelSelector: this.opts.labelSelector } : {}),
        ...(this.opts.fieldSelector !== undefined ? { fieldSelector: this.opts.fieldSelector } : {}),
        ...(this.opts.decode !== undefined ? { decode: this.opts.decode } : {}),
      },
      INFORMER_LIST_PAGE,
    );
    this.relists++;
    const seen = new Set<string>();
    for (const obj of listed.items) {
      const key = objectKeyOf(obj);
      seen.add(key);
      const old = this.cache.get(key);
      this.cache.set(key, obj);
      if (old === undefined) this.emit((h) => h.onAdd?.(obj));
      else if (old.metadata.resourceVersion !== obj.metadata.resourceVersion) this.emit((h) => h.onUpdate?.(old, obj));
    }
    for (const [key, old] of [...this.cache]) {
      if (!seen.has(key)) {
        this.cache.delete(key);
        this.emit((h) => h.onDelete?.(old));
      }
    }
    this.resourceVersion = listed.resourceVersion;
    if (!this.synced) {
      this.synced = true;
      for (const w of this.syncWaiters.splice(0)) w();
    }
  }

  private async watchOnce(): Promise<void> {
    this.watches++;
    const events = this.client.watch<T>(this.kind, {
      ...(this.opts.namespace !== undefined ? { namespace: this.opts.namespace } : {}),
      ...(this.opts.labelSelector !== undefined ? { labelSelector: this.opts.labelSelector } : {}),
      ...(this.opts.fieldSelector !== undefined ? { fieldSelector: this.opts.fieldSelector } : {}),
      resourceVersion: this.resourceVersion,
      allowBookmarks: true,
      signal: this.abort.signal,
      ...(this.opts.decode !== undefined ? { decode: this.opts.decode } : {}),
    });
    for await (const ev of events) this.apply(ev);
  }

  private apply(ev: WatchEvent<T>): void {
    const rv = ev.object.metadata.resourceVersion ?? '';
    if (ev.type === 'BOOKMARK') {
      this.resourceVersion = rv;
      return;
    }
    const key = objectKeyOf(ev.object);
    const old = this.cache.get(key);
    if (ev.type === 'DELETED') {
      this.cache.delete(key);
      this.emit((h) => h.onDelete?.(old ?? ev.object));
    } else if (old === undefined) {
      this.cache.set(key, ev.object);
      this.emit((h) => h.onAdd?.(ev.object));
    } else {
      this.cache.set(key, ev.object);
      this.emit((h) => h.onUpdate?.(old, ev.object));
    }
    this.resourceVersion = rv;
  }
}
