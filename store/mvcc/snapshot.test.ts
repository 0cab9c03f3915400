// Snapshots and determinism: byte-identical round trips, identical snapshots from identical command
// sequences (random, seeded), atomic restore that refuses bad bytes.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Command, type Compare, type RequestOp, deleteRangeCommand, putCommand, txnCommand } from './commands.js';
import { SnapshotFormatError } from './errors.js';
import { prefixRangeEnd } from './keyspace.js';
import type { MvccStore } from './kv-store.js';
import type { ApplyOutcome } from './responses.js';
import { SNAPSHOT_CHUNK_BYTES } from './snapshot.js';
import { pack, unpackAll } from './tables.js';
import { type TempStore, openTempStore, text, utf8 } from './testing.js';

const stores: TempStore[] = [];

function newStore(): TempStore {
  const temp = openTempStore();
  stores.push(temp);
  return temp;
}

afterEach(async () => {
  for (const temp of stores.splice(0)) await temp.dispose();
});

/** mulberry32: a small seeded PRNG, so a failing sequence can be replayed from its seed. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Commands over a small key space, so they collide: puts, deletes, txns, leases, compactions. */
function randomCommands(seed: number, count: number): Command[] {
  const random = prng(seed);
  const int = (n: number): number => Math.floor(random() * n);
  const key = (): Uint8Array => utf8(`/r/${'abcdefgh'[int(8)] ?? 'a'}${int(3)}`);
  const granted: number[] = [];
  const lease = (): number => (granted.length > 0 && random() < 0.3 ? (granted[int(granted.length)] ?? 0) : 0);
  const compare = (): Compare => {
    const base = { key: key(), result: (['equal', 'notEqual', 'greater', 'less'] as const)[int(4)] ?? 'equal' };
    return random() < 0.5 ? { ...base, target: 'version', version: int(4) } : { ...base, target: 'modRevision', modRevision: int(count) };
  };
  const op = (depth: number, used: Set<string>): RequestOp | undefined => {
    const k = key();
    const id = text(k);
    if (used.has(id)) return undefined;
    used.add(id);
    const r = random();
    if (r < 0.5) return putCommand(k, utf8(`v${int(1000)}`), { lease: lease(), prevKv: random() < 0.5 });
    if (r < 0.7) return deleteRangeCommand(k, { prevKv: true });
    if (r < 0.85 || depth > 1) return { type: 'range', key: utf8('/r/'), rangeEnd: prefixRangeEnd(utf8('/r/')), limit: int(4) };
    return txnCommand([compare()], ops(depth + 1, new Set(used)), ops(depth + 1, new Set(used)));
  };
  const ops = (depth: number, used: Set<string>): RequestOp[] =>
    Array.from({ length: 1 + int(3) }, () => op(depth, used)).filter((o): o is RequestOp => o !== undefined);

  const commands: Command[] = [];
  let nextLeaseId = 1;
  for (let i = 0; i < count; i++) {
    const r = random();
    if (r < 0.35) commands.push(putCommand(key(), utf8(`v${i}`), { lease: lease() }));
    else if (r < 0.45) commands.push(deleteRangeCommand(key(), random() < 0.3 ? { rangeEnd: utf8(`/r/${'abcdefgh'[int(8)]}`) } : {}));
    else if (r < 0.7) commands.push(txnCommand([compare(), compare()], ops(0, new Set()), ops(0, new Set())));
    else if (r < 0.8) {
      const id = nextLeaseId++ * 7919;
      granted.push(id);
      commands.push({ type: 'leaseGrant', id, ttl: 1 + int(60) });
    } else if (r < 0.87) commands.push({ type: 'leaseRevoke', id: granted[int(granted.length)] ?? 1 });
    else if (r < 0.93) commands.push({ type: 'compact', revision: 1 + int(i + 1) }); // often rejected: that is fine
    else commands.push(putCommand(key(), new Uint8Array(0), { ignoreValue: true }));
  }
  return commands;
}

function applyAll(store: MvccStore, commands: readonly Command[], firstIndex = 1): ApplyOutcome[] {
  return commands.map((command, i) => store.apply(firstIndex + i, command));
}

function outcomeSummary(outcome: ApplyOutcome): unknown {
  return outcome.status === 'rejected' ? { status: 'rejected', error: outcome.error.message } : outcome;
}

describe('determinism', () => {
  for (const seed of [1, 2, 3]) {
    it(`gives identical outcomes and snapshots on two stores (seed ${seed})`, () => {
      const commands = randomCommands(seed, 300);
      const [first, second] = [newStore(), newStore()];
      const outcomesA = applyAll(first.store, commands).map(outcomeSummary);
      const outcomesB = applyAll(second.store, commands).map(outcomeSummary);
      expect(outcomesB).toEqual(outcomesA);
      expect(outcomesA.filter((o) => (o as ApplyOutcome).status === 'applied').length).toBeGreaterThan(150);
      expect(Buffer.compare(first.store.snapshot(), second.store.snapshot())).toBe(0);
      expect(first.store.currentRevision).toBeGreaterThan(50);
    });
  }

  it('continues identically after one member restores from a snapshot mid-way', () => {
    const commands = randomCommands(42, 400);
    const [full, late] = [newStore(), newStore()];
    applyAll(full.store, commands.slice(0, 250));
    late.store.restore(full.store.snapshot());
    expect(late.store.appliedIndex).toBe(250);
    applyAll(full.store, commands.slice(250), 251);
    applyAll(late.store, commands.slice(250), 251);
    expect(Buffer.compare(full.store.snapshot(), late.store.snapshot())).toBe(0);
  });
});

