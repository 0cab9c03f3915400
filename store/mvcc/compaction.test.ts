// Compaction: history before the compact revision goes, each key's latest version at or before it
// stays (unless it is a tombstone), reads at or after it are unchanged.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Command, deleteRangeCommand, putCommand, txnCommand } from './commands.js';
import { COMPACTION_START, COMPACTION_STEP_ENTRIES, compactionStep } from './compaction.js';
import { CompactedError, FutureRevisionError } from './errors.js';
import type { ApplyOutcome } from './responses.js';
import { decodeRevisionKey } from './keyspace.js';
import { META_STATE_KEY, type MvccTables, decodeRecord, encodeMeta, openTables, pack } from './tables.js';
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

  it('removes history a step per applied entry, with every read at or after the revision unchanged meanwhile', () => {
    const keys = 50;
    const rounds = Math.ceil((3 * COMPACTION_STEP_ENTRIES) / keys) + 1;
    for (let round = 0; round < rounds; round++) {
      const ops = Array.from({ length: keys }, (_, i) => putCommand(utf8(`many/${String(i).padStart(3, '0')}`), utf8(`${round}`)));
      run(txnCommand([], ops));
    }
    const revision = temp.store.currentRevision;
    const latest = stateAt(revision);
    const entries = temp.store.stats().historyEntries;
    run({ type: 'compact', revision });
    expect(() => stateAt(revision - 1)).toThrow(CompactedError);
    const counts = [temp.store.stats().historyEntries];
    // Unrelated writes carry the steps; each leaves the compacted state readable as it was.
    for (let i = 0; counts[counts.length - 1]! > keys + 2 + i; i++) {
      expect(i).toBeLessThan(Math.ceil(entries / COMPACTION_STEP_ENTRIES) + 1);
      run(putCommand(utf8(`other/${i}`), utf8('x')));
      expect(stateAt(revision)).toEqual(latest);
      counts.push(temp.store.stats().historyEntries - (i + 1));
    }
    expect(counts[0]).toBeLessThan(entries);
    expect(counts.length).toBeGreaterThan(2);
    expect(counts[counts.length - 1]).toBe(keys + 2); // plus a@7 and c@6
    expect(stateAt(revision)).toEqual(latest);
  });

  it('reads the meta a store wrote before compaction went in steps (format 1) as no compaction in progress', async () => {
    run({ type: 'compact', revision: 5 });
    const tables = openTables(temp.root);
    tables.root.transactionSync(() => tables.meta.putSync(META_STATE_KEY, pack([1, index, 7, 5])));
    await temp.reopen();
    expect(temp.store.compactRevision).toBe(5);
    run(putCommand(utf8('a'), utf8('4')));
    expect(stateAt(8)).toEqual(['a=4@8/v4', 'c=1@6/v1']);
    const corrupt = openTables(temp.root);
    corrupt.root.transactionSync(() => corrupt.meta.putSync(META_STATE_KEY, pack([2, index, 8, 5, 'a key'])));
    await expect(temp.reopen()).rejects.toThrow(/compactNext/);
  });

  it('goes on after a restart, and a new compaction meanwhile starts over at its revision', async () => {
    for (let round = 0; round < 12; round++) {
      run(txnCommand([], Array.from({ length: 100 }, (_, i) => putCommand(utf8(`k/${i}`), utf8(`${round}`)))));
    }
    const first = temp.store.currentRevision - 5;
    run({ type: 'compact', revision: first });
    run(putCommand(utf8('x'), utf8('1')));
    await temp.reopen();
    run(putCommand(utf8('x'), utf8('2')));
    const second = temp.store.currentRevision;
    run({ type: 'compact', revision: second });
    const at = stateAt(second);
    for (let i = 0; i < 20; i++) run(putCommand(utf8('y'), utf8(`${i}`)));
    // Of k/*, x, a and c only the latest versions stay; y's 20 versions are after the revision.
    expect(temp.store.stats().historyEntries).toBe(100 + 1 + 2 + 20);
    expect(stateAt(second)).toEqual(at);
  });

  it('is the same on every master at every log index, and a snapshot taken in the middle carries it on', async () => {
    const other = openTempStore();
    let third: TempStore | undefined;
    try {
      let otherIndex = 0;
      const both = (command: Command): void => {
        run(command);
        expect(other.store.apply(++otherIndex, command).status).toBe('applied');
      };
      for (let i = 0; i < 6; i++) other.store.apply(++otherIndex, putCommand(utf8('init'), utf8(String(i))));
      // The same six setup writes as beforeEach's, so both stores hold the same history.
      other.store.restore(temp.store.snapshot());
      otherIndex = index;
      for (let round = 0; round < 8; round++) both(txnCommand([], Array.from({ length: 100 }, (_, i) => putCommand(utf8(`k/${i}`), utf8(`${round}`)))));
      both({ type: 'compact', revision: temp.store.currentRevision });
      both(putCommand(utf8('z'), utf8('0')));
      expect(Buffer.from(other.store.snapshot()).equals(Buffer.from(temp.store.snapshot()))).toBe(true);
      // A member that gets the snapshot now goes on from the same place and ends the same.
      third = openTempStore();
      third.store.restore(temp.store.snapshot());
      let thirdIndex = index;
      for (let i = 0; i < 5; i++) {
        const command = putCommand(utf8('z'), utf8(String(i + 1)));
        both(command);
        expect(third.store.apply(++thirdIndex, command).status).toBe('applied');
        expect(Buffer.from(third.store.snapshot()).equals(Buffer.from(temp.store.snapshot()))).toBe(true);
      }
      expect(temp.store.stats().historyEntries).toBe(100 + 2 + 6);
    } finally {
      await other.dispose();
      await third?.dispose();
    }
  });
});

