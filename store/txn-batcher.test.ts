// The txn batcher: concurrent txns coalesced into batch entries, each caller answered as if alone.

import { afterEach, describe, expect, it } from 'vitest';
import { EntryType, type Entry } from '../raft/core/types.js';
import { TooManyRequestsError } from './backend.js';
import { LocalBackend } from './local-backend.js';
import { type TxnRequest, decodeCommand, putCommand, rangeOp, txnCommand } from './mvcc/commands.js';
import { InvalidCommandError, LeaseNotFoundError } from './mvcc/errors.js';
import type { ApplyOutcome } from './mvcc/responses.js';
import { type TempStore, openTempStore, text, utf8 } from './mvcc/testing.js';
import { LeaderChangedError, MvccStateMachine } from './replicated-store.js';
import { type EntryProposal, TxnBatcher } from './txn-batcher.js';

const stores: TempStore[] = [];
const backends: LocalBackend[] = [];
afterEach(async () => {
  for (const b of backends.splice(0)) b.close();
  for (const temp of stores.splice(0)) await temp.dispose();
});

function newBackend(): { backend: LocalBackend; temp: TempStore } {
  const temp = openTempStore();
  stores.push(temp);
  const backend = new LocalBackend({ store: temp.store });
  backends.push(backend);
  return { backend, temp };
}

function create(key: string, value: string): TxnRequest {
  const k = utf8(key);
  return txnCommand([{ key: k, target: 'createRevision', result: 'equal', createRevision: 0 }], [putCommand(k, utf8(value))], [rangeOp(k)]);
}

/** A hand-driven event loop for the batcher's deferred flush. */
class ManualDefer {
  private queue: (() => void)[] = [];
  readonly defer = (fn: () => void): void => {
    this.queue.push(fn);
  };
  run(): void {
    const fns = this.queue;
    this.queue = [];
    for (const fn of fns) fn();
  }
}

/** An entry proposal whose take and outcome the test settles. */
interface HeldEntry {
  readonly command: Uint8Array;
  take(): void;
  refuse(error: Error): void;
  answer(outcome: ApplyOutcome): void;
  fail(error: Error): void;
}

function holdingProposer(): { entries: HeldEntry[]; proposeEntry: (command: Uint8Array) => EntryProposal } {
  const entries: HeldEntry[] = [];
  return {
    entries,
    proposeEntry: (command) => {
      let take!: () => void;
      let refuse!: (e: Error) => void;
      let answer!: (o: ApplyOutcome) => void;
      let fail!: (e: Error) => void;
      const taken = new Promise<void>((resolve, reject) => ((take = resolve), (refuse = reject)));
      const outcome = new Promise<ApplyOutcome>((resolve, reject) => ((answer = resolve), (fail = reject)));
      entries.push({ command, take, refuse, answer, fail });
      return { taken, outcome };
    },
  };
}

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('TxnBatcher over a local backend', () => {
  it('coalesces concurrent txns into one entry; each caller gets its own response and revision', async () => {
    const { backend, temp } = newBackend();
    const before = temp.store.appliedIndex;
    const results = await Promise.all([
      backend.proposeTxn(create('/a', '1')),
      backend.proposeTxn(create('/a', '2')), // loses: /a exists by then
      backend.proposeTxn(create('/b', '1')),
      backend.proposeTxn(txnCommand([], [rangeOp(utf8('/a'))])),
    ]);
    expect(temp.store.appliedIndex).toBe(before + 1);
    expect(results.map((r) => r.succeeded)).toEqual([true, false, true, true]);
    expect(results.map((r) => r.revision)).toEqual([2, 2, 3, 3]);
    const loser = results[1]!.responses[0]!;
    expect(loser.type === 'range' && text(loser.kvs[0]?.value)).toBe('1');
    // A lone txn is still a plain txn entry, and answers the same way.
    expect((await backend.proposeTxn(create('/c', '1'))).revision).toBe(4);
  });

  it('fails only the caller whose txn is invalid or rejected at apply', async () => {
    const { backend, temp } = newBackend();
    const dup = txnCommand([], [putCommand(utf8('/d'), utf8('1')), putCommand(utf8('/d'), utf8('2'))]);
    const leased = txnCommand([], [putCommand(utf8('/l'), utf8('v'), { lease: 7 })]);
    const results = await Promise.allSettled([
      backend.proposeTxn(create('/a', '1')),
      backend.proposeTxn(dup),
      backend.proposeTxn(leased),
      backend.proposeTxn(create('/b', '1')),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'fulfilled']);
    expect(results[1]!.status === 'rejected' && results[1]!.reason).toBeInstanceOf(InvalidCommandError);
    expect(results[2]!.status === 'rejected' && results[2]!.reason).toBeInstanceOf(LeaseNotFoundError);
    expect(results[3]!.status === 'fulfilled' && results[3]!.value.revision).toBe(3);
    expect(temp.store.range({ key: utf8('/l') }).kvs).toHaveLength(0);
  });

  it('feeds watchers one revision per txn', async () => {
    const { backend } = newBackend();
    const watcher = backend.watch({ key: utf8('/'), rangeEnd: utf8('0') });
    await Promise.all([backend.proposeTxn(create('/a', '1')), backend.proposeTxn(create('/b', '1'))]);
    const r = await watcher.next();
    if (r.done === true || r.value.type !== 'events') throw new Error('expected events');
    expect(r.value.events.map((e) => `${text(e.kv.key)}@${e.kv.modRevision}`)).toEqual(['/a@2', '/b@3']);
    watcher.cancel();
  });
});