describe('snapshot and restore', () => {
  let source: TempStore;

  beforeEach(() => {
    source = newStore();
    applyAll(source.store, [
      { type: 'leaseGrant', id: 5, ttl: 30 },
      putCommand(utf8('a'), utf8('1')), // 2
      putCommand(utf8('a'), utf8('2'), { lease: 5 }), // 3
      putCommand(utf8('b'), utf8('1')), // 4
      deleteRangeCommand(utf8('b')), // 5
      putCommand(utf8('c'), utf8('1')), // 6
      { type: 'compact', revision: 3 },
      putCommand(utf8('a'), utf8('3'), { lease: 5 }), // 7
    ]);
  });

  it('round-trips byte for byte and restores every observable', async () => {
    const bytes = source.store.snapshot();
    const target = newStore();
    applyAll(target.store, [putCommand(utf8('stale'), utf8('x'))]);
    target.store.restore(bytes);
    expect(Buffer.compare(target.store.snapshot(), bytes)).toBe(0);
    expect(target.store.appliedIndex).toBe(8);
    expect(target.store.currentRevision).toBe(7);
    expect(target.store.compactRevision).toBe(3);
    expect(target.store.leases()).toEqual(source.store.leases());
    for (const revision of [3, 4, 5, 6, 7]) {
      const all = { key: utf8('\0'), rangeEnd: utf8('\0'), revision };
      expect(target.store.range(all)).toEqual(source.store.range(all));
    }
    expect(target.store.range({ key: utf8('stale') }).kvs).toEqual([]);
    expect(target.store.stats()).toEqual(source.store.stats());
    await target.reopen();
    expect(Buffer.compare(target.store.snapshot(), bytes)).toBe(0);
  });

  it('keeps versions and leases going after a restore', () => {
    const target = newStore();
    target.store.restore(source.store.snapshot());
    applyAll(target.store, [putCommand(utf8('a'), utf8('4'), { ignoreLease: true }), { type: 'leaseRevoke', id: 5 }], 9);
    expect(target.store.range({ key: utf8('a') }).kvs).toEqual([]);
    expect(target.store.range({ key: utf8('a'), revision: 8 }).kvs[0]).toMatchObject({ version: 4, lease: 5, createRevision: 2 });
  });

  it('streams chunks of bounded size that restore as one', () => {
    const big = newStore();
    const value = new Uint8Array(256 * 1024).fill(7);
    applyAll(big.store, Array.from({ length: 12 }, (_, i) => putCommand(utf8(`big/${i}`), value)));
    const chunks = [...big.store.snapshotChunks()];
    expect(chunks.length).toBeGreaterThan(3);
    for (const chunk of chunks) expect(chunk.length).toBeLessThanOrEqual(SNAPSHOT_CHUNK_BYTES + value.length + 1024);
    expect(Buffer.compare(Buffer.concat(chunks), big.store.snapshot())).toBe(0);
    const target = newStore();
    target.store.restore(chunks);
    expect(Buffer.compare(target.store.snapshot(), big.store.snapshot())).toBe(0);
  });

  it('restores an empty store', () => {
    const empty = newStore();
    const target = newStore();
    target.store.restore(empty.store.snapshot());
    expect(target.store.currentRevision).toBe(1);
    expect(Buffer.compare(target.store.snapshot(), empty.store.snapshot())).toBe(0);
  });

  it('refuses bad bytes and leaves the state as it was', () => {
    const target = newStore();
    applyAll(target.store, [putCommand(utf8('mine'), utf8('x'))]);
    const before = target.store.snapshot();
    const good = source.store.snapshot();
    const chunks = [...source.store.snapshotChunks()];
    const cases: [Uint8Array | Uint8Array[], string][] = [
      [new Uint8Array([1, 2, 3]), 'header'],
      [new Uint8Array([0xc7, 0x01, 0x05, 0xab]), '(bytes)'],
      [chunks.slice(0, -1), 'end'], // truncated: no end frame
      [good.subarray(0, good.length - 3), '(bytes)'],
      [[...chunks.slice(0, 1), ...chunks.slice(2)], 'end.revisionCount'], // a frame lost
      [Buffer.concat([good, good]), 'frame'], // data after the end
      [[withHeader(chunks[0]!, (h) => [...h.slice(0, 5), 'not bytes']), ...chunks.slice(1)], 'header.compactNext'],
      [[withHeader(chunks[0]!, (h) => [...h.slice(0, 4), 0, new Uint8Array([1, 0, 0])]), ...chunks.slice(1)], 'header.compactNext'],
    ];
    for (const [bytes, field] of cases) {
      try {
        target.store.restore(bytes);
        expect.unreachable(`restored ${field}`);
      } catch (error) {
        expect(error).toBeInstanceOf(SnapshotFormatError);
        expect((error as SnapshotFormatError).field).toBe(field);
      }
      expect(Buffer.compare(target.store.snapshot(), before)).toBe(0);
      expect(target.store.appliedIndex).toBe(1);
    }
  });
});

/** The first frame of a snapshot with its header rewritten (the header is a frame of its own). */
function withHeader(first: Uint8Array, rewrite: (header: unknown[]) => unknown[]): Uint8Array {
  const [header, ...rest] = unpackAll(first) as unknown[][];
  return Buffer.concat([pack(rewrite(header!)), ...rest.map((frame) => pack(frame))]);
}
