// Test support for the watch cache: a clock whose timers fire only when a test advances it, a
// JSON-coded pod-like kind, and a reader for cache watchers. Free of test-framework imports so it
// compiles with the rest of the package (the bench uses it too).

import type { ApiObject } from '../../proto/api/object.js';
import type { Clock } from '../../raft/driver/raft-node.js';
import type { Logger } from '../../store/logger.js';
import type { KeyValue } from '../../store/mvcc/responses.js';
import type { CacheWatcher } from './cache-watcher.js';
import type { CacheEvent, Selectable } from './events.js';

interface FakeTimer {
  readonly id: number;
  due: number;
  readonly everyMs: number | undefined;
  readonly fn: () => void;
}

/** Timers run only inside advance(), in due order. */
export class FakeClock implements Clock {
  private nowMs = 0;
  private nextId = 1;
  private readonly timers = new Map<number, FakeTimer>();

  now(): number {
    return this.nowMs;
  }

  advance(ms: number): void {
    const end = this.nowMs + ms;
    for (;;) {
      let next: FakeTimer | undefined;
      for (const timer of this.timers.values()) if (timer.due <= end && (next === undefined || timer.due < next.due)) next = timer;
      if (next === undefined) break;
      this.nowMs = next.due;
      if (next.everyMs === undefined) this.timers.delete(next.id);
      else next.due += next.everyMs;
      next.fn();
    }
    this.nowMs = end;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.timers.set(id, { id, due: this.nowMs + ms, everyMs: undefined, fn });
    return id;
  }

  setInterval(fn: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.timers.set(id, { id, due: this.nowMs + ms, everyMs: Math.max(1, ms), fn });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }

  clearInterval(handle: unknown): void {
    this.timers.delete(handle as number);
  }
}

export interface TestPod extends ApiObject {
  readonly spec: { readonly nodeName?: string; readonly image?: string };
}

export const POD_TYPE_META = { apiVersion: 'v1', kind: 'Pod' } as const;
export const PODS_PREFIX = '/registry/pods/';

export function podKey(name: string, namespace = 'default'): string {
  return `${PODS_PREFIX}${namespace}/${name}`;
}

export function pod(name: string, options: { nodeName?: string; labels?: Record<string, string>; image?: string } = {}): TestPod {
  return {
    ...POD_TYPE_META,
    metadata: { name, namespace: 'default', ...(options.labels !== undefined ? { labels: options.labels } : {}) },
    spec: {
      ...(options.nodeName !== undefined ? { nodeName: options.nodeName } : {}),
      ...(options.image !== undefined ? { image: options.image } : {}),
    },
  };
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

export function encodePod(object: TestPod): Uint8Array {
  return encoder.encode(JSON.stringify(object));
}

/** Throws on bytes that are not a JSON object with metadata, as a real codec throws on garbage. */
export function decodePod(kv: KeyValue): TestPod {
  const parsed: unknown = JSON.parse(decoder.decode(kv.value));
  if (typeof parsed !== 'object' || parsed === null || !('metadata' in parsed)) throw new Error('not an object with metadata');
  return parsed as TestPod;
}

/** What the cache keeps of a test pod for selectors, as the API server keeps of a real one. */
export function podSelectable(object: TestPod): Selectable {
  return {
    namespace: object.metadata.namespace,
    labels: object.metadata.labels,
    fields: {
      'metadata.name': object.metadata.name ?? '',
      ...(object.spec.nodeName !== undefined ? { 'spec.nodeName': object.spec.nodeName } : {}),
    },
  };
}

export const POD_INDEXES = {
  'spec.nodeName': (object: Selectable): string | undefined => object.fields['spec.nodeName'],
  'metadata.namespace': (object: Selectable): string | undefined => object.namespace,
};

export interface LogLine {
  readonly level: 'info' | 'warn' | 'error';
  readonly msg: string;
  readonly fields: Record<string, unknown> | undefined;
}

export function memoryLogger(): Logger & { readonly lines: LogLine[] } {
  const lines: LogLine[] = [];
  return {
    lines,
    info: (msg, fields) => lines.push({ level: 'info', msg, fields }),
    warn: (msg, fields) => lines.push({ level: 'warn', msg, fields }),
    error: (msg, fields) => lines.push({ level: 'error', msg, fields }),
  };
}

/** "ADDED p1@5" (revision) plus the node for pods, for readable assertions. */
export function describeEvent(event: CacheEvent<TestPod>): string {
  if (event.type === 'BOOKMARK') return `BOOKMARK @${event.revision}`;
  const object = event.decode();
  const node = object.spec.nodeName;
  return `${event.type} ${object.metadata.name}@${object.metadata.resourceVersion}${node !== undefined ? ` on ${node}` : ''}`;
}

function sleep(ms: number): Promise<'timeout'> {
  return new Promise((resolve) => setTimeout(() => resolve('timeout'), ms));
}

/** Reads a cache watcher without losing a batch to a timed-out wait. */
export class WatchReader<T extends ApiObject> {
  private pending: Promise<IteratorResult<readonly CacheEvent<T>[]>> | undefined;
  readonly batches: (readonly CacheEvent<T>[])[] = [];

  constructor(readonly watcher: CacheWatcher<T>) {}

  /** The next batch, 'done', 'timeout', or the error the watcher ended with. */
  async batch(timeoutMs: number): Promise<readonly CacheEvent<T>[] | 'done' | 'timeout' | Error> {
    this.pending ??= this.watcher.next();
    let result: IteratorResult<readonly CacheEvent<T>[]> | 'timeout';
    try {
      result = await Promise.race([this.pending, sleep(timeoutMs)]);
    } catch (error) {
      this.pending = undefined;
      return error instanceof Error ? error : new Error(String(error));
    }
    if (result === 'timeout') return 'timeout';
    this.pending = undefined;
    if (result.done === true) return 'done';
    this.batches.push(result.value);
    return result.value;
  }

  /** Exactly `count` events; throws on a timeout, an end, an error, or more events than asked. */
  async events(count: number, timeoutMs: number): Promise<CacheEvent<T>[]> {
    const events: CacheEvent<T>[] = [];
    while (events.length < count) {
      const batch = await this.batch(timeoutMs);
      if (!Array.isArray(batch)) {
        throw new Error(`watcher ended (${batch instanceof Error ? batch.message : String(batch)}) after ${events.length} of ${count} events`);
      }
      for (const event of batch) events.push(event);
    }
    if (events.length !== count) throw new Error(`expected ${count} events, got ${events.length}`);
    return events;
  }
}
