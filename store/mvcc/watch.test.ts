// The watch hub: history then live without gap or duplicate, filters, prevKv, compaction, slow
// watchers, progress notifications, restore.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Command, deleteRangeCommand, putCommand, txnCommand } from './commands.js';
import { CompactedError, InvalidCommandError, SlowWatcherError } from './errors.js';
import { prefixRangeEnd } from './keyspace.js';
import type { WatchEvent } from './responses.js';
import { type TempStore, openTempStore, text, utf8 } from './testing.js';
import { WatchHub, type WatchHubOptions, type WatchRequest, type WatchResponse, type Watcher } from './watch.js';

const NO_RESPONSE_MS = 50;
const RESPONSE_TIMEOUT_MS = 5_000;

let temp: TempStore;
let hub: WatchHub;
let index = 0;

function run(command: Command, target: TempStore = temp): void {
  const outcome = target.store.apply(++index, command);
  if (outcome.status !== 'applied') throw new Error(`apply ${outcome.status}`);
}

function sleep(ms: number): Promise<'timeout'> {
  return new Promise((resolve) => setTimeout(() => resolve('timeout'), ms));
}

/** Reads a watcher without losing a response to a timed-out wait. */
class Reader {
  private pending: Promise<IteratorResult<WatchResponse>> | undefined;
  constructor(readonly watcher: Watcher) {}

  async response(timeoutMs = RESPONSE_TIMEOUT_MS): Promise<WatchResponse | 'timeout' | 'done'> {
    this.pending ??= this.watcher.next();
    const result = await Promise.race([this.pending, sleep(timeoutMs)]);
    if (result === 'timeout') return 'timeout';
    this.pending = undefined;
    return result.done === true ? 'done' : result.value;
  }

  /** Exactly `count` events (fails on a timeout, an end, or more events in the last response). */
  async events(count: number): Promise<WatchEvent[]> {
    const events: WatchEvent[] = [];
    while (events.length < count) {
      const response = await this.response();
      if (response === 'timeout' || response === 'done') throw new Error(`watcher ${response} after ${events.length} events`);
      if (response.type === 'events') events.push(...response.events);
    }
    expect(events).toHaveLength(count);
    return events;
  }

  async nothing(): Promise<void> {
    expect(await this.response(NO_RESPONSE_MS)).toBe('timeout');
  }
}

function watch(request: WatchRequest): Reader {
  return new Reader(hub.watch(request));
}

function summary(events: readonly WatchEvent[]): string[] {
  return events.map((e) => `${e.type} ${text(e.kv.key)}@${e.kv.modRevision}${e.prevKv ? ` prev@${e.prevKv.modRevision}` : ''}`);
}

function newHub(options: WatchHubOptions = {}): void {
  hub.close();
  hub = new WatchHub(temp.store, options);
}

beforeEach(() => {
  temp = openTempStore();
  hub = new WatchHub(temp.store);
  index = 0;
});
afterEach(async () => {
  hub.close();
  await temp.dispose();
});

