// The batch command: independent txns in one log entry, each applied as if proposed alone.

import { afterEach, describe, expect, it } from 'vitest';
import {
  type BatchCommand,
  type TxnRequest,
  MAX_BATCH_COMMAND_BYTES,
  MAX_BATCH_TXNS,
  MAX_REQUEST_BYTES,
  decodeCommand,
  encodeBatch,
  encodeCommand,
  putCommand,
  rangeOp,
  txnCommand,
} from './commands.js';
import { InvalidCommandError, LeaseNotFoundError, RequestTooLargeError } from './errors.js';
import { prefixRangeEnd } from './keyspace.js';
import { type MvccStore, type StoreChange, cannotBeRejected } from './kv-store.js';
import type { ApplyOutcome, BatchResponse, WatchEvent } from './responses.js';
import { type TempStore, openTempStore, text, utf8 } from './testing.js';
import { WatchHub } from './watch.js';

const stores: TempStore[] = [];
function newStore(): TempStore {
  const temp = openTempStore();
  stores.push(temp);
  return temp;
}
afterEach(async () => {
  for (const temp of stores.splice(0)) await temp.dispose();
});

/** Create key unless it exists (the registry's create). */
function create(key: string, value: string): TxnRequest {
  const k = utf8(key);
  return txnCommand([{ key: k, target: 'createRevision', result: 'equal', createRevision: 0 }], [putCommand(k, utf8(value))], [rangeOp(k)]);
}

/** Put key if its mod revision is still modRevision (the registry's update). */
function update(key: string, value: string, modRevision: number): TxnRequest {
  const k = utf8(key);
  return txnCommand([{ key: k, target: 'modRevision', result: 'equal', modRevision }], [putCommand(k, utf8(value))], [rangeOp(k)]);
}

function batch(...txns: TxnRequest[]): BatchCommand {
  return { type: 'batch', txns };
}

function batchResponse(outcome: ApplyOutcome): BatchResponse {
  if (outcome.status !== 'applied' || outcome.response.type !== 'batch') throw new Error(`not an applied batch: ${outcome.status}`);
  return outcome.response;
}

function applyEncoded(store: MvccStore, index: number, bytes: Uint8Array): BatchResponse {
  return batchResponse(store.applyBatch([{ index, bytes }])[0]!);
}

describe('batch command encoding', () => {
  it('concatenating encoded txns gives exactly the canonical encoding of the batch', () => {
    for (const n of [1, 15, 16, 300]) {
      const txns = Array.from({ length: n }, (_, i) => create(`/k/${i}`, `v${i}`));
      const pieces = txns.map((t) => encodeCommand({ type: 'txn', ...t }));
      expect(encodeBatch(pieces)).toEqual(encodeCommand(batch(...txns)));
      const decoded = decodeCommand(encodeBatch(pieces));
      expect(decoded.type).toBe('batch');
      expect(decoded.type === 'batch' && decoded.txns).toHaveLength(n);
    }
  });

  it('bounds the count and the bytes, and keeps each txn’s own limits', () => {
    const one = encodeCommand({ type: 'txn', ...create('/k', 'v') });
    expect(() => encodeBatch([])).toThrow(RangeError);
    expect(() => encodeBatch(Array.from({ length: MAX_BATCH_TXNS + 1 }, () => one))).toThrow(RangeError);
    expect(() => encodeCommand(batch(...Array.from({ length: MAX_BATCH_TXNS + 1 }, () => create('/k', 'v'))))).toThrow(InvalidCommandError);
    expect(() => encodeCommand(batch())).toThrow(InvalidCommandError);
    // Two txns of 1 MiB each: over one request's bound together, within a batch's.
    const big = (key: string): TxnRequest => txnCommand([], [putCommand(utf8(key), new Uint8Array(1024 * 1024))]);
    expect(encodeCommand(batch(big('/a'), big('/b'))).length).toBeGreaterThan(MAX_REQUEST_BYTES);
    expect(() => encodeCommand(batch(big('/a'), big('/b'), big('/c')))).toThrow(RequestTooLargeError);
    const pieces = ['/a', '/b', '/c'].map((k) => encodeCommand({ type: 'txn', ...big(k) }));
    expect(() => encodeBatch(pieces)).toThrow(RequestTooLargeError);
    expect(MAX_BATCH_COMMAND_BYTES).toBeGreaterThan(MAX_REQUEST_BYTES);
    // A txn inside a batch is held to one txn's limits (here: a duplicate key in a branch).
    const dup = txnCommand([], [putCommand(utf8('/d'), utf8('1')), putCommand(utf8('/d'), utf8('2'))]);
    expect(() => encodeCommand(batch(create('/k', 'v'), dup))).toThrow(/txns\[1\]\.success/);
    // A plain command is still held to MAX_REQUEST_BYTES when decoded.
    expect(() => encodeCommand(putCommand(utf8('/p'), new Uint8Array(MAX_REQUEST_BYTES)))).toThrow(RequestTooLargeError);
  });
});

