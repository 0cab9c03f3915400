import { describe, expect, it } from 'vitest';
import { checkLinearizable, type CheckResult } from './checker.js';
import {
  HistoryRecorder,
  InvalidHistoryError,
  type KvInput,
  type KvOperation,
  type KvOutput,
} from './history.js';
import { kvModel } from './model.js';
import {
  Rng,
  corruptWithFutureValue,
  corruptWithUnwrittenValue,
  randomLinearizableHistory,
} from './random-history.js';

// Hand-written histories: [call, return] intervals on a logical clock; an interval without a
// return is an operation whose outcome is unknown.
type Interval = readonly [number, number?];
type Spec = Omit<KvOperation, 'id'>;

function timed(clientId: string, input: KvInput, [call, ret]: Interval, output: KvOutput): Spec {
  return ret === undefined
    ? { clientId, input, callTime: call, returnTime: Infinity, outcome: { kind: 'unknown' } }
    : { clientId, input, callTime: call, returnTime: ret, outcome: { kind: 'ok', output } };
}
const get = (c: string, key: string, at: Interval, value: string | null): Spec =>
  timed(c, { type: 'get', key }, at, { type: 'get', value });
const put = (c: string, key: string, value: string, at: Interval): Spec =>
  timed(c, { type: 'put', key, value }, at, { type: 'put' });
const cas = (c: string, key: string, expected: string | null, value: string, at: Interval, succeeded = true): Spec =>
  timed(c, { type: 'cas', key, expected, value }, at, { type: 'cas', succeeded });
const history = (...specs: Spec[]): KvOperation[] => specs.map((s, id) => ({ id, ...s }));

const check = (ops: readonly KvOperation[], maxSteps?: number): CheckResult<KvInput, KvOutput> =>
  checkLinearizable(kvModel, ops, maxSteps === undefined ? {} : { maxSteps });

function expectOk(ops: readonly KvOperation[]): void {
  const result = check(ops);
  // On failure, show the checker's own explanation rather than just the kind.
  expect(result.kind === 'illegal' ? result.explanation : result.kind).toBe('ok');
}

function expectIllegal(ops: readonly KvOperation[]) {
  const result = check(ops);
  if (result.kind !== 'illegal') throw new Error(`expected illegal, got ${JSON.stringify(result)}`);
  return result;
}

describe('checkLinearizable accepts', () => {
  it('the empty history', () => {
    expect(check([])).toEqual({ kind: 'ok', steps: 0 });
  });

  it('a sequential history', () => {
    expectOk(history(
      get('a', 'x', [1, 2], null),
      put('a', 'x', '1', [3, 4]),
      get('b', 'x', [5, 6], '1'),
      put('b', 'x', '2', [7, 8]),
      get('a', 'x', [9, 10], '2'),
    ));
  });

  it('a read overlapping a put that sees either value', () => {
    for (const seen of ['0', '1']) {
      expectOk(history(put('a', 'x', '0', [1, 2]), put('a', 'x', '1', [3, 6]), get('b', 'x', [4, 5], seen)));
    }
  });

  it('concurrent puts whose order later reads disagree with the invocation order', () => {
    expectOk(history(
      put('a', 'x', '1', [1, 5]),
      put('b', 'x', '2', [2, 4]),
      get('c', 'x', [6, 7], '1'), // b's put took effect first, although it was invoked later
      get('a', 'x', [8, 9], '1'),
    ));
  });

  it('operations that merely touch at one instant, as concurrent', () => {
    expectOk(history(put('a', 'x', '1', [1, 2]), get('b', 'x', [2, 3], null)));
  });

  it('a CAS chain, with a failing CAS that saw a newer value', () => {
    expectOk(history(
      cas('a', 'x', null, '1', [1, 2]),
      cas('b', 'x', '1', '2', [3, 5]),
      cas('c', 'x', '1', '3', [4, 6], false), // lost the race to b
      cas('a', 'x', '2', '4', [7, 8]),
      get('b', 'x', [9, 10], '4'),
    ));
  });

  it('concurrent CASes from the same value where exactly one wins', () => {
    expectOk(history(
      put('a', 'x', '0', [1, 2]),
      cas('a', 'x', '0', 'a', [3, 8], false),
      cas('b', 'x', '0', 'b', [4, 7]),
      cas('c', 'x', '0', 'c', [5, 6], false),
      get('d', 'x', [9, 10], 'b'),
    ));
  });

  it('an unknown-outcome put that took effect, even long after its client gave up', () => {
    expectOk(history(
      put('a', 'x', '1', [1, 2]),
      put('b', 'x', '2', [3]),
      get('a', 'x', [4, 5], '1'),
      get('a', 'x', [20, 21], '2'),
    ));
  });

  it('an unknown-outcome put that never took effect', () => {
    expectOk(history(put('a', 'x', '1', [1, 2]), put('b', 'x', '2', [3]), get('a', 'x', [4, 5], '1')));
  });

  it('unknown-outcome CASes that did and did not take effect', () => {
    expectOk(history(
      put('a', 'x', '1', [1, 2]),
      cas('b', 'x', '1', '2', [3]), // took effect
      cas('c', 'x', '1', '3', [4]), // could not: x was already 2
      get('a', 'x', [10, 11], '2'),
    ));
    expectOk(history(put('a', 'x', '1', [1, 2]), cas('b', 'x', '1', '2', [3]), get('a', 'x', [10, 11], '1')));
  });

  it('an unknown-outcome put whose value nobody read, needed to explain a failed CAS', () => {
    const ops = history(
      put('a', 'x', '1', [1, 2]),
      put('b', 'x', '2', [3]), // never read: only its effect on c's CAS shows it happened
      cas('c', 'x', '1', '3', [5, 6], false),
    );
    expectOk(ops);
    expectIllegal(ops.filter((op) => op.clientId !== 'b'));
  });

  it('a chain of unknown-outcome CASes that a later read proves took effect', () => {
    expectOk(history(
      cas('a', 'x', null, '1', [1]),
      cas('b', 'x', '1', '2', [2]),
      get('c', 'x', [3, 4], null), // neither had taken effect yet
      get('c', 'x', [5, 6], '2'), // both had
    ));
  });

  it('unknown-outcome gets with any value (they are dropped)', () => {
    expectOk(history(put('a', 'x', '1', [1, 2]), get('b', 'x', [3], 'nonsense'), get('a', 'x', [4, 5], '1')));
  });

  it('keys independently, however their operations interleave', () => {
    expectOk(history(
      put('a', 'x', '1', [1, 4]),
      put('b', 'y', '1', [2, 3]),
      get('a', 'y', [5, 6], '1'),
      get('b', 'x', [5, 6], '1'),
    ));
  });
});

