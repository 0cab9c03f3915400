// An operation history as concurrent clients observe it, and the recorder that test harnesses use
// to build one. The checker (checker.ts) decides whether some total order of these operations,
// consistent with real time, is legal for a sequential model (model.ts).
//
// Time: callTime and returnTime come from one injected clock. Every operation of a history must be
// timed by the same clock (or clocks with a common origin); comparing performance.now() readings
// taken in different processes is meaningless, so multi-process harnesses should record in the
// orchestrating process or use performance.timeOrigin + performance.now().

export type ClientId = string | number;

/** What a client asked the key-value store to do. */
export type KvInput =
  | { readonly type: 'get'; readonly key: string }
  | { readonly type: 'put'; readonly key: string; readonly value: string }
  /** Sets value iff the current value equals expected; expected null means "only if absent". */
  | { readonly type: 'cas'; readonly key: string; readonly expected: string | null; readonly value: string };

/** What the store answered, for an operation whose outcome is known. */
export type KvOutput =
  | { readonly type: 'get'; readonly value: string | null }
  | { readonly type: 'put' }
  | { readonly type: 'cas'; readonly succeeded: boolean };

/**
 * 'ok': the client received this answer. 'unknown': the client timed out or its connection died,
 * so the operation may or may not have taken effect, at any time after its call (Jepsen's :info).
 */
export type Outcome<Output> =
  | { readonly kind: 'ok'; readonly output: Output }
  | { readonly kind: 'unknown' };

/**
 * One operation of a history.
 * Invariants (checked by validateOperation): callTime is finite; callTime <= returnTime;
 * returnTime === +Infinity iff outcome.kind === 'unknown' (an unknown operation never provably
 * completed, so it is concurrent with everything invoked after its call).
 */
export interface Operation<Input, Output> {
  /** Unique within a history; assigned in invocation order by HistoryRecorder. */
  readonly id: number;
  readonly clientId: ClientId;
  readonly input: Input;
  readonly callTime: number;
  readonly returnTime: number;
  readonly outcome: Outcome<Output>;
}

export type KvOperation = Operation<KvInput, KvOutput>;

/** A malformed history: a harness bug, not a verdict about the system under test. */
export class InvalidHistoryError extends Error {
  override readonly name = 'InvalidHistoryError';
  constructor(readonly operationId: number, readonly problem: string) {
    super(`operation ${operationId}: ${problem}`);
  }
}

/** The reason op breaks an Operation invariant, or null if it is well formed. */
export function validateOperation<I, O>(op: Operation<I, O>): string | null {
  if (!Number.isFinite(op.callTime)) return `call time ${op.callTime} is not finite`;
  if (Number.isNaN(op.returnTime)) return 'return time is NaN';
  if (op.returnTime < op.callTime) {
    return `return time ${op.returnTime} precedes call time ${op.callTime}`;
  }
  const unknown = op.outcome.kind === 'unknown';
  if (unknown !== (op.returnTime === Infinity)) {
    return unknown
      ? `unknown outcome needs return time +Infinity, got ${op.returnTime}`
      : 'a known outcome needs a finite return time';
  }
  return null;
}

export type Clock = () => number;

interface PendingOperation<Input> {
  readonly id: number;
  readonly clientId: ClientId;
  readonly input: Input;
  readonly callTime: number;
}

/**
 * Records a history as a harness runs it:
 *   const h = new HistoryRecorder(clock);
 *   const id = h.invoke(client, input);   // just before sending the request
 *   h.ok(id, output) / h.unknown(id);      // just after the answer, or on timeout / lost connection
 *   h.operations();
 * Call times are taken at invoke and return times at ok, so the recorded interval contains the
 * real one; widening an interval can only make the checker more permissive, never wrongly reject.
 * Operations still pending when operations() is called are reported with an unknown outcome.
 */
export class HistoryRecorder<Input = KvInput, Output = KvOutput> {
  private readonly pending = new Map<number, PendingOperation<Input>>();
  private readonly completed: Operation<Input, Output>[] = [];
  private nextId = 0;

  constructor(private readonly clock: Clock) {}

  invoke(clientId: ClientId, input: Input): number {
    const id = this.nextId++;
    this.pending.set(id, { id, clientId, input, callTime: this.clock() });
    return id;
  }

  ok(id: number, output: Output): void {
    const returnTime = this.clock();
    const op = this.take(id);
    this.completed.push({ ...op, returnTime, outcome: { kind: 'ok', output } });
  }

  unknown(id: number): void {
    const op = this.take(id);
    this.completed.push({ ...op, returnTime: Infinity, outcome: { kind: 'unknown' } });
  }

  /** Every operation invoked so far, in invocation order. */
  operations(): Operation<Input, Output>[] {
    const all: Operation<Input, Output>[] = [...this.completed];
    for (const op of this.pending.values()) {
      all.push({ ...op, returnTime: Infinity, outcome: { kind: 'unknown' } });
    }
    return all.sort((a, b) => a.id - b.id);
  }

  private take(id: number): PendingOperation<Input> {
    const op = this.pending.get(id);
    if (op === undefined) {
      throw new InvalidHistoryError(id, 'completed twice, or never invoked');
    }
    this.pending.delete(id);
    return op;
  }
}
