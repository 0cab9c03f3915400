import { describe, expect, it } from 'vitest';
import type { KvInput, KvOperation, KvOutput } from './history.js';
import { UNOBSERVED_VALUE, kvModel } from './model.js';

function op(id: number, input: KvInput, callTime: number, output?: KvOutput, returnTime = callTime + 1): KvOperation {
  return output === undefined
    ? { id, clientId: 'c', input, callTime, returnTime: Infinity, outcome: { kind: 'unknown' } }
    : { id, clientId: 'c', input, callTime, returnTime, outcome: { kind: 'ok', output } };
}

describe('kvModel.step', () => {
  const step = kvModel.step;

  it('reads the current value, or null while absent', () => {
    expect(step(null, { type: 'get', key: 'x' }, { kind: 'ok', output: { type: 'get', value: null } })).toEqual({ ok: true, next: null });
    expect(step('1', { type: 'get', key: 'x' }, { kind: 'ok', output: { type: 'get', value: '2' } })).toEqual({ ok: false });
  });

  it('applies a CAS iff the current value is the expected one, and checks the reported outcome', () => {
    const cas: KvInput = { type: 'cas', key: 'x', expected: '1', value: '2' };
    expect(step('1', cas, { kind: 'ok', output: { type: 'cas', succeeded: true } })).toEqual({ ok: true, next: '2' });
    expect(step('3', cas, { kind: 'ok', output: { type: 'cas', succeeded: false } })).toEqual({ ok: true, next: '3' });
    expect(step('3', cas, { kind: 'ok', output: { type: 'cas', succeeded: true } })).toEqual({ ok: false });
    expect(step('1', cas, { kind: 'ok', output: { type: 'cas', succeeded: false } })).toEqual({ ok: false });
  });

  it('models an unknown outcome as taking effect (not taking effect is left to the checker)', () => {
    const cas: KvInput = { type: 'cas', key: 'x', expected: '1', value: '2' };
    expect(step('1', cas, { kind: 'unknown' })).toEqual({ ok: true, next: '2' });
    expect(step('3', cas, { kind: 'unknown' })).toEqual({ ok: false });
    expect(step('3', { type: 'put', key: 'x', value: '4' }, { kind: 'unknown' })).toEqual({ ok: true, next: '4' });
  });
});

describe('kvModel.partition', () => {
  it('splits by key and drops gets of unknown outcome', () => {
    const parts = kvModel.partition([
      op(0, { type: 'put', key: 'x', value: '1' }, 1, { type: 'put' }),
      op(1, { type: 'get', key: 'y' }, 2),
      op(2, { type: 'get', key: 'y' }, 3, { type: 'get', value: null }),
    ]);
    expect(parts.map((p) => [p.label, p.operations.map((o) => o.id)])).toEqual([
      ['x', [0]],
      ['y', [2]],
    ]);
  });

  it('makes an unknown write known once a completed read proves it took effect', () => {
    const [part] = kvModel.partition([
      op(0, { type: 'put', key: 'x', value: '1' }, 1),
      op(1, { type: 'get', key: 'x' }, 5, { type: 'get', value: '1' }, 9),
      op(2, { type: 'get', key: 'x' }, 6, { type: 'get', value: '1' }, 7),
    ]);
    const write = part?.operations.find((o) => o.id === 0);
    // It took effect before the earliest such read returned.
    expect(write?.outcome).toEqual({ kind: 'ok', output: { type: 'put' } });
    expect(write?.returnTime).toBe(7);
  });

  it('leaves an unknown write alone if its value was also written by another operation', () => {
    const [part] = kvModel.partition([
      op(0, { type: 'put', key: 'x', value: '1' }, 1),
      op(1, { type: 'put', key: 'x', value: '1' }, 2, { type: 'put' }),
      op(2, { type: 'get', key: 'x' }, 5, { type: 'get', value: '1' }),
    ]);
    expect(part?.operations.find((o) => o.id === 0)?.outcome.kind).toBe('unknown');
  });

  it('merges writes of values nobody observes into one shared input', () => {
    const [part] = kvModel.partition([
      op(0, { type: 'put', key: 'x', value: 'a' }, 1),
      op(1, { type: 'put', key: 'x', value: 'b' }, 2),
      op(2, { type: 'put', key: 'x', value: 'c' }, 3, { type: 'put' }),
      op(3, { type: 'get', key: 'x' }, 5, { type: 'get', value: 'c' }),
    ]);
    const [a, b, c] = part?.operations ?? [];
    expect(a?.input).toEqual({ type: 'put', key: 'x', value: UNOBSERVED_VALUE });
    expect(a?.input).toBe(b?.input); // the checker treats such unknown writes as interchangeable
    expect(c?.input).toEqual({ type: 'put', key: 'x', value: 'c' });
  });
});

describe('kvModel.describeOperation', () => {
  it('names the input and the outcome', () => {
    const describeOp = kvModel.describeOperation;
    expect(describeOp({ type: 'cas', key: 'x', expected: null, value: '1' }, { kind: 'ok', output: { type: 'cas', succeeded: false } })).toBe(
      'cas("x", absent -> "1") -> failed',
    );
    expect(describeOp({ type: 'put', key: 'x', value: '1' }, { kind: 'unknown' })).toBe('put("x", "1") -> unknown');
  });
});
