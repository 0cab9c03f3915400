// Compaction: history before the compact revision goes, each key's latest version at or before it
// stays (unless it is a tombstone), reads at or after it are unchanged.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Command, deleteRangeCommand, putCommand, txnCommand } from './commands.js';
import { COMPACTION_BATCH_ENTRIES } from './compaction.js';
import { CompactedError, FutureRevisionError } from './errors.js';
import type { ApplyOutcome } from './responses.js';
import { type TempStore, openTempStore, text, utf8 } from './testing.js';

let temp: TempStore;
let index = 0;

function apply(command: Command): ApplyOutcome {
  return temp.store.apply(++index, command);
}

function run(command: Command): void {
  const outcome = apply(command);
  if (outcome.status !== 'applied') throw new Error(`apply ${outcome.status}`);
}

const all = { key: utf8('\0'), rangeEnd: utf8('\0') };

function stateAt(revision: number): string[] {
  return temp.store.range({ ...all, revision }).kvs.map((kv) => `${text(kv.key)}=${text(kv.value)}@${kv.modRevision}/v${kv.version}`);
}

beforeEach(() => {
  temp = openTempStore();
  index = 0;
  run(putCommand(utf8('a'), utf8('1'))); // 2
  run(putCommand(utf8('a'), utf8('2'))); // 3
  run(putCommand(utf8('b'), utf8('1'))); // 4
  run(deleteRangeCommand(utf8('b'))); // 5
  run(putCommand(utf8('c'), utf8('1'))); // 6
  run(putCommand(utf8('a'), utf8('3'))); // 7
});
afterEach(async () => {
  await temp.dispose();
});

describe('compaction', () => {
  it('keeps the latest version at or before the revision and drops tombstoned keys', () => {
    const before = [5, 6, 7].map(stateAt);
    expect(temp.store.stats().historyEntries).toBe(6);
    run({ type: 'compact', revision: 5 });
    expect(temp.store.compactRevision).toBe(5);
    // a@2 is superseded by a@3; b@4 and its tombstone @5 go; a@3, c@6, a@7 stay.
    expect(temp.store.stats().historyEntries).toBe(3);
    expect([5, 6, 7].map(stateAt)).toEqual(before);
    expect(stateAt(5)).toEqual(['a=2@3/v2']);
    expect(() => stateAt(4)).toThrow(CompactedError);
  });

  it('does not change the revision and answers with the current one', () => {
    const outcome = apply({ type: 'compact', revision: 6 });
    expect(outcome).toMatchObject({ status: 'applied', response: { type: 'compact', revision: 7 } });
    expect(temp.store.currentRevision).toBe(7);
  });

  it('compacts again later, and keeps versions counting', () => {
    run({ type: 'compact', revision: 3 });
    run({ type: 'compact', revision: 7 });
    expect(temp.store.stats().historyEntries).toBe(2);
    run(putCommand(utf8('a'), utf8('4')));
    expect(stateAt(8)).toEqual(['a=4@8/v4', 'c=1@6/v1']);
  });

  it('refuses a revision already compacted or in the future', () => {
    run({ type: 'compact', revision: 4 });
    const again = apply({ type: 'compact', revision: 4 });
    expect(again.status === 'rejected' && again.error).toBeInstanceOf(CompactedError);
    const future = apply({ type: 'compact', revision: 8 });
    expect(future.status === 'rejected' && future.error).toBeInstanceOf(FutureRevisionError);
    expect(temp.store.compactRevision).toBe(4);
  });

  it('persists the compact revision', async () => {
    run({ type: 'compact', revision: 6 });
    await temp.reopen();
    expect(temp.store.compactRevision).toBe(6);
    expect(() => stateAt(5)).toThrow(CompactedError);
    expect(stateAt(6)).toEqual(['a=2@3/v2', 'c=1@6/v1']);
  });

  it('compacts more history than one batch', () => {
    const keys = 50;
    const rounds = Math.ceil((2 * COMPACTION_BATCH_ENTRIES) / keys) + 1;
    for (let round = 0; round < rounds; round++) {
      const ops = Array.from({ length: keys }, (_, i) => putCommand(utf8(`many/${String(i).padStart(3, '0')}`), utf8(`${round}`)));
      run(txnCommand([], ops));
    }
    const revision = temp.store.currentRevision;
    const latest = stateAt(revision);
    run({ type: 'compact', revision });
    expect(temp.store.stats().historyEntries).toBe(keys + 2); // plus a@7 and c@6
    expect(stateAt(revision)).toEqual(latest);
  });
});