describe('checkLinearizable rejects', () => {
  it('a stale read after a newer write completed', () => {
    const result = expectIllegal(history(
      put('a', 'x', '1', [1, 2]),
      put('a', 'x', '2', [3, 4]),
      get('b', 'x', [5, 6], '1'),
    ));
    expect(result.partition).toBe('x');
    expect(result.blocking.clientId).toBe('b');
    expect(result.longestPrefix.map((op) => op.id)).toEqual([0, 1]);
    expect(result.stateAfterPrefix).toBe('"2"');
    expect(result.explanation).toContain('client b: get("x") -> "1"  [call 5, return 6]');
  });

  it('a lost write: an acknowledged put never visible while later reads see the older value', () => {
    expectIllegal(history(
      put('a', 'x', '0', [1, 2]),
      put('b', 'x', '1', [3, 4]),
      get('c', 'x', [5, 6], '0'),
      get('c', 'x', [7, 8], '0'),
    ));
  });

  it('reads that go back in time during a concurrent write', () => {
    expectIllegal(history(
      put('a', 'x', '0', [1, 2]),
      put('a', 'x', '1', [3, 10]),
      get('b', 'x', [4, 5], '1'),
      get('c', 'x', [6, 7], '0'),
    ));
  });

  it('a CAS that succeeded against a value that was not current', () => {
    const result = expectIllegal(history(
      put('a', 'x', '1', [1, 2]),
      put('a', 'x', '2', [3, 4]),
      cas('b', 'x', '1', '3', [5, 6]),
    ));
    expect(result.blocking.input).toEqual({ type: 'cas', key: 'x', expected: '1', value: '3' });
  });

  it('two CASes from the same value that both succeeded', () => {
    expectIllegal(history(
      put('a', 'x', '0', [1, 2]),
      cas('b', 'x', '0', 'b', [3, 6]),
      cas('c', 'x', '0', 'c', [4, 5]),
    ));
  });

  it('a CAS that failed although the value matched', () => {
    expectIllegal(history(put('a', 'x', '1', [1, 2]), cas('b', 'x', '1', '2', [3, 4], false)));
  });

  it('a read of a value never written', () => {
    const result = expectIllegal(history(put('a', 'x', '1', [1, 2]), get('b', 'x', [1, 3], 'ghost')));
    expect(result.candidates.map((op) => op.id)).toEqual([1]);
  });

  it('a read of a value whose unknown-outcome write was invoked only after the read returned', () => {
    expectIllegal(history(get('a', 'x', [1, 2], '1'), put('b', 'x', '1', [3])));
  });

  it('only the broken key, naming it', () => {
    const result = expectIllegal(history(
      put('a', 'x', '1', [1, 2]),
      put('a', 'y', '1', [3, 4]),
      get('b', 'x', [5, 6], '1'),
      get('b', 'y', [5, 6], null),
    ));
    expect(result.partition).toBe('y');
    expect(result.explanation).toContain('Partition "y"');
  });
});

