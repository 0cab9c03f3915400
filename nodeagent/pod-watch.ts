// The pods bound to this node, as a list then a watch from the list's resourceVersion (field
// selector spec.nodeName=NODE), resumed after a stream ends and relisted after 'Expired'. The
// Informer in client/ does the same over ApiClient; this one needs only AgentApi.

import type { Pod } from '../proto/api/types.js';
import { isExpired, type AgentApi } from './api.js';
import { sleep, type Clock } from './clock.js';
import type { Logger } from './pod-worker.js';

export const POD_WATCH_BACKOFF_MIN_MS = 100;
export const POD_WATCH_BACKOFF_MAX_MS = 5_000;

export interface PodWatchHandlers {
  /** The first list (every pod bound here at start), before any onUpsert. */
  onSynced(pods: readonly Pod[]): Promise<void> | void;
  onUpsert(pod: Pod): void;
  onDelete(pod: Pod): void;
}

export class PodWatch {
  private readonly abort = new AbortController();
  private readonly known = new Map<string, Pod>();
  private loop: Promise<void> | undefined;
  private resourceVersion = '';

  constructor(
    private readonly api: AgentApi,
    private readonly nodeName: string,
    private readonly handlers: PodWatchHandlers,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
  }

  private get selector(): string {
    return `spec.nodeName=${this.nodeName}`;
  }

  private async run(): Promise<void> {
    let backoff = POD_WATCH_BACKOFF_MIN_MS;
    let needList = true;
    let first = true;
    while (!this.abort.signal.aborted) {
      try {
        if (needList) {
          await this.relist(first);
          first = false;
          needList = false;
        }
        for await (const ev of this.api.watch<Pod>('Pod', { fieldSelector: this.selector, resourceVersion: this.resourceVersion, allowBookmarks: true, signal: this.abort.signal })) {
          this.resourceVersion = ev.object.metadata.resourceVersion ?? this.resourceVersion;
          if (ev.type === 'BOOKMARK') continue;
          const uid = ev.object.metadata.uid ?? '';
          if (ev.type === 'DELETED') {
            this.known.delete(uid);
            this.handlers.onDelete(ev.object);
          } else {
            this.known.set(uid, ev.object);
            this.handlers.onUpsert(ev.object);
          }
        }
        backoff = POD_WATCH_BACKOFF_MIN_MS;
      } catch (err) {
        if (this.abort.signal.aborted) break;
        if (isExpired(err)) {
          needList = true;
          continue;
        }
        this.logger.warn('pod watch failed; retrying', { error: (err as Error).message, backoffMs: backoff });
        await sleep(this.clock, backoff);
        backoff = Math.min(backoff * 2, POD_WATCH_BACKOFF_MAX_MS);
      }
    }
  }

  private async relist(first: boolean): Promise<void> {
    const listed = await this.api.list<Pod>('Pod', { fieldSelector: this.selector });
    this.resourceVersion = listed.resourceVersion;
    const seen = new Set<string>();
    for (const p of listed.items) seen.add(p.metadata.uid ?? '');
    if (first) {
      for (const p of listed.items) this.known.set(p.metadata.uid ?? '', p);
      await this.handlers.onSynced(listed.items);
      return;
    }
    for (const p of listed.items) {
      this.known.set(p.metadata.uid ?? '', p);
      this.handlers.onUpsert(p);
    }
    for (const [uid, p] of [...this.known]) {
      if (!seen.has(uid)) {
        this.known.delete(uid);
        this.handlers.onDelete(p);
      }
    }
  }
}
