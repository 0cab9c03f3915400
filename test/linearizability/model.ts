// Sequential specifications the checker linearizes against, and the key-value register model that
// Flotilla's chaos tests use.

import type { KvInput, KvOperation, KvOutput, Operation, Outcome } from './history.js';

export type StepResult<State> = { readonly ok: true; readonly next: State } | { readonly ok: false };

/** A sub-history that can be checked on its own (Herlihy & Wing's locality / P-compositionality). */
export interface Partition<Input, Output> {
  /** Names the partition in verdicts, e.g. the key. */
  readonly label: string;
  readonly operations: readonly Operation<Input, Output>[];
}

/**
 * A sequential specification. Implementations must be pure: step never mutates state, equal
 * states behave identically under every step, and equal states have equal hashes (the checker's
 * memoization relies on all three).
 */
export interface Model<State, Input, Output> {
  init(): State;
  /** The reason op is malformed for this model (a harness bug), or null. Optional. */
  validate?(op: Operation<Input, Output>): string | null;
  /**
   * Whether input may take effect in state and produce outcome, and the state afterwards.
   * For an unknown outcome, describe the operation taking effect: the checker never requires an
   * unknown operation to be linearized, so "it never happened" needs no support here.
   */
  step(state: State, input: Input, outcome: Outcome<Output>): StepResult<State>;
  /**
   * Splits a history into sub-histories that are linearizable together iff each one is on its own.
   * May drop operations that cannot affect the verdict, and rewrite operations (keeping their ids)
   * into ones that are linearizable exactly when the originals are; verdicts report the originals.
   * Unknown-outcome operations that share one input object are treated as interchangeable.
   * Return a single partition if unsure.
   */
  partition(operations: readonly Operation<Input, Output>[]): Partition<Input, Output>[];
  equal(a: State, b: State): boolean;
  /** A 32-bit integer; equal(a, b) implies hash(a) === hash(b). */
  hash(state: State): number;
  describeState(state: State): string;
  /** The input and its outcome, e.g. `put("x", "v1") -> ok`. */
  describeOperation(input: Input, outcome: Outcome<Output>): string;
}

/** A key's value, or null while the key is absent. */
export type KvState = string | null;

/**
 * Stands for every written value that no operation of the key observes (no get returns it, no CAS
 * expects it). The model compares a state only with observed values, so all such values behave
 * alike; writing this one instead merges states in the checker's cache and lets its symmetry
 * reduction treat such writes of unknown outcome as interchangeable.
 */
export const UNOBSERVED_VALUE = '\u0000unobserved';

/** The hash of the absent key; a collision with some value's hash only costs a comparison. */
const ABSENT_HASH = 0x5bd1e995;

