// etcd's Txn: compares on every target and result, success and failure branches, nested txns,
// revisions and sub-revisions, reads of the txn's own writes, all-or-nothing failure.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type Command,
  type Compare,
  type CompareResult,
  type TxnCommand,
  deleteRangeCommand,
  putCommand,
  rangeOp,
  txnCommand,
} from './commands.js';
import { CompactedError, LeaseNotFoundError } from './errors.js';
import type { StoreChange } from './kv-store.js';
import type { CommandResponse, TxnResponse } from './responses.js';
import { type TempStore, openTempStore, text, utf8 } from './testing.js';

let temp: TempStore;
let index = 0;

function run(command: Command): CommandResponse {
  const outcome = temp.store.apply(++index, command);
  if (outcome.status !== 'applied') throw new Error(`apply ${outcome.status}`);
  return outcome.response;
}

function runTxn(command: TxnCommand): TxnResponse {
  const response = run(command);
  if (response.type !== 'txn') throw new Error('not a txn response');
  return response;
}

beforeEach(() => {
  temp = openTempStore();
  index = 0;
  run({ type: 'leaseGrant', id: 7, ttl: 30 });
  run(putCommand(utf8('k'), utf8('m'), { lease: 7 })); // revision 2: createRevision 2
  run(putCommand(utf8('k'), utf8('m'), { lease: 7 })); // revision 3: version 2, modRevision 3
});
afterEach(async () => {
  await temp.dispose();
});

describe('compare', () => {
  const key = utf8('k');
  // Each target of key k (value "m", version 2, createRevision 2, modRevision 3, lease 7) against
  // an operand below, equal to and above it.
  const cases: { name: string; make: (result: CompareResult, operand: 'below' | 'equal' | 'above') => Compare }[] = [
    {
      name: 'value',
      make: (result, operand) => ({ key, result, target: 'value', value: utf8({ below: 'l', equal: 'm', above: 'n' }[operand]) }),
    },
    {
      name: 'version',
      make: (result, operand) => ({ key, result, target: 'version', version: { below: 1, equal: 2, above: 3 }[operand] }),
    },
    {
      name: 'createRevision',
      make: (result, operand) => ({
        key,
        result,
        target: 'createRevision',
        createRevision: { below: 1, equal: 2, above: 3 }[operand],
      }),
    },
    {
      name: 'modRevision',
      make: (result, operand) => ({ key, result, target: 'modRevision', modRevision: { below: 2, equal: 3, above: 4 }[operand] }),
    },
    {
      name: 'lease',
      make: (result, operand) => ({ key, result, target: 'lease', lease: { below: 6, equal: 7, above: 8 }[operand] }),
    },
  ];
  const expected: Record<CompareResult, Record<'below' | 'equal' | 'above', boolean>> = {
    equal: { below: false, equal: true, above: false },
    notEqual: { below: true, equal: false, above: true },
    greater: { below: true, equal: false, above: false },
    less: { below: false, equal: false, above: true },
  };

  for (const { name, make } of cases) {
    it(`compares ${name} with every result`, () => {
      for (const result of ['equal', 'notEqual', 'greater', 'less'] as const) {
        for (const operand of ['below', 'equal', 'above'] as const) {
          const response = runTxn(txnCommand([make(result, operand)], [], []));
          expect({ result, operand, succeeded: response.succeeded }).toEqual({
            result,
            operand,
            succeeded: expected[result][operand],
          });
        }
      }
    });
  }

  it('compares a missing key as zero, and fails any value compare on it', () => {
    const missing = utf8('missing');
    expect(runTxn(txnCommand([{ key: missing, result: 'equal', target: 'createRevision', createRevision: 0 }], [])).succeeded).toBe(true);
    expect(runTxn(txnCommand([{ key: missing, result: 'equal', target: 'version', version: 0 }], [])).succeeded).toBe(true);
    expect(runTxn(txnCommand([{ key: missing, result: 'equal', target: 'value', value: new Uint8Array(0) }], [])).succeeded).toBe(false);
    expect(runTxn(txnCommand([{ key: missing, result: 'notEqual', target: 'value', value: utf8('x') }], [])).succeeded).toBe(false);
  });

  it('requires every key of a compare range to match', () => {
    run(putCommand(utf8('r1'), utf8('same'))); // 4
    run(putCommand(utf8('r2'), utf8('same'))); // 5
    const range = { key: utf8('r'), rangeEnd: utf8('s') };
    expect(runTxn(txnCommand([{ ...range, result: 'equal', target: 'value', value: utf8('same') }], [])).succeeded).toBe(true);
    run(putCommand(utf8('r2'), utf8('other'))); // 6
    expect(runTxn(txnCommand([{ ...range, result: 'equal', target: 'value', value: utf8('same') }], [])).succeeded).toBe(false);
    expect(runTxn(txnCommand([{ ...range, result: 'greater', target: 'modRevision', modRevision: 3 }], [])).succeeded).toBe(true);
  });

  it('needs all compares to hold', () => {
    const holds: Compare = { key, result: 'equal', target: 'version', version: 2 };
    const fails: Compare = { key, result: 'equal', target: 'version', version: 9 };
    expect(runTxn(txnCommand([holds, holds], [])).succeeded).toBe(true);
    expect(runTxn(txnCommand([holds, fails], [])).succeeded).toBe(false);
  });
});

