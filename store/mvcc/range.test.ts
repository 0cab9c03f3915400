// etcd's Range: key ranges (single, prefix, interval, from-key, all), limit/more/count, countOnly,
// keysOnly, sort order and target, min/max revision filters, reads at past revisions.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Command, type RangeRequest, deleteRangeCommand, putCommand } from './commands.js';
import { CompactedError, FutureRevisionError, InvalidCommandError } from './errors.js';
import { prefixRangeEnd } from './keyspace.js';
import { type TempStore, openTempStore, text, utf8 } from './testing.js';

let temp: TempStore;
let index = 0;

function run(command: Command): void {
  const outcome = temp.store.apply(++index, command);
  if (outcome.status !== 'applied') throw new Error(`apply failed: ${outcome.status}`);
}

function keys(request: RangeRequest): string[] {
  return temp.store.range(request).kvs.map((kv) => text(kv.key));
}

beforeEach(() => {
  temp = openTempStore();
  index = 0;
  // revision 2..7
  run(putCommand(utf8('/pods/a'), utf8('3')));
  run(putCommand(utf8('/pods/b'), utf8('1')));
  run(putCommand(utf8('/pods/c'), utf8('2')));
  run(putCommand(utf8('/pods/b'), utf8('4')));
  run(putCommand(utf8('/svc/x'), utf8('5')));
  run(putCommand(utf8('/pods'), utf8('dir')));
});
afterEach(async () => {
  await temp.dispose();
});

describe('key ranges', () => {
  it('reads one key when rangeEnd is empty', () => {
    expect(keys({ key: utf8('/pods/b') })).toEqual(['/pods/b']);
    expect(keys({ key: utf8('/pods/zz') })).toEqual([]);
  });

  it('reads a prefix', () => {
    const prefix = utf8('/pods/');
    expect(keys({ key: prefix, rangeEnd: prefixRangeEnd(prefix) })).toEqual(['/pods/a', '/pods/b', '/pods/c']);
  });

  it('reads a half-open interval', () => {
    expect(keys({ key: utf8('/pods/b'), rangeEnd: utf8('/svc/x') })).toEqual(['/pods/b', '/pods/c']);
    expect(keys({ key: utf8('/z'), rangeEnd: utf8('/a') })).toEqual([]);
  });

  it('reads every key >= key with rangeEnd "\\0", and everything with key and rangeEnd "\\0"', () => {
    expect(keys({ key: utf8('/pods/c'), rangeEnd: utf8('\0') })).toEqual(['/pods/c', '/svc/x']);
    expect(keys({ key: utf8('\0'), rangeEnd: utf8('\0') })).toEqual(['/pods', '/pods/a', '/pods/b', '/pods/c', '/svc/x']);
  });

  it('answers with the current revision in the header', () => {
    expect(temp.store.range({ key: utf8('/pods/a'), revision: 3 }).revision).toBe(7);
  });

  it('rejects an empty key', () => {
    expect(() => temp.store.range({ key: new Uint8Array(0) })).toThrow(InvalidCommandError);
  });
});

describe('limit, count, countOnly, keysOnly', () => {
  const all = { key: utf8('\0'), rangeEnd: utf8('\0') };

  it('limits the kvs, counts them all and says there is more', () => {
    const response = temp.store.range({ ...all, limit: 2 });
    expect(response.kvs.map((kv) => text(kv.key))).toEqual(['/pods', '/pods/a']);
    expect(response.count).toBe(5);
    expect(response.more).toBe(true);
    expect(temp.store.range({ ...all, limit: 5 }).more).toBe(false);
    expect(temp.store.range({ ...all, limit: 6 }).more).toBe(false);
  });

  it('returns only the count with countOnly', () => {
    expect(temp.store.range({ ...all, countOnly: true })).toEqual({ type: 'range', revision: 7, kvs: [], count: 5, more: false });
  });

  it('leaves values out with keysOnly', () => {
    const kvs = temp.store.range({ key: utf8('/pods/b'), keysOnly: true }).kvs;
    expect(kvs).toHaveLength(1);
    expect(kvs[0]?.value).toEqual(new Uint8Array(0));
    expect(kvs[0]).toMatchObject({ version: 2, modRevision: 5 });
  });
});

describe('sort', () => {
  const pods = { key: utf8('/pods/'), rangeEnd: prefixRangeEnd(utf8('/pods/')) };

  it('sorts descending by key', () => {
    expect(keys({ ...pods, sortOrder: 'descend' })).toEqual(['/pods/c', '/pods/b', '/pods/a']);
  });

  it('sorts ascending by default when the target is not the key', () => {
    expect(keys({ ...pods, sortTarget: 'value' })).toEqual(['/pods/c', '/pods/a', '/pods/b']);
  });

  it('sorts by version, create and mod revision, with ties in key order', () => {
    expect(keys({ ...pods, sortTarget: 'version', sortOrder: 'descend' })).toEqual(['/pods/b', '/pods/a', '/pods/c']);
    expect(keys({ ...pods, sortTarget: 'version', sortOrder: 'ascend' })).toEqual(['/pods/a', '/pods/c', '/pods/b']);
    expect(keys({ ...pods, sortTarget: 'create', sortOrder: 'descend' })).toEqual(['/pods/c', '/pods/b', '/pods/a']);
    expect(keys({ ...pods, sortTarget: 'mod', sortOrder: 'descend' })).toEqual(['/pods/b', '/pods/c', '/pods/a']);
    expect(keys({ ...pods, sortTarget: 'mod', sortOrder: 'ascend' })).toEqual(['/pods/a', '/pods/c', '/pods/b']);
  });

  it('sorts before applying the limit', () => {
    const response = temp.store.range({ ...pods, sortTarget: 'mod', sortOrder: 'descend', limit: 1 });
    expect(response.kvs.map((kv) => text(kv.key))).toEqual(['/pods/b']);
    expect(response).toMatchObject({ count: 3, more: true });
  });
});