describe('checkLinearizable on random histories', () => {
  const shapes = [
    { clients: 3, keys: 1, unknownRate: 0 },
    { clients: 5, keys: 2, unknownRate: 0.05 },
    { clients: 8, keys: 3, unknownRate: 0.1 },
  ];

  it('accepts every history generated from a real sequential execution', () => {
    for (let seed = 1; seed <= 150; seed++) {
      const shape = shapes[seed % shapes.length] ?? { clients: 3, keys: 1, unknownRate: 0 };
      const ops = randomLinearizableHistory({ seed, operations: 80, ...shape });
      const result = check(ops);
      expect(result.kind === 'illegal' ? `seed ${seed}: ${result.explanation}` : result.kind).toBe('ok');
    }
  });

  it('rejects each after one read is corrupted in a provably non-linearizable way', () => {
    let corrupted = 0;
    for (let seed = 1; seed <= 150; seed++) {
      const shape = shapes[seed % shapes.length] ?? { clients: 3, keys: 1, unknownRate: 0 };
      const ops = randomLinearizableHistory({ seed, operations: 80, ...shape });
      const rng = new Rng(seed);
      for (const variant of [corruptWithUnwrittenValue(ops, rng), corruptWithFutureValue(ops, rng)]) {
        if (variant === null) continue;
        corrupted++;
        expect(check(variant).kind, `seed ${seed}`).toBe('illegal');
      }
    }
    expect(corrupted).toBeGreaterThan(250);
  });

  it('decides histories of a thousand operations on one key within the default step bound', () => {
    for (const seed of [1, 2, 3]) {
      const ops = randomLinearizableHistory({ seed, operations: 1000, clients: 8, keys: 1, unknownRate: 0.02 });
      const result = check(ops);
      expect(result.kind === 'illegal' ? result.explanation : result.kind, `seed ${seed}`).toBe('ok');
      const rng = new Rng(seed);
      for (const broken of [corruptWithUnwrittenValue(ops, rng), corruptWithFutureValue(ops, rng)]) {
        expect(broken === null ? 'not corrupted' : check(broken).kind, `seed ${seed}`).toBe('illegal');
      }
    }
  });

  it('accepts three thousand operations from ten clients', () => {
    const ops = randomLinearizableHistory({ seed: 7, operations: 3000, clients: 10, keys: 1, unknownRate: 0.02 });
    const result = check(ops);
    expect(result.kind === 'illegal' ? result.explanation : result.kind).toBe('ok');
  });
});

// Differential testing: on small random histories (up to 8 operations, many of unknown outcome,
// so every reduction in search.ts and kvModel.partition is exercised), the checker must agree
// with a brute-force enumeration of every order that respects real time.
describe('checkLinearizable agrees with brute force', () => {
  /** Whether some order of ops respecting real time is legal; unknown operations are optional. */
  function bruteForce(ops: readonly KvOperation[]): boolean {
    const relevant = ops.filter((op) => !(op.input.type === 'get' && op.outcome.kind === 'unknown'));
    const done = relevant.map(() => false);
    const extend = (state: string | null): boolean => {
      if (relevant.every((op, i) => done[i] || op.outcome.kind === 'unknown')) return true;
      // An operation may go next iff no pending operation returned before it was called.
      const firstReturn = Math.min(...relevant.filter((_, i) => !done[i]).map((op) => op.returnTime));
      return relevant.some((op, i) => {
        if (done[i] || op.callTime > firstReturn) return false;
        const result = kvModel.step(state, op.input, op.outcome);
        if (!result.ok) return false;
        done[i] = true;
        const found = extend(result.next);
        done[i] = false;
        return found;
      });
    };
    return extend(null);
  }

  function randomSmallHistory(rng: Rng, uniqueValues: boolean): KvOperation[] {
    const values = ['1', '2', '3'];
    const written: string[] = [];
    const readable = (): string | null => {
      const pool = uniqueValues ? written : values;
      return rng.next() < 0.2 || pool.length === 0 ? null : rng.pick(pool);
    };
    const ops: KvOperation[] = [];
    const size = 1 + rng.int(8);
    for (let id = 0; id < size; id++) {
      const callTime = rng.int(10);
      const at: Interval = rng.next() < 0.35 ? [callTime] : [callTime, callTime + rng.int(5)];
      const value = uniqueValues ? `v${id}` : rng.pick(values);
      const roll = rng.next();
      let spec: Spec;
      if (roll < 0.4) spec = get(`c${id}`, 'x', at, readable());
      else if (roll < 0.7) spec = put(`c${id}`, 'x', value, at);
      else spec = cas(`c${id}`, 'x', readable(), value, at, rng.next() < 0.5);
      written.push(value);
      ops.push({ id, ...spec });
    }
    // Reads may also return values written by operations generated after them.
    return ops.map((op) =>
      op.input.type === 'get' && op.outcome.kind === 'ok' && rng.next() < 0.5
        ? { ...op, outcome: { kind: 'ok', output: { type: 'get', value: readable() } } }
        : op,
    );
  }

  for (const uniqueValues of [false, true]) {
    it(uniqueValues ? 'with every written value distinct' : 'with values written repeatedly', () => {
      const rng = new Rng(uniqueValues ? 43 : 42);
      const verdicts = { ok: 0, illegal: 0 };
      for (let i = 0; i < 4000; i++) {
        const ops = randomSmallHistory(rng, uniqueValues);
        const expected = bruteForce(ops) ? 'ok' : 'illegal';
        expect(check(ops).kind, JSON.stringify(ops)).toBe(expected);
        verdicts[expected]++;
      }
      // Both verdicts must be well represented for the comparison to mean anything.
      expect(Math.min(verdicts.ok, verdicts.illegal)).toBeGreaterThan(1000);
    });
  }
});