function hashString(s: string): number {
  // FNV-1a over UTF-16 code units: cheap, and values in chaos tests are short.
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function quote(value: string | null): string {
  if (value === UNOBSERVED_VALUE) return 'a value no operation observed';
  return value === null ? 'absent' : JSON.stringify(value);
}

function describeKvInput(input: KvInput): string {
  const key = JSON.stringify(input.key);
  switch (input.type) {
    case 'get':
      return `get(${key})`;
    case 'put':
      return `put(${key}, ${quote(input.value)})`;
    case 'cas':
      return `cas(${key}, ${quote(input.expected)} -> ${quote(input.value)})`;
  }
}

function describeKvOutput(output: KvOutput): string {
  switch (output.type) {
    case 'get':
      return quote(output.value);
    case 'put':
      return 'ok';
    case 'cas':
      return output.succeeded ? 'succeeded' : 'failed';
  }
}

/** The reason op's output does not answer its input (a harness bug), or null. */
export function kvOutputMismatch(op: KvOperation): string | null {
  if (op.outcome.kind === 'ok' && op.outcome.output.type !== op.input.type) {
    return `a ${op.input.type} answered with a ${op.outcome.output.type} output`;
  }
  return null;
}

function stepKv(state: KvState, input: KvInput, outcome: Outcome<KvOutput>): StepResult<KvState> {
  const output = outcome.kind === 'ok' ? outcome.output : null;
  switch (input.type) {
    case 'get':
      if (output === null) return { ok: true, next: state };
      return output.type === 'get' && output.value === state
        ? { ok: true, next: state }
        : { ok: false };
    case 'put':
      if (output !== null && output.type !== 'put') return { ok: false };
      return { ok: true, next: input.value };
    case 'cas': {
      const matches = state === input.expected;
      // Unknown: only the successful effect is modelled. A CAS that failed changed nothing, which
      // is the same as never linearizing it, and the checker already allows that.
      if (output === null) return matches ? { ok: true, next: input.value } : { ok: false };
      if (output.type !== 'cas' || output.succeeded !== matches) return { ok: false };
      return { ok: true, next: matches ? input.value : state };
    }
  }
}

/**
 * An unknown-outcome write of a value that exactly one operation writes, and that a completed get
 * returned or a successful CAS expected, certainly took effect, before that observer returned.
 * Such writes become known (a put acknowledged, a CAS succeeded) with that return time: every
 * linearization of the original meets the added constraint, so the verdict is unchanged, and the
 * search no longer has to guess whether and when they happened. Repeated to a fixed point, since a
 * CAS resolved this way observes its expected value in turn. An observer that returned before the
 * write was even invoked is left for the search to reject.
 */
function resolveObservedUnknownWrites(ops: readonly KvOperation[]): KvOperation[] {
  const writers = new Map<string, number>();
  for (const op of ops) {
    if (op.input.type !== 'get') writers.set(op.input.value, (writers.get(op.input.value) ?? 0) + 1);
  }
  let resolved = [...ops];
  for (let changed = true; changed; ) {
    changed = false;
    // The earliest return of a completed operation that proves the key held a value.
    const observedBy = new Map<string, number>();
    const observe = (value: string | null, time: number): void => {
      if (value !== null && time < (observedBy.get(value) ?? Infinity)) observedBy.set(value, time);
    };
    for (const op of resolved) {
      if (op.outcome.kind !== 'ok') continue;
      const output = op.outcome.output;
      if (output.type === 'get') observe(output.value, op.returnTime);
      if (op.input.type === 'cas' && output.type === 'cas' && output.succeeded) {
        observe(op.input.expected, op.returnTime);
      }
    }
    resolved = resolved.map((op): KvOperation => {
      const input = op.input;
      if (op.outcome.kind === 'ok' || input.type === 'get' || writers.get(input.value) !== 1) return op;
      const deadline = observedBy.get(input.value);
      if (deadline === undefined || deadline < op.callTime) return op;
      changed = true;
      const output: KvOutput = input.type === 'put' ? { type: 'put' } : { type: 'cas', succeeded: true };
      return { ...op, returnTime: deadline, outcome: { kind: 'ok', output } };
    });
  }
  return resolved;
}

/**
 * Rewrites every write of a value that no operation of the key observes to write UNOBSERVED_VALUE,
 * sharing one input object per (type, expected) so the checker's symmetry reduction applies.
 */
function mergeUnobservedValues(key: string, ops: readonly KvOperation[]): KvOperation[] {
  const observed = new Set<string>();
  for (const op of ops) {
    if (op.input.type === 'cas' && op.input.expected !== null) observed.add(op.input.expected);
    const output = op.outcome.kind === 'ok' ? op.outcome.output : null;
    if (output?.type === 'get' && output.value !== null) observed.add(output.value);
  }
  // Merging is exact only if the stand-in itself is not observed (it never is in practice).
  if (observed.has(UNOBSERVED_VALUE)) return [...ops];
  const put: KvInput = { type: 'put', key, value: UNOBSERVED_VALUE };
  const casByExpected = new Map<string | null, KvInput>();
  return ops.map((op) => {
    const input = op.input;
    if (input.type === 'get' || observed.has(input.value)) return op;
    if (input.type === 'put') return { ...op, input: put };
    let cas = casByExpected.get(input.expected);
    if (cas === undefined) {
      cas = { type: 'cas', key, expected: input.expected, value: UNOBSERVED_VALUE };
      casByExpected.set(input.expected, cas);
    }
    return { ...op, input: cas };
  });
}

/**
 * A register per key, starting absent. Partitioned by key: operations on different keys commute,
 * so the whole history is linearizable iff each key's sub-history is.
 * Gets with an unknown outcome are dropped: they change nothing and constrain nothing. Unknown
 * writes that were observed become known (resolveObservedUnknownWrites), and writes of values
 * nobody observes are merged (mergeUnobservedValues).
 */
export const kvModel: Model<KvState, KvInput, KvOutput> = {
  init: () => null,
  validate: kvOutputMismatch,
  step: stepKv,
  partition(operations) {
    const byKey = new Map<string, KvOperation[]>();
    for (const op of operations) {
      if (op.input.type === 'get' && op.outcome.kind === 'unknown') continue;
      let ops = byKey.get(op.input.key);
      if (ops === undefined) {
        ops = [];
        byKey.set(op.input.key, ops);
      }
      ops.push(op);
    }
    return [...byKey].map(([key, ops]) => ({
      label: key,
      operations: mergeUnobservedValues(key, resolveObservedUnknownWrites(ops)),
    }));
  },
  equal: (a, b) => a === b,
  hash: (state) => (state === null ? ABSENT_HASH : hashString(state)),
  describeState: quote,
  describeOperation(input, outcome) {
    const result = outcome.kind === 'ok' ? describeKvOutput(outcome.output) : 'unknown';
    return `${describeKvInput(input)} -> ${result}`;
  },
};
