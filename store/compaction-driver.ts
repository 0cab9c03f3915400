// Finishing a compaction when nothing else writes. The store removes the history a compaction made
// unreachable a bounded step with each applied command entry (store/mvcc/compaction.ts), so on a
// store that takes no writes the removal would wait for the next ones. This proposes empty
// transactions (they change nothing and take no revision, but are applied entries, so each carries
// a step) until this member reports the removal done: etcd's Compact with physical=true waits for
// it, and the API server's compactor runs it in the background.

import type { Backend } from './backend.js';

/** A transaction with no compares and no operations: applied, and nothing else. */
const EMPTY_TXN = { compare: [], success: [], failure: [] } as const;

export class CompactionWaitTimeoutError extends Error {
  override readonly name = 'CompactionWaitTimeoutError';
  constructor(readonly waitedMs: number) {
    super(`the compaction was still removing history after ${waitedMs} ms`);
  }
}

export interface FinishCompactionOptions {
  /** Pause between the empty transactions (0: back to back). */
  readonly paceMs?: number;
  /** Give up (CompactionWaitTimeoutError) after this long. */
  readonly timeoutMs: number;
  /** Stop quietly when aborted. */
  readonly signal?: AbortSignal;
}

/** Resolves once this member has removed all the history its compaction made unreachable. */
export async function finishCompaction(backend: Pick<Backend, 'header' | 'proposeTxn'>, options: FinishCompactionOptions): Promise<void> {
  const started = Date.now();
  while (backend.header().compacting === true && options.signal?.aborted !== true) {
    if (Date.now() - started > options.timeoutMs) throw new CompactionWaitTimeoutError(Date.now() - started);
    await backend.proposeTxn({ ...EMPTY_TXN });
    if ((options.paceMs ?? 0) > 0) await new Promise((resolve) => setTimeout(resolve, options.paceMs));
  }
}