describe('applying a batch', () => {
  it('gives each txn its own outcome and revision; a failed compare takes no revision', () => {
    const { store } = newStore();
    store.apply(1, putCommand(utf8('/x'), utf8('old')));
    expect(store.currentRevision).toBe(2);
    const response = batchResponse(
      store.apply(2, batch(create('/a', '1'), create('/x', 'clash'), update('/x', 'new', 2), update('/x', 'stale', 2), create('/b', '2'))),
    );
    expect(response.outcomes.map((o) => o.status)).toEqual(['applied', 'applied', 'applied', 'applied', 'applied']);
    const txns = response.outcomes.map((o) => (o.status === 'applied' ? o.response : undefined));
    expect(txns.map((t) => t?.succeeded)).toEqual([true, false, true, false, true]);
    // Revisions as if proposed one by one: 3 (/a), none, 4 (/x), none, 5 (/b).
    expect(txns.map((t) => t?.revision)).toEqual([3, 3, 4, 4, 5]);
    // The failed create sees the current /x through its failure branch.
    const clash = txns[1]!.responses[0]!;
    expect(clash.type === 'range' && text(clash.kvs[0]?.value)).toBe('old');
    // The stale update sees the update before it (same batch, earlier txn).
    const stale = txns[3]!.responses[0]!;
    expect(stale.type === 'range' && stale.kvs[0]?.modRevision).toBe(4);
    expect(response.revision).toBe(5);
    expect(store.currentRevision).toBe(5);
    expect(store.appliedIndex).toBe(2);
    expect(text(store.range({ key: utf8('/x') }).kvs[0]?.value)).toBe('new');
  });

  it('knows which txns can never be rejected (those run without a nested transaction)', () => {
    expect(cannotBeRejected(create('/a', '1'))).toBe(true);
    expect(cannotBeRejected(update('/a', '1', 3))).toBe(true);
    expect(cannotBeRejected(txnCommand([], [putCommand(utf8('/l'), utf8('v'), { lease: 1 })]))).toBe(false);
    expect(cannotBeRejected(txnCommand([], [], [putCommand(utf8('/l'), utf8(''), { ignoreValue: true })]))).toBe(false);
    expect(cannotBeRejected(txnCommand([], [rangeOp(utf8('/r'), { revision: 2 })]))).toBe(false);
    expect(cannotBeRejected(txnCommand([], [txnCommand([], [], [rangeOp(utf8('/r'), { revision: 2 })])]))).toBe(false);
  });

  it('rejects one txn alone (an unknown lease) and applies the rest', () => {
    const { store } = newStore();
    const leased = txnCommand([], [putCommand(utf8('/l1'), utf8('v')), putCommand(utf8('/l2'), utf8('v'), { lease: 42 })]);
    const response = batchResponse(store.apply(1, batch(create('/a', '1'), leased, create('/b', '2'))));
    expect(response.outcomes.map((o) => o.status)).toEqual(['applied', 'rejected', 'applied']);
    const rejected = response.outcomes[1]!;
    expect(rejected.status === 'rejected' && rejected.error).toBeInstanceOf(LeaseNotFoundError);
    // Its first put was rolled back with it, and it took no revision.
    expect(store.range({ key: utf8('/l1') }).kvs).toHaveLength(0);
    const revisions = response.outcomes.map((o) => (o.status === 'applied' ? o.response.revision : 0));
    expect(revisions).toEqual([2, 0, 3]);
    expect(store.currentRevision).toBe(3);
  });

  it('tells watchers each txn’s writes as its own revision, in order, never split', async () => {
    const { store } = newStore();
    const heard: StoreChange[] = [];
    store.subscribe((c) => heard.push(c));
    const hub = new WatchHub(store, { maxEventsPerResponse: 1 });
    const watcher = hub.watch({ key: utf8('/'), rangeEnd: prefixRangeEnd(utf8('/')) });
    const two = txnCommand([], [putCommand(utf8('/p'), utf8('1')), putCommand(utf8('/q'), utf8('1'))]);
    const bytes = encodeCommand(batch(create('/a', '1'), create('/a', 'again'), two, create('/b', '1')));
    applyEncoded(store, 1, bytes);
    expect(heard.map((c) => (c.type === 'applied' ? c.revision : -1))).toEqual([2, 3, 4]);
    const responses: (readonly WatchEvent[])[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await watcher.next();
      if (r.done === true || r.value.type !== 'events') throw new Error('expected events');
      responses.push(r.value.events);
    }
    // One event per response at most, except that revision 3's two events go out together.
    expect(responses.map((events) => events.map((e) => `${text(e.kv.key)}@${e.kv.modRevision}`))).toEqual([
      ['/a@2'],
      ['/p@3', '/q@3'],
      ['/b@4'],
    ]);
    hub.close();
  });

  it('is skipped when replayed after a restart, and survives a snapshot round trip', async () => {
    const temp = newStore();
    const bytes = encodeCommand(batch(create('/a', '1'), create('/b', '2')));
    applyEncoded(temp.store, 1, bytes);
    await temp.reopen();
    expect(temp.store.applyBatch([{ index: 1, bytes }])[0]!.status).toBe('skipped');
    expect(temp.store.currentRevision).toBe(3);
    const snapshot = temp.store.snapshot();
    const other = newStore();
    other.store.restore(snapshot);
    expect(Buffer.from(other.store.snapshot())).toEqual(Buffer.from(snapshot));
    expect(other.store.appliedIndex).toBe(1);
    expect(text(other.store.range({ key: utf8('/b') }).kvs[0]?.value)).toBe('2');
    // The same entries on another master give the same state, byte for byte.
    const replica = newStore();
    applyEncoded(replica.store, 1, bytes);
    expect(Buffer.from(replica.store.snapshot())).toEqual(Buffer.from(snapshot));
  });

  it('applyBatchAsync publishes to readers and watchers only once committed', async () => {
    const { store } = newStore();
    const heard: StoreChange[] = [];
    store.subscribe((c) => heard.push(c));
    const applying = store.applyBatchAsync([{ index: 1, bytes: encodeCommand(batch(create('/a', '1'), create('/b', '1'))) }]);
    // Queued in lmdb-js's write batch: nothing is visible yet, and no other write may start.
    expect(store.currentRevision).toBe(1);
    expect(store.range({ key: utf8('/a') }).kvs).toHaveLength(0);
    expect(heard).toHaveLength(0);
    expect(() => store.apply(2, putCommand(utf8('/c'), utf8('1')))).toThrow(/asynchronous apply/);
    const [outcome] = await applying;
    expect(batchResponse(outcome!).outcomes.map((o) => o.status === 'applied' && o.response.revision)).toEqual([2, 3]);
    expect(store.currentRevision).toBe(3);
    expect(store.appliedIndex).toBe(1);
    expect(text(store.range({ key: utf8('/b') }).kvs[0]?.value)).toBe('1');
    expect(heard.map((c) => (c.type === 'applied' ? c.revision : -1))).toEqual([2, 3]);
    expect(store.apply(2, putCommand(utf8('/c'), utf8('1'))).status).toBe('applied');
  });

  it('applies identically to the same txns proposed one by one', () => {
    const txns = [create('/a', '1'), create('/b', '1'), update('/a', '2', 2), update('/b', '2', 99), create('/a', 'x')];
    const batched = newStore().store;
    batched.apply(1, batch(...txns));
    const single = newStore().store;
    const singleResponses = txns.map((t, i) => single.apply(i + 1, { type: 'txn', ...t }));
    expect(batched.currentRevision).toBe(single.currentRevision);
    const all = (s: MvccStore) => s.range({ key: utf8('/'), rangeEnd: prefixRangeEnd(utf8('/')) }).kvs;
    expect(all(batched)).toEqual(all(single));
    expect(singleResponses.map((o) => o.status === 'applied' && o.response.revision)).toEqual([2, 3, 4, 4, 4]);
  });
});