describe('branches and revisions', () => {
  it('runs the success branch as one revision with sub-revisions', () => {
    const changes: StoreChange[] = [];
    temp.store.subscribe((change) => changes.push(change));
    const response = runTxn(
      txnCommand(
        [{ key: utf8('k'), result: 'equal', target: 'version', version: 2 }],
        [putCommand(utf8('a'), utf8('1')), putCommand(utf8('b'), utf8('2')), deleteRangeCommand(utf8('k')), rangeOp(utf8('a'))],
        [putCommand(utf8('never'), utf8('x'))],
      ),
    );
    expect(response.succeeded).toBe(true);
    expect(response.revision).toBe(4);
    expect(response.responses.map((r) => r.type)).toEqual(['put', 'put', 'deleteRange', 'range']);
    // The range inside the txn sees the txn's own put.
    const read = response.responses[3];
    expect(read?.type === 'range' && read.kvs.map((kv) => [text(kv.key), kv.modRevision])).toEqual([['a', 4]]);
    expect(temp.store.currentRevision).toBe(4);
    expect(temp.store.range({ key: utf8('never') }).kvs).toEqual([]);
    expect(changes).toHaveLength(1);
    const applied = changes[0];
    expect(applied?.type === 'applied' && applied.events.map((e) => [e.type, text(e.kv.key), e.kv.modRevision])).toEqual([
      ['put', 'a', 4],
      ['put', 'b', 4],
      ['delete', 'k', 4],
    ]);
  });

  it('runs the failure branch when a compare fails', () => {
    const response = runTxn(
      txnCommand([{ key: utf8('k'), result: 'equal', target: 'value', value: utf8('nope') }], [putCommand(utf8('yes'), utf8('1'))], [
        putCommand(utf8('no'), utf8('1')),
        rangeOp(utf8('k')),
      ]),
    );
    expect(response).toMatchObject({ succeeded: false, revision: 4 });
    expect(temp.store.range({ key: utf8('no') }).kvs).toHaveLength(1);
    expect(temp.store.range({ key: utf8('yes') }).kvs).toHaveLength(0);
  });

  it('does not bump the revision for a read-only txn', () => {
    const response = runTxn(txnCommand([], [rangeOp(utf8('k'))]));
    expect(response.revision).toBe(3);
    expect(temp.store.currentRevision).toBe(3);
  });

  it('evaluates nested compares before any write, and runs the chosen nested branches', () => {
    // The nested compare looks at k's version before the outer put changes it (etcd's compareToPath).
    const response = runTxn(
      txnCommand(
        [],
        [
          putCommand(utf8('k'), utf8('changed')),
          txnCommand([{ key: utf8('k'), result: 'equal', target: 'version', version: 2 }], [putCommand(utf8('inner'), utf8('then'))], [
            putCommand(utf8('inner'), utf8('else')),
          ]),
        ],
      ),
    );
    expect(response.succeeded).toBe(true);
    const nested = response.responses[1];
    expect(nested?.type === 'txn' && nested.succeeded).toBe(true);
    expect(text(temp.store.range({ key: utf8('inner') }).kvs[0]?.value)).toBe('then');
    expect(temp.store.range({ key: utf8('k') }).kvs[0]).toMatchObject({ version: 3, modRevision: 4 });
    expect(temp.store.range({ key: utf8('inner') }).kvs[0]).toMatchObject({ modRevision: 4 });
  });

  it('fails as a whole when one op fails: nothing is written', () => {
    const outcome = temp.store.apply(
      ++index,
      txnCommand([], [putCommand(utf8('first'), utf8('1')), putCommand(utf8('second'), utf8('2'), { lease: 99 })]),
    );
    expect(outcome.status).toBe('rejected');
    if (outcome.status === 'rejected') expect(outcome.error).toBeInstanceOf(LeaseNotFoundError);
    expect(temp.store.range({ key: utf8('first') }).kvs).toEqual([]);
    expect(temp.store.currentRevision).toBe(3);
    expect(temp.store.appliedIndex).toBe(index);
  });

  it('fails a txn whose range reads a compacted revision', () => {
    run({ type: 'compact', revision: 3 });
    const outcome = temp.store.apply(++index, txnCommand([], [putCommand(utf8('x'), utf8('1')), rangeOp(utf8('k'), { revision: 2 })]));
    expect(outcome.status === 'rejected' && outcome.error).toBeInstanceOf(CompactedError);
    expect(temp.store.range({ key: utf8('x') }).kvs).toEqual([]);
  });
});