describe('live events', () => {
  it('delivers changes in the watched range, in order, each with its revision', async () => {
    const pods = watch({ key: utf8('/pods/'), rangeEnd: prefixRangeEnd(utf8('/pods/')) });
    const one = watch({ key: utf8('/pods/a') });
    run(putCommand(utf8('/pods/a'), utf8('1'))); // 2
    run(putCommand(utf8('/svc/x'), utf8('1'))); // 3
    run(txnCommand([], [putCommand(utf8('/pods/b'), utf8('1')), putCommand(utf8('/pods/c'), utf8('1'))])); // 4
    run(deleteRangeCommand(utf8('/pods/a'))); // 5
    expect(summary(await pods.events(4))).toEqual(['put /pods/a@2', 'put /pods/b@4', 'put /pods/c@4', 'delete /pods/a@5']);
    expect(summary(await one.events(2))).toEqual(['put /pods/a@2', 'delete /pods/a@5']);
    await pods.nothing();
  });

  it('attaches prevKv only when asked', async () => {
    const plain = watch({ key: utf8('k') });
    const withPrev = watch({ key: utf8('k'), prevKv: true });
    run(putCommand(utf8('k'), utf8('1'))); // 2
    run(putCommand(utf8('k'), utf8('2'))); // 3
    run(deleteRangeCommand(utf8('k'))); // 4
    expect(summary(await plain.events(3))).toEqual(['put k@2', 'put k@3', 'delete k@4']);
    const events = await withPrev.events(3);
    expect(summary(events)).toEqual(['put k@2', 'put k@3 prev@2', 'delete k@4 prev@3']);
    expect(text(events[2]?.prevKv?.value)).toBe('2');
  });

  it('filters out puts or deletes', async () => {
    const noPut = watch({ key: utf8('k'), filters: ['noPut'] });
    const noDelete = watch({ key: utf8('k'), filters: ['noDelete'] });
    run(putCommand(utf8('k'), utf8('1')));
    run(deleteRangeCommand(utf8('k')));
    expect(summary(await noPut.events(1))).toEqual(['delete k@3']);
    expect(summary(await noDelete.events(1))).toEqual(['put k@2']);
  });

  it('waits for a start revision in the future', async () => {
    const later = watch({ key: utf8('k'), startRevision: 4 });
    for (let i = 0; i < 4; i++) run(putCommand(utf8('k'), utf8(`${i}`))); // 2..5
    expect(summary(await later.events(2))).toEqual(['put k@4', 'put k@5']);
  });

  it('refuses a malformed request', () => {
    expect(() => hub.watch({ key: new Uint8Array(0) })).toThrow(InvalidCommandError);
    expect(() => hub.watch({ key: utf8('k'), startRevision: -1 })).toThrow(InvalidCommandError);
  });
});

describe('history then live', () => {
  it('replays from a past revision and hands over to live changes without gap or duplicate', async () => {
    // Small bounds force several catch-up steps and batches.
    newHub({ maxPendingEvents: 4, historyScanPerStep: 3, maxEventsPerResponse: 2 });
    for (let i = 0; i < 20; i++) run(putCommand(utf8(`k${i % 3}`), utf8(`${i}`))); // revisions 2..21
    const reader = watch({ key: utf8('k'), rangeEnd: utf8('l'), startRevision: 5, prevKv: true });
    const seen: WatchEvent[] = [];
    // Interleave writes with reading, so live changes arrive while the watcher is still catching up.
    let written = 21;
    while (seen.length < 27) {
      const response = await reader.response();
      if (response === 'timeout' || response === 'done') throw new Error(`watcher ${response}`);
      if (response.type === 'events') seen.push(...response.events);
      if (written < 31) run(putCommand(utf8(`k${written++ % 3}`), utf8('live')));
    }
    expect(seen.map((e) => e.kv.modRevision)).toEqual(Array.from({ length: 27 }, (_, i) => i + 5));
    // prevKv of a historical event is the version before it.
    expect(seen[0]?.prevKv?.modRevision).toBe(2);
    await reader.nothing();
  });

  it('never splits one revision across responses (clients resume from the last modRevision + 1)', async () => {
    newHub({ maxEventsPerResponse: 2 });
    // One transaction writes five keys at a single revision.
    run(txnCommand([], [0, 1, 2, 3, 4].map((i) => putCommand(utf8(`t${i}`), utf8('x')))));
    run(putCommand(utf8('t9'), utf8('y')));
    const reader = watch({ key: utf8('t'), rangeEnd: utf8('u'), startRevision: 1 });
    const first = await reader.response();
    if (first === 'timeout' || first === 'done' || first.type !== 'events') throw new Error(`watcher ${String(first)}`);
    expect(first.events).toHaveLength(5);
    expect(new Set(first.events.map((e) => e.kv.modRevision)).size).toBe(1);
    const second = await reader.response();
    if (second === 'timeout' || second === 'done' || second.type !== 'events') throw new Error(`watcher ${String(second)}`);
    expect(second.events.map((e) => text(e.kv.key))).toEqual(['t9']);
  });

  it('reads history with the same prevKv as live delivery', async () => {
    run(putCommand(utf8('k'), utf8('1'))); // 2
    run(putCommand(utf8('k'), utf8('2'))); // 3
    run(deleteRangeCommand(utf8('k'))); // 4
    run(putCommand(utf8('k'), utf8('3'))); // 5
    const reader = watch({ key: utf8('k'), startRevision: 2, prevKv: true });
    expect(summary(await reader.events(4))).toEqual(['put k@2', 'put k@3 prev@2', 'delete k@4 prev@3', 'put k@5']);
  });
});