describe('the step bound', () => {
  // Twenty mutually concurrent puts and a read of a value none of them wrote: proving this illegal
  // means trying every subset of puts, far beyond any small bound.
  const hopeless = history(
    ...Array.from({ length: 20 }, (_, i) => put(`c${i}`, 'x', `v${i}`, [i + 1, 100])),
    get('r', 'x', [50, 60], 'ghost-but-concurrent'),
  );

  it('yields unknown instead of searching on', () => {
    expect(check(hopeless, 10_000)).toEqual({
      kind: 'unknown',
      reason: 'step limit reached',
      partition: 'x',
      maxSteps: 10_000,
    });
  });

  it('applies per partition, so an illegal key is still found after another key gave up', () => {
    const ops = history(
      ...hopeless,
      put('a', 'y', '1', [1, 2]),
      get('b', 'y', [3, 4], null),
    ).map((op, id) => ({ ...op, id }));
    const result = check(ops, 10_000);
    expect(result.kind === 'illegal' && result.partition).toBe('y');
  });

  it('is also reported for a linearizable history that needs more steps', () => {
    const ops = randomLinearizableHistory({ seed: 3, operations: 100, clients: 4, keys: 1, unknownRate: 0 });
    expect(check(ops, 10).kind).toBe('unknown');
    expect(check(ops).kind).toBe('ok');
  });
});

describe('HistoryRecorder', () => {
  it('records call and return times from the injected clock', () => {
    let now = 0;
    const h = new HistoryRecorder(() => ++now);
    const w = h.invoke('a', { type: 'put', key: 'x', value: '1' });
    const r = h.invoke('b', { type: 'get', key: 'x' });
    h.ok(w, { type: 'put' });
    const lost = h.invoke('a', { type: 'put', key: 'x', value: '2' });
    h.unknown(lost);
    h.ok(r, { type: 'get', value: '1' });
    h.invoke('c', { type: 'cas', key: 'x', expected: '1', value: '3' }); // still pending at the end

    const ops = h.operations();
    expect(ops.map((op) => [op.id, op.clientId, op.callTime, op.returnTime, op.outcome.kind])).toEqual([
      [0, 'a', 1, 3, 'ok'],
      [1, 'b', 2, 5, 'ok'],
      [2, 'a', 4, Infinity, 'unknown'],
      [3, 'c', 6, Infinity, 'unknown'],
    ]);
    expect(check(ops).kind).toBe('ok');
  });

  it('refuses to complete an operation twice', () => {
    const h = new HistoryRecorder(() => 0);
    const id = h.invoke('a', { type: 'get', key: 'x' });
    h.ok(id, { type: 'get', value: null });
    expect(() => h.unknown(id)).toThrow(InvalidHistoryError);
  });
});

describe('malformed histories', () => {
  it('are harness bugs, thrown as InvalidHistoryError rather than verdicts', () => {
    const backwards = history(put('a', 'x', '1', [5, 4]));
    const mismatched: KvOperation[] = [{ id: 0, ...put('a', 'x', '1', [1, 2]), outcome: { kind: 'ok', output: { type: 'get', value: null } } }];
    const duplicate = history(put('a', 'x', '1', [1, 2]), put('a', 'x', '2', [3, 4])).map((op) => ({ ...op, id: 0 }));
    const finiteUnknown: KvOperation[] = [{ id: 0, ...put('a', 'x', '1', [1]), returnTime: 9 }];
    for (const ops of [backwards, mismatched, duplicate, finiteUnknown]) {
      expect(() => check(ops)).toThrow(InvalidHistoryError);
    }
  });
});
