// Compaction of the store's history, as the Kubernetes API server does it for etcd: every interval,
// each master tries to advance a shared marker key by a compare-and-swap on its version; the one that
// wins compacts the store up to the revision the marker recorded one interval earlier. So history
// is kept for at least one interval (watch caches and paginated lists rely on it), exactly one
// master compacts per interval, and masters need no clock agreement.

import type { Backend } from '../store/backend.js';
import { finishCompaction } from '../store/compaction-driver.js';
import type { Logger } from '../store/logger.js';
import type { Clock } from '../raft/driver/raft-node.js';
import { utf8 } from './registry/storage.js';

/** Kubernetes' default --etcd-compaction-interval. */
export const COMPACTION_INTERVAL_MS = 5 * 60 * 1000;

export const COMPACTION_MARKER_KEY = '/registry/compact_rev_key';

/**
 * Pause between the empty transactions that finish removing compacted history when nothing else
 * writes (store/compaction-driver.ts): 100 steps of 256 entries a second at most.
 */
export const COMPACTION_FINISH_PACE_MS = 10;

export class Compactor {
  private timer: unknown;
  /** The marker's version this master last saw; the next round must find it unchanged. */
  private lastVersion = 0;
  /** The revision written into the marker last round: what this round compacts up to. */
  private lastRevision = 0;
  private readonly abort = new AbortController();
  /** The background removal of the last compaction's history, if one is running. */
  private finishing: Promise<void> = Promise.resolve();

  constructor(
    private readonly backend: Pick<Backend, 'propose' | 'proposeTxn' | 'range' | 'header'>,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly intervalMs = COMPACTION_INTERVAL_MS,
  ) {}

  start(): void {
    this.timer = this.clock.setInterval(() => void this.round().catch((err: unknown) => this.logger.warn('compaction round failed', { error: (err as Error).message })), this.intervalMs);
  }

  stop(): void {
    if (this.timer !== undefined) this.clock.clearInterval(this.timer);
    this.abort.abort();
  }

  /** Resolves once the background removal of the last compaction's history has ended. */
  finished(): Promise<void> {
    return this.finishing;
  }

  /** One round; resolves with the revision compacted up to, or 0 when another master won or there was nothing to do. */
  async round(): Promise<number> {
    const key = utf8(COMPACTION_MARKER_KEY);
    const revision = this.backend.header().revision;
    const r = await this.backend.propose({
      type: 'txn',
      compare: [{ key, target: 'version', result: 'equal', version: this.lastVersion }],
      success: [{ type: 'put', key, value: utf8(String(revision)) }],
      failure: [{ type: 'range', key }],
    });
    if (!r.succeeded) {
      // Another master advanced the marker: follow it, and let it compact this round.
      const op = r.responses[0];
      const kv = op?.type === 'range' ? op.kvs[0] : undefined;
      this.lastVersion = kv?.version ?? 0;
      this.lastRevision = kv === undefined ? 0 : Number(Buffer.from(kv.value).toString('utf8')) || 0;
      return 0;
    }
    this.lastVersion += 1;
    const target = this.lastRevision;
    this.lastRevision = revision;
    if (target <= 0) return 0;
    try {
      await this.backend.propose({ type: 'compact', revision: target });
      this.logger.info('compacted the store', { revision: target });
      // Writes carry the removal of the unreachable history along; this finishes it when there
      // are none, within one interval.
      this.finishing = finishCompaction(this.backend, { paceMs: COMPACTION_FINISH_PACE_MS, timeoutMs: this.intervalMs, signal: this.abort.signal }).catch((err: unknown) => {
        if (!this.abort.signal.aborted) this.logger.warn('removing compacted history failed; the next writes go on with it', { error: (err as Error).message });
      });
      return target;
    } catch (err) {
      // Already compacted past it (e.g. by hand): nothing to do.
      this.logger.warn('compaction refused', { revision: target, error: (err as Error).message });
      return 0;
    }
  }
}