describe('compaction', () => {
  beforeEach(() => {
    for (let i = 0; i < 6; i++) run(putCommand(utf8('k'), utf8(`${i}`))); // revisions 2..7
    run({ type: 'compact', revision: 5 });
  });

  it('refuses a start revision at or below the compact revision', () => {
    for (const startRevision of [3, 5]) {
      try {
        hub.watch({ key: utf8('k'), startRevision });
        expect.unreachable();
      } catch (error) {
        expect(error).toBeInstanceOf(CompactedError);
        expect(error).toMatchObject({ requested: startRevision, compactRevision: 5 });
      }
    }
  });

  it('serves a start revision just after the compact revision', async () => {
    const reader = watch({ key: utf8('k'), startRevision: 6 });
    expect(summary(await reader.events(2))).toEqual(['put k@6', 'put k@7']);
  });

  it('ends a watcher overtaken by compaction while catching up', async () => {
    const reader = watch({ key: utf8('k'), startRevision: 6 });
    run(putCommand(utf8('k'), utf8('x'))); // 8
    run({ type: 'compact', revision: 8 });
    await expect(reader.watcher.next()).rejects.toMatchObject({ name: 'CompactedError', compactRevision: 8 });
    expect(await reader.watcher.next()).toEqual({ done: true, value: undefined });
  });
});

describe('slow watchers', () => {
  it('cancels a watcher past its bound, after delivering what it holds, without slowing others', async () => {
    newHub({ maxPendingEvents: 5 });
    const slow = watch({ key: utf8('\0'), rangeEnd: utf8('\0') });
    const fast = watch({ key: utf8('\0'), rangeEnd: utf8('\0') });
    const fastSeen: WatchEvent[] = [];
    for (let i = 0; i < 3; i++) {
      run(putCommand(utf8(`a${i}`), utf8('x'))); // 2, 3, 4
      fastSeen.push(...(await fast.events(1)));
    }
    run(txnCommand([], [putCommand(utf8('b0'), utf8('x')), putCommand(utf8('b1'), utf8('x')), putCommand(utf8('b2'), utf8('x'))])); // 5
    run(putCommand(utf8('c'), utf8('x'))); // 6
    fastSeen.push(...(await fast.events(4)));
    expect(fastSeen.map((e) => e.kv.modRevision)).toEqual([2, 3, 4, 5, 5, 5, 6]);
    expect(hub.size).toBe(1);

    expect((await slow.events(3)).map((e) => e.kv.modRevision)).toEqual([2, 3, 4]);
    const failure = await slow.watcher.next().catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(SlowWatcherError);
    expect(failure).toMatchObject({ resumeRevision: 5 });
    expect((failure as Error).message).toContain('resume from revision 5');

    // Resuming from the revision named loses nothing and repeats nothing.
    const resumed = watch({ key: utf8('\0'), rangeEnd: utf8('\0'), startRevision: (failure as SlowWatcherError).resumeRevision });
    expect((await resumed.events(4)).map((e) => e.kv.modRevision)).toEqual([5, 5, 5, 6]);
  });

  it('lets a single revision larger than the bound through to an empty queue', async () => {
    newHub({ maxPendingEvents: 2 });
    const reader = watch({ key: utf8('\0'), rangeEnd: utf8('\0') });
    run(txnCommand([], [putCommand(utf8('a'), utf8('x')), putCommand(utf8('b'), utf8('x')), putCommand(utf8('c'), utf8('x'))]));
    expect(await reader.events(3)).toHaveLength(3);
  });
});

