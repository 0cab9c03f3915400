import { afterEach, describe, expect, it } from 'vitest';
import { type Command, CompareResult, CompareTarget, type RequestOp, deleteRangeCommand, encodeCommand, putCommand, rangeOp, txnCommand } from './commands.js';
import { type MvccStore, type StoreChange, rejectsOnlyBeforeWriting } from './kv-store.js';
import type { ApplyOutcome } from './responses.js';
import { Rng } from '../../raft/sim/rng.js';
import { openTempStore, text, utf8, type TempStore } from './testing.js';

let temp: TempStore | undefined;
afterEach(async () => {
  await temp?.dispose();
  temp = undefined;
});

describe('MvccStore.applyBatch', () => {
  it('applies many entries in one transaction; a rejected one rolls back alone; watchers hear after commit', async () => {
    temp = openTempStore();
    const { store } = temp;
    const heard: StoreChange[] = [];
    store.subscribe((c) => {
      // By the time a listener runs, the whole batch is committed and readable.
      expect(store.appliedIndex).toBe(4);
      heard.push(c);
    });
    const outcomes = store.applyBatch([
      { index: 1, bytes: encodeCommand(putCommand(utf8('a'), utf8('1'))) },
      { index: 2, bytes: undefined },
      { index: 3, bytes: new Uint8Array([0xc1, 0xff]) }, // not a command: rejected, applied as a no-op
      { index: 4, bytes: encodeCommand(putCommand(utf8('b'), utf8('2'))) },
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['applied', 'skipped', 'rejected', 'applied']);
    expect(store.appliedIndex).toBe(4);
    expect(store.currentRevision).toBe(3);
    expect(text(store.range({ key: utf8('b') }).kvs[0]?.value)).toBe('2');
    expect(heard.filter((c) => c.type === 'applied')).toHaveLength(2);
    // Re-applying the batch (a replay after restart) changes nothing.
    const again = store.applyBatch([{ index: 4, bytes: encodeCommand(txnCommand([], [], [])) }]);
    expect(again[0]!.status).toBe('skipped');
    await temp.reopen();
    expect(temp.store.appliedIndex).toBe(4);
    expect(text(temp.store.range({ key: utf8('a') }).kvs[0]?.value)).toBe('1');
  });
});

/** Commands of every type over a few keys and leases, many of which are rejected (unknown lease, missing key, duplicate lease, future revision). */
function randomCommand(next: () => number, revisionHint: number): Command {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
  const key = (): Uint8Array => utf8(`/k${Math.floor(next() * 6)}`);
  const lease = (): number => pick([0, 0, 1, 2, 3]);
  const put = (k: Uint8Array): RequestOp => {
    const ignoreValue = next() < 0.1;
    return putCommand(k, utf8(ignoreValue ? '' : String(next())), { lease: lease(), ignoreValue, prevKv: next() < 0.3 });
  };
  const op = (k: Uint8Array): RequestOp =>
    pick<() => RequestOp>([() => put(k), () => put(k), () => deleteRangeCommand(k), () => rangeOp(k, { revision: next() < 0.2 ? revisionHint + 5 : 0 })])();
  // A txn's branch may not write one key twice: each op gets a key of its own.
  const ops = (): RequestOp[] => ['/k0', '/k1', '/k2', '/k3', '/k4', '/k5'].filter(() => next() < 0.3).map((k) => op(utf8(k)));
  switch (pick(['put', 'put', 'delete', 'txn', 'txn', 'batch', 'lease', 'revoke', 'compact'] as const)) {
    case 'put': return put(key()) as Command;
    case 'delete': return deleteRangeCommand(key(), { rangeEnd: next() < 0.3 ? utf8('/k9') : new Uint8Array(0) });
    case 'txn': return txnCommand([{ key: key(), target: CompareTarget.Version, result: CompareResult.Greater, version: 0 }], ops(), ops());
    case 'batch': return { type: 'batch', txns: Array.from({ length: 1 + Math.floor(next() * 3) }, () => txnCommand([], ops(), [])) };
    case 'lease': return { type: 'leaseGrant', id: lease() || 1, ttl: 60 };
    case 'revoke': return { type: 'leaseRevoke', id: lease() || 2 };
    case 'compact': return { type: 'compact', revision: Math.max(1, revisionHint + Math.floor(next() * 4) - 2) };
  }
}

/** Everything a reader can see: every key with its revisions, the leases, and the counters. */
function visibleState(store: MvccStore): unknown {
  const kvs = store.range({ key: utf8('\0'), rangeEnd: utf8('\0') }).kvs.map((kv) => ({ ...kv, key: text(kv.key), value: text(kv.value) }));
  return { kvs, leases: store.leases(), revision: store.currentRevision, applied: store.appliedIndex };
}

describe('applying in one transaction against one at a time', () => {
  // Inside a batch, commands that can only be rejected before they write run without a nested
  // transaction of their own; applying the same entries one per transaction (each nested, as
  // apply() does) is the reference. Outcomes and the state readers see must be identical.
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    it(`gives the same outcomes and state (seed ${seed})`, async () => {
      temp = openTempStore();
      const reference = openTempStore();
      try {
        const rng = new Rng(seed);
        const next = (): number => rng.next();
        let index = 0;
        for (let round = 0; round < 25; round++) {
          const entries = Array.from({ length: 1 + Math.floor(next() * 12) }, () => ({
            index: ++index,
            bytes: encodeCommand(randomCommand(next, reference.store.currentRevision)),
          }));
          const batched = round % 2 === 0 ? temp.store.applyBatch(entries) : await temp.store.applyBatchAsync(entries);
          const single = entries.map((e) => reference.store.applyEntry(e.index, e.bytes));
          const shape = (o: ApplyOutcome): unknown => (o.status === 'rejected' ? { rejected: o.error.name } : o);
          expect(batched.map(shape)).toEqual(single.map(shape));
          expect(visibleState(temp.store)).toEqual(visibleState(reference.store));
        }
        expect(index).toBeGreaterThan(50);
        await temp.reopen();
        expect(visibleState(temp.store)).toEqual(visibleState(reference.store));
      } finally {
        await reference.dispose();
      }
    });
  }

  it('says which commands are rejected only before they write', () => {
    expect(rejectsOnlyBeforeWriting(putCommand(utf8('/a'), utf8('1'), { lease: 7 }))).toBe(true);
    expect(rejectsOnlyBeforeWriting({ type: 'leaseRevoke', id: 7 })).toBe(true);
    expect(rejectsOnlyBeforeWriting({ type: 'batch', txns: [txnCommand([], [putCommand(utf8('/a'), utf8('1'), { lease: 7 })])] })).toBe(true);
    expect(rejectsOnlyBeforeWriting(txnCommand([], [putCommand(utf8('/a'), utf8('1'))]))).toBe(true);
    // A txn's second op may fail after its first wrote: it needs its own nested transaction.
    expect(rejectsOnlyBeforeWriting(txnCommand([], [putCommand(utf8('/a'), utf8('1')), putCommand(utf8('/b'), utf8('2'), { lease: 7 })]))).toBe(false);
  });
});