describe('TxnBatcher', () => {
  it('gathers txns while Raft has yet to take the previous entry, then proposes them together', async () => {
    const loop = new ManualDefer();
    const { entries, proposeEntry } = holdingProposer();
    const batcher = new TxnBatcher({ proposeEntry, defer: loop.defer });
    void batcher.propose(create('/a', '1'));
    loop.run();
    expect(entries).toHaveLength(1);
    for (const key of ['/b', '/c', '/d']) void batcher.propose(create(key, '1'));
    loop.run();
    expect(entries).toHaveLength(1); // the first entry is not taken yet
    // The Raft loop, about to take proposals, asks for what has gathered: it goes as one entry.
    batcher.flush();
    expect(entries).toHaveLength(2);
    const second = decodeCommand(entries[1]!.command);
    expect(second.type === 'batch' && second.txns.length).toBe(3);
    entries[0]!.take();
    entries[1]!.take();
    await settle();
    // Nothing waits for a take: a new txn goes with the next turn of the event loop.
    void batcher.propose(create('/e', '1'));
    loop.run();
    expect(entries).toHaveLength(3);
    expect(decodeCommand(entries[2]!.command).type).toBe('txn');
  });

  it('closes a batch at maxBatchTxns, and refuses txns past maxPendingTxns', async () => {
    const loop = new ManualDefer();
    const { entries, proposeEntry } = holdingProposer();
    const batcher = new TxnBatcher({ proposeEntry, defer: loop.defer, maxBatchTxns: 4, maxPendingTxns: 10 });
    const calls = Promise.allSettled(Array.from({ length: 10 }, (_, i) => batcher.propose(create(`/k${i}`, '1'))));
    expect(entries).toHaveLength(2); // two full batches went at once; two txns wait for the loop
    expect(batcher.pendingTxns).toBe(10);
    await expect(batcher.propose(create('/over', '1'))).rejects.toBeInstanceOf(TooManyRequestsError);
    // The whole entry's error reaches each of its txns, and frees their places.
    const refused = new Error('no leader');
    for (const e of entries) {
      e.refuse(refused);
      e.fail(refused);
    }
    await settle();
    loop.run();
    expect(entries).toHaveLength(3);
    entries[2]!.fail(refused);
    const settled = await calls;
    expect(settled.every((s) => s.status === 'rejected' && s.reason === refused)).toBe(true);
    expect(batcher.pendingTxns).toBe(0);
  });

  it('fails every waiter of an entry when the leader changes, as other writes are failed', async () => {
    const temp = openTempStore();
    stores.push(temp);
    const machine = new MvccStateMachine(temp.store, 1, { warn: () => {} });
    const payloads: Uint8Array[] = [];
    const loop = new ManualDefer();
    const batcher = new TxnBatcher({
      defer: loop.defer,
      proposeEntry: (command) => {
        const { payload, outcome } = machine.trackEncoded(command);
        payloads.push(payload);
        return { taken: Promise.resolve(), outcome };
      },
    });
    const lost = [batcher.propose(create('/a', '1')), batcher.propose(create('/b', '1'))];
    loop.run();
    machine.failWaiting();
    const settled = await Promise.allSettled(lost);
    expect(settled.every((s) => s.status === 'rejected' && s.reason instanceof LeaderChangedError)).toBe(true);
    // The next entry commits and is applied: its callers hear their own responses.
    const kept = [batcher.propose(create('/c', '1')), batcher.propose(create('/c', '2'))];
    await settle();
    loop.run();
    const entry = (index: number, data: Uint8Array): Entry => ({ term: 1, index, type: EntryType.Normal, data });
    machine.applyEntries([entry(1, payloads[0]!), entry(2, payloads[1]!)]);
    const [first, second] = await Promise.all(kept);
    // The entry whose waiters were failed committed after all (its outcome was unknown).
    expect(text(temp.store.range({ key: utf8('/b') }).kvs[0]?.value)).toBe('1');
    expect(first!.succeeded).toBe(true);
    expect(first!.revision).toBe(4);
    expect(second!.succeeded).toBe(false);
  });
});