describe('progress', () => {
  it('tells idle watchers that asked the current revision', async () => {
    const asked = watch({ key: utf8('k'), progressNotify: true });
    const silent = watch({ key: utf8('k') });
    run(putCommand(utf8('other'), utf8('x'))); // 2
    hub.notifyProgress();
    expect(await asked.response()).toEqual({ type: 'progress', watchId: asked.watcher.id, revision: 2 });
    await silent.nothing();
  });

  it('skips a watcher that had events since the previous tick', async () => {
    const reader = watch({ key: utf8('k'), progressNotify: true });
    run(putCommand(utf8('k'), utf8('x'))); // 2
    await reader.events(1);
    hub.notifyProgress();
    await reader.nothing();
    hub.notifyProgress();
    expect(await reader.response()).toMatchObject({ type: 'progress', revision: 2 });
  });
});

describe('progress on request', () => {
  it('answers after the queued events with the revision considered, even when nothing in range changed', async () => {
    const reader = watch({ key: utf8('k') });
    run(putCommand(utf8('k'), utf8('x'))); // 2
    run(putCommand(utf8('other'), utf8('y'))); // 3
    reader.watcher.requestProgress();
    expect(summary(await reader.events(1))).toEqual(['put k@2']);
    expect(await reader.response()).toEqual({ type: 'progress', watchId: reader.watcher.id, revision: 3 });
    await reader.nothing();
  });

  it('waits for an unsynced watcher to catch up with history first', async () => {
    run(putCommand(utf8('k'), utf8('a'))); // 2
    run(putCommand(utf8('k'), utf8('b'))); // 3
    run(putCommand(utf8('other'), utf8('c'))); // 4
    const reader = watch({ key: utf8('k'), startRevision: 2 });
    reader.watcher.requestProgress();
    expect(summary(await reader.events(2))).toEqual(['put k@2', 'put k@3']);
    expect(await reader.response()).toMatchObject({ type: 'progress', revision: 4 });
  });

  it('a watch from a future revision reports no revision past the current one', async () => {
    const reader = watch({ key: utf8('k'), startRevision: 10 });
    reader.watcher.requestProgress();
    expect(await reader.response()).toMatchObject({ type: 'progress', revision: 1 });
  });
});

describe('lifecycle', () => {
  it('ends on cancel, on break out of for-await, and on hub close', async () => {
    const cancelled = watch({ key: utf8('k') });
    cancelled.watcher.cancel();
    expect(await cancelled.response()).toBe('done');

    const looped = hub.watch({ key: utf8('k') });
    run(putCommand(utf8('k'), utf8('x')));
    for await (const response of looped) {
      expect(response.type).toBe('events');
      break;
    }
    expect(hub.size).toBe(0);

    const open = watch({ key: utf8('k') });
    const waiting = open.response();
    hub.close();
    expect(await waiting).toBe('done');
  });

  it('catches up through a restored snapshot', async () => {
    const other = openTempStore();
    try {
      const shared = [putCommand(utf8('k'), utf8('1')), putCommand(utf8('k'), utf8('2'))];
      for (const command of shared) run(command);
      index = 0;
      for (const command of shared) run(command, other);
      const reader = watch({ key: utf8('k') });
      run(putCommand(utf8('k'), utf8('3')), other); // 4
      run(deleteRangeCommand(utf8('k')), other); // 5
      temp.store.restore(other.store.snapshot());
      expect(summary(await reader.events(2))).toEqual(['put k@4', 'delete k@5']);
      run(putCommand(utf8('k'), utf8('4'))); // 6, applied locally after the restore
      expect(summary(await reader.events(1))).toEqual(['put k@6']);
    } finally {
      await other.dispose();
    }
  });
});
