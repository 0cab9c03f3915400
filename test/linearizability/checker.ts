// checkLinearizable: whether a history of concurrent clients has a linearization under a model,
// checking each partition of the history separately (P-compositionality). The search itself, and
// the reasoning behind it, is in search.ts.

import { InvalidHistoryError, validateOperation, type Operation } from './history.js';
import type { Model } from './model.js';
import { searchPartition, type Deepest } from './search.js';

/**
 * Search steps (see search.ts) allowed per partition before the verdict is 'unknown'. A step costs
 * well under a microsecond, so this bounds a partition's check to a few seconds; linearizable
 * histories of thousands of operations from 10 clients typically need a few hundred thousand.
 */
export const DEFAULT_MAX_STEPS = 10_000_000;
/**
 * Memory for the memoization cache per partition. Past it, new configurations are no longer
 * remembered: the search stays correct (memoization only prunes) but may take longer, and
 * maxSteps still bounds it.
 */
export const DEFAULT_MAX_CACHE_BYTES = 256 * 1024 * 1024;
/** How many operations of the longest prefix, and of the candidates, an explanation lists. */
const EXPLANATION_PREFIX_TAIL = 20;
const EXPLANATION_CANDIDATES_MAX = 20;

export interface CheckOptions {
  /** Per partition, so the whole check takes at most partitions × maxSteps steps. */
  readonly maxSteps?: number;
  readonly maxCacheBytes?: number;
}

export interface IllegalResult<Input, Output> {
  readonly kind: 'illegal';
  /** The partition (for the key-value model, the key) that has no linearization. */
  readonly partition: string;
  /** A human-readable account of the deepest point the search reached, for test failure output. */
  readonly explanation: string;
  /** The longest linearizable prefix found, in linearization order. */
  readonly longestPrefix: readonly Operation<Input, Output>[];
  readonly stateAfterPrefix: string;
  /**
   * At the end of that prefix, the operation that had already returned and so had to be linearized
   * before anything invoked later, but could not be.
   */
  readonly blocking: Operation<Input, Output>;
  /** Every operation that could have gone next after the prefix (blocking among them); none leads on. */
  readonly candidates: readonly Operation<Input, Output>[];
}

export type CheckResult<Input, Output> =
  /** steps: the search's total effort, to see how close a history came to maxSteps. */
  | { readonly kind: 'ok'; readonly steps: number }
  | IllegalResult<Input, Output>
  | {
      readonly kind: 'unknown';
      readonly reason: 'step limit reached';
      readonly partition: string;
      readonly maxSteps: number;
    };

/**
 * Whether operations, a history of concurrent clients, has a linearization under model.
 * Throws InvalidHistoryError only for a malformed history (a harness bug); every verdict about
 * the history itself is a CheckResult.
 */
export function checkLinearizable<State, Input, Output>(
  model: Model<State, Input, Output>,
  operations: readonly Operation<Input, Output>[],
  options: CheckOptions = {},
): CheckResult<Input, Output> {
  const maxSteps = options.maxSteps ?? DEFAULT_MAX_STEPS;
  const maxCacheBytes = options.maxCacheBytes ?? DEFAULT_MAX_CACHE_BYTES;
  validateHistory(model, operations);

  // Partitions may rewrite operations (keeping ids); verdicts report the caller's operations.
  const original = new Map(operations.map((op) => [op.id, op]));
  const restore = (op: Operation<Input, Output>): Operation<Input, Output> => original.get(op.id) ?? op;
  let steps = 0;
  let exhausted: CheckResult<Input, Output> | null = null;
  // A verdict of 'illegal' in any partition is definitive, so a partition that exhausts its
  // budget does not stop the others from being checked.
  for (const partition of model.partition(operations)) {
    const verdict = searchPartition(model, partition.operations, maxSteps, maxCacheBytes);
    steps += verdict.steps;
    if (verdict.kind === 'illegal') {
      const { deepest } = verdict;
      const prefix = deepest.prefix.map(restore);
      return illegalResult(model, partition.label, partition.operations.length, {
        ...deepest,
        prefix,
        state: replay(model, prefix) ?? deepest.state,
        blocking: restore(deepest.blocking),
        candidates: deepest.candidates.map(restore),
      });
    }
    if (verdict.kind === 'unknown' && exhausted === null) {
      exhausted = { kind: 'unknown', reason: 'step limit reached', partition: partition.label, maxSteps };
    }
  }
  return exhausted ?? { kind: 'ok', steps };
}

function validateHistory<S, I, O>(model: Model<S, I, O>, operations: readonly Operation<I, O>[]): void {
  const ids = new Set<number>();
  for (const op of operations) {
    if (ids.has(op.id)) throw new InvalidHistoryError(op.id, 'duplicate operation id');
    ids.add(op.id);
    const problem = validateOperation(op) ?? model.validate?.(op) ?? null;
    if (problem !== null) throw new InvalidHistoryError(op.id, problem);
  }
}

/**
 * The state after applying ops from the initial state, or null if the model rejects one. The
 * search's own state may be in terms of a partition's rewritten operations (e.g. a stand-in for
 * values nobody read); replaying the originals names the real one. Rewrites preserve legality.
 */
function replay<S, I, O>(model: Model<S, I, O>, ops: readonly Operation<I, O>[]): S | null {
  let state = model.init();
  for (const op of ops) {
    const result = model.step(state, op.input, op.outcome);
    if (!result.ok) return null;
    state = result.next;
  }
  return state;
}

function formatTime(t: number): string {
  if (t === Infinity) return 'never';
  return Number.isInteger(t) ? String(t) : t.toFixed(3);
}

function illegalResult<S, I, O>(
  model: Model<S, I, O>,
  label: string,
  size: number,
  deepest: Deepest<S, I, O>,
): IllegalResult<I, O> {
  const describe = (op: Operation<I, O>): string =>
    `#${op.id} client ${String(op.clientId)}: ${model.describeOperation(op.input, op.outcome)}` +
    `  [call ${formatTime(op.callTime)}, return ${formatTime(op.returnTime)}]`;
  const stateAfterPrefix = model.describeState(deepest.state);
  const { prefix, candidates, blocking } = deepest;

  const lines = [
    `Partition ${JSON.stringify(label)} is not linearizable (${size} operations).`,
    `Longest linearizable prefix: ${prefix.length} operations, leaving state ${stateAfterPrefix}.`,
  ];
  const shown = prefix.slice(-EXPLANATION_PREFIX_TAIL);
  if (prefix.length > shown.length) lines.push(`  ... ${prefix.length - shown.length} earlier operations`);
  for (const op of shown) lines.push(`  ${describe(op)}`);
  lines.push(
    `Then ${describe(blocking)}`,
    `  had returned, so it must take effect before anything invoked after its return, but in state`,
    `  ${stateAfterPrefix} no linearization continues with any of the operations that could go next:`,
  );
  for (const op of candidates.slice(0, EXPLANATION_CANDIDATES_MAX)) lines.push(`  ${describe(op)}`);
  if (candidates.length > EXPLANATION_CANDIDATES_MAX) {
    lines.push(`  ... ${candidates.length - EXPLANATION_CANDIDATES_MAX} more`);
  }
  return {
    kind: 'illegal',
    partition: label,
    explanation: lines.join('\n'),
    longestPrefix: prefix,
    stateAfterPrefix,
    blocking,
    candidates,
  };
}