describe('revision filters', () => {
  const all = { key: utf8('\0'), rangeEnd: utf8('\0') };

  it('filters by mod and create revision after counting', () => {
    const response = temp.store.range({ ...all, minModRevision: 5 });
    expect(response.kvs.map((kv) => text(kv.key))).toEqual(['/pods', '/pods/b', '/svc/x']);
    expect(response.count).toBe(5);
    expect(keys({ ...all, maxModRevision: 4 })).toEqual(['/pods/a', '/pods/c']);
    expect(keys({ ...all, minCreateRevision: 3, maxCreateRevision: 4 })).toEqual(['/pods/b', '/pods/c']);
  });
});

describe('past revisions', () => {
  it('reads the state as it was at each revision', () => {
    run(deleteRangeCommand(utf8('/pods/a'))); // 8
    run(putCommand(utf8('/pods/a'), utf8('again'))); // 9
    const pods = { key: utf8('/pods/'), rangeEnd: prefixRangeEnd(utf8('/pods/')) };
    expect(keys({ ...pods, revision: 1 })).toEqual([]);
    expect(keys({ ...pods, revision: 2 })).toEqual(['/pods/a']);
    expect(keys({ ...pods, revision: 4 })).toEqual(['/pods/a', '/pods/b', '/pods/c']);
    expect(keys({ ...pods, revision: 8 })).toEqual(['/pods/b', '/pods/c']);
    expect(temp.store.range({ key: utf8('/pods/b'), revision: 4 }).kvs[0]).toMatchObject({ version: 1, modRevision: 3 });
    expect(temp.store.range({ key: utf8('/pods/a'), revision: 9 }).kvs[0]).toMatchObject({ version: 1, createRevision: 9 });
    expect(temp.store.range({ ...pods, revision: 4, limit: 1 })).toMatchObject({ count: 3, more: true });
    expect(temp.store.range({ ...pods, revision: 4, countOnly: true }).count).toBe(3);
  });

  it('refuses a future revision', () => {
    expect(() => temp.store.range({ key: utf8('/pods/a'), revision: 8 })).toThrow(FutureRevisionError);
    try {
      temp.store.range({ key: utf8('/pods/a'), revision: 8 });
    } catch (error) {
      expect(error).toMatchObject({ requested: 8, currentRevision: 7 });
    }
  });

  it('refuses a compacted revision but serves the compact revision itself', () => {
    run({ type: 'compact', revision: 5 });
    expect(() => temp.store.range({ key: utf8('/pods/a'), revision: 4 })).toThrow(CompactedError);
    try {
      temp.store.range({ key: utf8('/pods/a'), revision: 4 });
    } catch (error) {
      expect(error).toMatchObject({ name: 'CompactedError', requested: 4, compactRevision: 5 });
    }
    expect(keys({ key: utf8('/pods/'), rangeEnd: prefixRangeEnd(utf8('/pods/')), revision: 5 })).toEqual([
      '/pods/a',
      '/pods/b',
      '/pods/c',
    ]);
  });
});

describe('skipCount (pages of a list)', () => {
  const pods = { key: utf8('/pods/'), rangeEnd: prefixRangeEnd(utf8('/pods/')) };

  it('reads the same page and more as a counted range, now and at a past revision, and counts only what it read', () => {
    for (const revision of [0, 5]) {
      const counted = temp.store.range({ ...pods, limit: 1, revision });
      const skipped = temp.store.range({ ...pods, limit: 1, revision }, { skipCount: true });
      expect(skipped.kvs).toEqual(counted.kvs);
      expect(skipped.more).toBe(true);
      expect(counted.count).toBe(3);
      // The limit plus the one that tells `more`.
      expect(skipped.count).toBe(2);
    }
    const last = temp.store.range({ ...pods, key: utf8('/pods/c'), limit: 1 }, { skipCount: true });
    expect(last.kvs.map((kv) => text(kv.key))).toEqual(['/pods/c']);
    expect(last.more).toBe(false);
  });

  it('changes nothing without a limit, or when sorting needs every key', () => {
    expect(temp.store.range(pods, { skipCount: true }).count).toBe(3);
    const sorted = temp.store.range({ ...pods, limit: 1, sortOrder: 'descend' } as RangeRequest, { skipCount: true });
    expect(sorted.count).toBe(3);
    expect(sorted.kvs.map((kv) => text(kv.key))).toEqual(['/pods/c']);
  });
});