describe('compaction steps', () => {
  // Random histories of a few keys (puts and deletes), compacted at a random revision in steps of
  // 1, 2, 3 and 7 entries: after every step each read at or after the revision is unchanged, and at
  // the end exactly the entries the definition keeps are left.
  const keyNames = ['a', 'b', 'b\0', 'c'];
  it.each([1, 2, 3, 7])('in steps of %i entries keep every read at or after the revision', (budget) => {
    let seed = budget * 7919;
    // mulberry32: small, seeded, and uniform enough.
    const random = (n: number): number => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return (((t ^ (t >>> 14)) >>> 0) / 4294967296) * n | 0;
    };
    let removed = 0;
    for (let trial = 0; trial < 20; trial++) {
      for (let w = 0; w < 30; w++) {
        const key = utf8(keyNames[random(keyNames.length)]!);
        run(random(4) === 0 ? deleteRangeCommand(key) : putCommand(key, utf8(String(w))));
      }
      const current = temp.store.currentRevision;
      const revision = Math.max(temp.store.compactRevision + 1, current - random(20));
      const reads = Array.from({ length: current - revision + 1 }, (_, i) => stateAt(revision + i));
      const tables = openTables(temp.root);
      const expected = keptEntries(tables, revision);
      removed += historyEntries(tables).length - expected.length;
      tables.root.transactionSync(() => {
        // The compact command moves the revision; the steps are driven by hand here.
        tables.meta.putSync(META_STATE_KEY, encodeMeta({ appliedIndex: index, currentRevision: current, compactRevision: revision, compactNext: undefined }));
        let from: Uint8Array | undefined = COMPACTION_START;
        while (from !== undefined) {
          from = compactionStep(tables, revision, from, budget).next;
        }
      });
      expect(historyEntries(tables)).toEqual(expected);
      for (let i = 0; i < reads.length; i++) expect(stateAt(revision + i)).toEqual(reads[i]);
    }
    expect(removed).toBeGreaterThan(100);
  });
});

/** Every history entry as "key@main.sub". */
function historyEntries(tables: MvccTables): string[] {
  const out: string[] = [];
  for (const { key, value } of tables.revisions.getRange({})) {
    const at = decodeRevisionKey(key);
    out.push(`${text(decodeRecord(value, at).key)}@${at.main}.${at.sub}`);
  }
  return out;
}

/** What compaction at `revision` keeps, by the definition: entries after it, and each key's newest at or before it unless a tombstone. */
function keptEntries(tables: MvccTables, revision: number): string[] {
  const newest = new Map<string, { at: string; tombstone: boolean }>();
  const kept: string[] = [];
  for (const { key, value } of tables.revisions.getRange({})) {
    const at = decodeRevisionKey(key);
    const record = decodeRecord(value, at);
    const name = `${text(record.key)}@${at.main}.${at.sub}`;
    if (at.main > revision) kept.push(name);
    else newest.set(text(record.key), { at: name, tombstone: record.tombstone });
  }
  for (const { at, tombstone } of newest.values()) if (!tombstone) kept.push(at);
  return kept.sort((x, y) => order(x) - order(y));
}

function order(name: string): number {
  const [main, sub] = name.slice(name.lastIndexOf('@') + 1).split('.').map(Number);
  return main! * 1e6 + sub!;
}
