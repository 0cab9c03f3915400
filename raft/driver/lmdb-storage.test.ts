import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { open, type Database, type RootDatabase } from 'lmdb';
import { afterEach, describe, expect, it, vi } from 'vitest';

import { RaftInvariantError } from '../core/errors.js';
import { entriesWithTerms, entry, plainEntries, storageSuite } from '../core/storage.suite.js';
import { EntryType, type Snapshot } from '../core/types.js';
import {
  CorruptLogError,
  CorruptMetadataError,
  LOG_DB_NAME,
  LmdbConfigError,
  LmdbStorage,
  META_DB_NAME,
  StorageBusyError,
  type LmdbStorageOptions,
} from './lmdb-storage.js';
import { encodeIndexKey } from './lmdb-storage-codec.js';

/** Small enough that the suite's logs straddle disk and cache. */
const TINY_TAIL_CACHE = { maxEntries: 2, maxBytes: 64 };

/** One LMDB environment in a temp dir, reopenable, with raw access for corrupting it. */
class Harness {
  private root: RootDatabase;
  storage: LmdbStorage;

  private constructor(
    readonly dir: string,
    private readonly options: LmdbStorageOptions,
  ) {
    this.root = open({ path: dir });
    this.storage = LmdbStorage.open(this.root, options);
  }

  static async create(options: LmdbStorageOptions = {}): Promise<Harness> {
    return new Harness(await mkdtemp(join(tmpdir(), 'flotilla-lmdb-storage-')), options);
  }

  get file(): string {
    return join(this.dir, 'data.mdb');
  }

  async close(): Promise<void> {
    await this.root.close();
  }

  /** Closes, then opens the same environment again; throws what LmdbStorage.open throws. */
  async reopen(options: LmdbStorageOptions = this.options): Promise<LmdbStorage> {
    await this.root.close();
    this.root = open({ path: this.dir });
    this.storage = LmdbStorage.open(this.root, options);
    return this.storage;
  }

  /** Closes the storage's environment and edits the sub-databases directly, as bit rot or a bad disk would. */
  async tamper(edit: (log: Database<Uint8Array, Uint8Array>, meta: Database<Uint8Array, string>) => void): Promise<void> {
    await this.root.close();
    const raw = open({ path: this.dir });
    const log = raw.openDB<Uint8Array, Uint8Array>({ name: LOG_DB_NAME, encoding: 'binary', keyEncoding: 'binary' });
    const meta = raw.openDB<Uint8Array, string>({ name: META_DB_NAME, encoding: 'binary' });
    raw.transactionSync(() => edit(log, meta));
    await raw.close();
    this.root = open({ path: this.dir });
  }

  /** Opens the storage after tamper(); separate so a test can expect it to throw. */
  openAgain(options: LmdbStorageOptions = this.options): LmdbStorage {
    this.storage = LmdbStorage.open(this.root, options);
    return this.storage;
  }

  async cleanup(): Promise<void> {
    await this.root.close();
    await rm(this.dir, { recursive: true, force: true });
  }
}

function lmdbFixture(options: LmdbStorageOptions) {
  return async () => {
    const h = await Harness.create(options);
    return { storage: h.storage, reopen: () => h.reopen(), cleanup: () => h.cleanup() };
  };
}

storageSuite('LmdbStorage', lmdbFixture({}));
storageSuite('LmdbStorage with a 2-entry tail cache', lmdbFixture({ tailCache: TINY_TAIL_CACHE }));

function flipByte(bytes: Uint8Array, at: number): Uint8Array {
  const copy = Uint8Array.from(bytes);
  copy[at] = copy[at]! ^ 0x5a;
  return copy;
}

function caught(f: () => unknown): unknown {
  try {
    f();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

describe('LmdbStorage', () => {
  let h: Harness | undefined;
  async function harness(options: LmdbStorageOptions = {}): Promise<Harness> {
    h = await Harness.create(options);
    return h;
  }
  afterEach(async () => {
    await h?.cleanup();
    h = undefined;
  });

  describe('recovery after reopen', () => {
    it('recovers hard state, conf state, snapshot and log written by persist', async () => {
      const h = await harness();
      const snap: Snapshot = { metadata: { index: 20, term: 3, confState: { voters: [1, 2, 3], learners: [7] } }, data: new Uint8Array([4, 5, 6]) };
      await h.storage.persist({ snapshot: snap, entries: entriesWithTerms(21, [3, 3, 4]), hardState: { term: 4, vote: 2, commit: 21 } }, true);
      await h.storage.persist({ entries: [entry(23, 4, 'replaced'), entry(24, 4)], hardState: { term: 4, vote: 2, commit: 23 } }, true);
      await h.storage.persist({ entries: [], hardState: { term: 4, vote: 2, commit: 24 } }, false);

      const s = await h.reopen();
      expect(s.initialState()).toEqual({ hardState: { term: 4, vote: 2, commit: 24 }, confState: { voters: [1, 2, 3], learners: [7] } });
      expect(s.firstIndex()).toBe(21);
      expect(s.lastIndex()).toBe(24);
      expect(s.term(20)).toBe(3);
      expect(plainEntries(s.entries(21, 25, Number.POSITIVE_INFINITY))).toEqual(
        plainEntries([entry(21, 3), entry(22, 3), entry(23, 4, 'replaced'), entry(24, 4)]),
      );
      expect(s.snapshot().metadata).toEqual(snap.metadata);
      expect(Array.from(s.snapshot().data)).toEqual([4, 5, 6]);
      expect(s.verify()).toEqual({ status: 'ok', firstIndex: 21, lastIndex: 24, entriesChecked: 4 });
    });

    it('uses the bootstrap membership for a brand-new storage only', async () => {
      const h = await harness({ bootstrap: { voters: [1, 2, 3], learners: [] } });
      expect(h.storage.initialState().confState).toEqual({ voters: [1, 2, 3], learners: [] });
      const s = await h.reopen({ bootstrap: { voters: [9], learners: [] } });
      expect(s.initialState().confState).toEqual({ voters: [1, 2, 3], learners: [] });
    });

    it('recovers a log longer than the tail cache, reading older entries from disk', async () => {
      const h = await harness({ tailCache: { maxEntries: 16, maxBytes: 1 << 20 } });
      const entries = Array.from({ length: 200 }, (_, k) => entry(k + 1, 1 + Math.floor(k / 50), `payload-${k + 1}`));
      await h.storage.persist({ entries, hardState: { term: 4, vote: 1, commit: 200 } }, true);
      const s = await h.reopen();
      expect(s.lastIndex()).toBe(200);
      expect(s.term(1)).toBe(1);
      expect(s.term(120)).toBe(3);
      expect(plainEntries(s.entries(1, 201, Number.POSITIVE_INFINITY))).toEqual(plainEntries(entries));
      expect(plainEntries(s.entries(150, 201, 0))).toEqual(plainEntries([entries[149]!]));
    });
  });

  describe('persist', () => {
    it('writes snapshot, entries and hard state together and makes them readable at once', async () => {
      const h = await harness();
      const entries = Array.from({ length: 1000 }, (_, k) => entry(k + 1, 1));
      await h.storage.persist({ entries, hardState: { term: 1, vote: 1, commit: 0 } }, true);
      expect(h.storage.lastIndex()).toBe(1000);
      expect(h.storage.term(1000)).toBe(1);
      expect(h.storage.initialState().hardState).toEqual({ term: 1, vote: 1, commit: 0 });
    });

    it('writes nothing when validation fails, even for the parts that were valid', async () => {
      const h = await harness();
      h.storage.append(entriesWithTerms(1, [1, 1]));
      const snap: Snapshot = { metadata: { index: 10, term: 2, confState: { voters: [1], learners: [] } }, data: new Uint8Array([1]) };
      // After the snapshot the log ends at 10, so entries from 12 leave a gap.
      await expect(h.storage.persist({ snapshot: snap, entries: [entry(12, 2)], hardState: { term: 2, vote: 1, commit: 10 } }, true)).rejects.toThrow(
        RaftInvariantError,
      );
      const s = await h.reopen();
      expect(s.lastIndex()).toBe(2);
      expect(s.snapshot().metadata.index).toBe(0);
      expect(s.initialState().hardState).toEqual({ term: 0, vote: 0, commit: 0 });
    });

    it('rolls back the whole update when a write fails inside the transaction', async () => {
      const h = await harness();
      h.storage.append(entriesWithTerms(1, [1, 1]));
      h.storage.setHardState({ term: 1, vote: 1, commit: 1 });
      const logDb = Reflect.get(h.storage, 'logDb') as Database<Uint8Array, Uint8Array>;
      const putSync = logDb.putSync.bind(logDb);
      let puts = 0;
      const spy = vi.spyOn(logDb, 'putSync').mockImplementation((key, value, options) => {
        if (++puts === 3) throw new Error('MDB_MAP_FULL (simulated)');
        return putSync(key, value, options);
      });
      await expect(
        h.storage.persist({ entries: [entry(2, 2, 'conflict'), entry(3, 2), entry(4, 2), entry(5, 2)], hardState: { term: 2, vote: 2, commit: 3 } }, true),
      ).rejects.toThrow('MDB_MAP_FULL (simulated)');
      spy.mockRestore();
      // Nothing changed, in memory or on disk.
      expect(h.storage.lastIndex()).toBe(2);
      expect(h.storage.term(2)).toBe(1);
      const s = await h.reopen();
      expect(s.lastIndex()).toBe(2);
      expect(plainEntries(s.entries(1, 3, Number.POSITIVE_INFINITY))).toEqual(plainEntries(entriesWithTerms(1, [1, 1])));
      expect(s.initialState().hardState).toEqual({ term: 1, vote: 1, commit: 1 });
    });

    it('serves the old state while in flight, refuses other writes, and switches at commit', async () => {
      const h = await harness({ tailCache: TINY_TAIL_CACHE });
      h.storage.append(entriesWithTerms(1, [1, 1, 1, 1]));
      const pending = h.storage.persist({ entries: [entry(2, 2, 'new2'), entry(3, 2, 'new3')], hardState: { term: 2, vote: 1, commit: 1 } }, true);
      expect(h.storage.lastIndex()).toBe(4);
      // Entry 2 lies below the tail cache, so this read goes to LMDB through the pinned read transaction.
      expect(plainEntries(h.storage.entries(1, 5, Number.POSITIVE_INFINITY))).toEqual(plainEntries(entriesWithTerms(1, [1, 1, 1, 1])));
      expect(caught(() => h.storage.append([entry(5, 1)]))).toBeInstanceOf(StorageBusyError);
      expect(caught(() => h.storage.setHardState({ term: 3, vote: 0, commit: 1 }))).toMatchObject({ name: 'StorageBusyError', operation: 'setHardState' });
      await expect(h.storage.persist({ entries: [entry(5, 1)] }, true)).rejects.toBeInstanceOf(StorageBusyError);
      await pending;
      expect(h.storage.lastIndex()).toBe(3);
      expect(plainEntries(h.storage.entries(1, 4, Number.POSITIVE_INFINITY))).toEqual(
        plainEntries([entry(1, 1), entry(2, 2, 'new2'), entry(3, 2, 'new3')]),
      );
      h.storage.append([entry(4, 2)]);
      expect(h.storage.lastIndex()).toBe(4);
    });

    it('persists without fsync when sync is false, readable after it resolves', async () => {
      const h = await harness();
      await h.storage.persist({ entries: entriesWithTerms(1, [1, 1]), hardState: { term: 1, vote: 0, commit: 1 } }, false);
      expect(h.storage.lastIndex()).toBe(2);
      const s = await h.reopen();
      expect(s.lastIndex()).toBe(2);
    });
  });

  describe('corruption', () => {
    async function tenEntries(options: LmdbStorageOptions = { tailCache: TINY_TAIL_CACHE }): Promise<Harness> {
      const h = await harness(options);
      h.storage.append(Array.from({ length: 10 }, (_, k) => entry(k + 1, 1 + Math.floor(k / 4), `entry number ${k + 1}`)));
      h.storage.setHardState({ term: 3, vote: 1, commit: 10 });
      return h;
    }

    function corruptEntry(log: Database<Uint8Array, Uint8Array>, index: number, at: number): void {
      const key = encodeIndexKey(index);
      log.putSync(key, flipByte(log.get(key)!, at));
    }

    it('detects a flipped byte in an entry on read, naming the index and the file', async () => {
      const h = await tenEntries();
      await h.tamper((log) => corruptEntry(log, 5, 30));
      const s = h.openAgain(); // the tail (9, 10) is intact, so opening succeeds
      const err = caught(() => s.entries(1, 11, Number.POSITIVE_INFINITY));
      expect(err).toBeInstanceOf(CorruptLogError);
      expect(err).toMatchObject({ index: 5, file: h.file });
      expect((err as CorruptLogError).message).toContain('checksum mismatch');
      expect(caught(() => s.term(5))).toMatchObject({ name: 'CorruptLogError', index: 5 });
      // Entries before the corrupt one are still served.
      expect(s.entries(1, 5, Number.POSITIVE_INFINITY)).toHaveLength(4);
      const report = s.verify();
      expect(report).toMatchObject({ status: 'corrupt-log', index: 5, entriesChecked: 4 });
    });

    it('detects a corrupt header field, not only corrupt data', async () => {
      const h = await tenEntries();
      await h.tamper((log) => corruptEntry(log, 3, 5)); // inside the term
      const s = h.openAgain();
      expect(caught(() => s.term(3))).toMatchObject({ name: 'CorruptLogError', index: 3 });
    });

    it('refuses to open when the last entry is corrupt', async () => {
      const h = await tenEntries();
      await h.tamper((log) => corruptEntry(log, 10, 25));
      const err = caught(() => h.openAgain());
      expect(err).toBeInstanceOf(CorruptLogError);
      expect(err).toMatchObject({ index: 10, file: h.file });
    });

    it('refuses to open on a torn tail: a truncated last record', async () => {
      const h = await tenEntries();
      await h.tamper((log) => {
        const key = encodeIndexKey(10);
        const whole = log.get(key)!;
        log.putSync(key, whole.subarray(0, whole.length - 7));
      });
      const err = caught(() => h.openAgain());
      expect(err).toBeInstanceOf(CorruptLogError);
      expect(err).toMatchObject({ index: 10, file: h.file });
      expect((err as CorruptLogError).reason).toContain('torn');
    });

    it('refuses to open on a torn tail: a record cut inside its header', async () => {
      const h = await tenEntries();
      await h.tamper((log) => {
        const key = encodeIndexKey(10);
        log.putSync(key, log.get(key)!.subarray(0, 9));
      });
      expect(caught(() => h.openAgain())).toMatchObject({ name: 'CorruptLogError', index: 10 });
    });

    it('detects an entry stored under the wrong index, though its checksum is valid', async () => {
      const h = await tenEntries();
      await h.tamper((log) => {
        const four = log.get(encodeIndexKey(4))!;
        log.putSync(encodeIndexKey(4), log.get(encodeIndexKey(5))!);
        log.putSync(encodeIndexKey(5), four);
      });
      const s = h.openAgain();
      const err = caught(() => s.entries(4, 6, Number.POSITIVE_INFINITY));
      expect(err).toMatchObject({ name: 'CorruptLogError', index: 4 });
      expect((err as CorruptLogError).reason).toContain('holds index 5');
    });

    it('detects a hole in the log', async () => {
      const h = await tenEntries();
      await h.tamper((log) => {
        log.removeSync(encodeIndexKey(6));
      });
      const s = h.openAgain();
      expect(caught(() => s.entries(5, 8, Number.POSITIVE_INFINITY))).toMatchObject({ name: 'CorruptLogError', index: 6 });
      expect(caught(() => s.term(6))).toMatchObject({ name: 'CorruptLogError', index: 6 });
      expect(s.verify()).toMatchObject({ status: 'corrupt-log', index: 6 });
    });

    it('refuses to open when the tail has a hole or decreasing terms', async () => {
      const h = await tenEntries({ tailCache: { maxEntries: 8, maxBytes: 1 << 20 } });
      await h.tamper((log) => {
        log.removeSync(encodeIndexKey(8));
      });
      expect(caught(() => h.openAgain())).toMatchObject({ name: 'CorruptLogError', index: 8 });
    });

    it('refuses to open when entries the commit index covers are gone', async () => {
      const h = await tenEntries();
      await h.tamper((log) => {
        log.removeSync(encodeIndexKey(10));
        log.removeSync(encodeIndexKey(9));
      });
      const err = caught(() => h.openAgain());
      expect(err).toBeInstanceOf(CorruptMetadataError);
      expect(err).toMatchObject({ key: 'hard-state', file: h.file });
    });

    it('detects corrupt metadata records by key', async () => {
      const h = await tenEntries();
      await h.tamper((_log, meta) => {
        meta.putSync('hard-state', flipByte(meta.get('hard-state')!, 3));
      });
      expect(caught(() => h.openAgain())).toMatchObject({ name: 'CorruptMetadataError', key: 'hard-state', file: h.file });
    });

    it('detects a missing metadata record', async () => {
      const h = await tenEntries();
      await h.tamper((_log, meta) => {
        meta.removeSync('log-head');
      });
      expect(caught(() => h.openAgain())).toMatchObject({ name: 'CorruptMetadataError', key: 'log-head' });
    });

    it('detects corrupt snapshot data when the snapshot is read, and in verify()', async () => {
      const h = await tenEntries();
      h.storage.createSnapshot(8, { voters: [1], learners: [] }, new Uint8Array(1000).fill(3));
      await h.tamper((_log, meta) => {
        meta.putSync('snapshot-data', flipByte(meta.get('snapshot-data')!, 500));
      });
      const s = h.openAgain();
      expect(caught(() => s.snapshot())).toMatchObject({ name: 'CorruptMetadataError', key: 'snapshot-data' });
      expect(s.verify()).toMatchObject({ status: 'corrupt-metadata', key: 'snapshot-data' });
    });

    it('opens a data dir whose snapshot record was written before records without data existed', async () => {
      const h = await tenEntries();
      h.storage.compact(2);
      // The version 1 record of lmdb-storage-codec.test.ts (index 70000 is past this log, which only
      // the snapshot record cares about here), with the data it describes.
      const v1 = Buffer.from(
        '0100000000000111700000000000000005000000030000000100000000000000010000000000000002000000000000000300000000000000040000000429308cf43a27f227',
        'hex',
      );
      await h.tamper((_log, meta) => {
        meta.putSync('snapshot-meta', v1);
        meta.putSync('snapshot-data', new Uint8Array([1, 2, 3, 4]));
      });
      const s = h.openAgain();
      expect(s.recordedSnapshot()).toEqual({ metadata: { index: 70_000, term: 5, confState: { voters: [1, 2, 3], learners: [4] } }, dataLocation: 'inline' });
      expect(Array.from(s.snapshot().data)).toEqual([1, 2, 3, 4]);
    });

    it('a snapshot recorded without data drops the old data; a flipped byte in its record or leftover data is reported', async () => {
      const h = await tenEntries();
      h.storage.createSnapshot(4, { voters: [1], learners: [] }, new Uint8Array(1000).fill(3));
      h.storage.recordSnapshot(8, { voters: [1], learners: [] });
      expect(h.storage.verify()).toMatchObject({ status: 'ok' });
      let stored: Uint8Array | undefined;
      await h.tamper((_log, meta) => {
        expect(meta.get('snapshot-data')).toBeUndefined();
        stored = meta.get('snapshot-meta');
        meta.putSync('snapshot-meta', flipByte(stored!, 12));
      });
      expect(caught(() => h.openAgain())).toMatchObject({ name: 'CorruptMetadataError', key: 'snapshot-meta', file: h.file });
      await h.tamper((_log, meta) => {
        meta.putSync('snapshot-meta', stored!);
        meta.putSync('snapshot-data', new Uint8Array([1]));
      });
      expect(caught(() => h.openAgain())).toMatchObject({ name: 'CorruptMetadataError', key: 'snapshot-data', reason: expect.stringMatching(/without data/) });
      await h.tamper((_log, meta) => {
        meta.removeSync('snapshot-data');
      });
      expect(h.openAgain().recordedSnapshot()).toMatchObject({ metadata: { index: 8 }, dataLocation: 'state-machine' });
    });

    it('reports a clean log as ok', async () => {
      const h = await tenEntries();
      h.storage.compact(3);
      expect(h.storage.verify()).toEqual({ status: 'ok', firstIndex: 4, lastIndex: 10, entriesChecked: 7 });
    });
  });

  describe('input validation', () => {
    it('refuses entries that are not contiguous or whose terms decrease', async () => {
      const h = await harness();
      h.storage.append(entriesWithTerms(1, [2, 2]));
      expect(caught(() => h.storage.append([entry(3, 2), entry(5, 2)]))).toBeInstanceOf(RaftInvariantError);
      expect(caught(() => h.storage.append([entry(3, 3), entry(4, 2)]))).toBeInstanceOf(RaftInvariantError);
      expect(caught(() => h.storage.append([entry(3, 1)]))).toBeInstanceOf(RaftInvariantError);
      expect(caught(() => h.storage.append([entry(3, 2.5)]))).toBeInstanceOf(RaftInvariantError);
      expect(caught(() => h.storage.append([entry(3, 2, 'x', 7 as EntryType)]))).toBeInstanceOf(RaftInvariantError);
      expect(caught(() => h.storage.setHardState({ term: -1, vote: 0, commit: 0 }))).toBeInstanceOf(RaftInvariantError);
      expect(h.storage.lastIndex()).toBe(2);
    });

    it('keeps its own copy of entry data, whatever the caller does with its buffers', async () => {
      const h = await harness();
      const data = new Uint8Array([1, 2, 3]);
      h.storage.append([{ index: 1, term: 1, type: EntryType.Normal, data }]);
      data.fill(9);
      expect(Array.from(h.storage.entries(1, 2, Number.POSITIVE_INFINITY)[0]!.data)).toEqual([1, 2, 3]);
    });
  });

  describe('environment', () => {
    it('refuses an environment opened with noSync', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'flotilla-lmdb-storage-'));
      const root = open({ path: dir, noSync: true });
      try {
        expect(caught(() => LmdbStorage.open(root))).toMatchObject({ name: 'LmdbConfigError', option: 'noSync' });
        expect(caught(() => LmdbStorage.open(root))).toBeInstanceOf(LmdbConfigError);
      } finally {
        await root.close();
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('shares one environment with the state machine and with another raft group', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'flotilla-lmdb-storage-'));
      const groupB = { logDbName: 'raft-log-b', metaDbName: 'raft-meta-b' };
      let env = open({ path: dir });
      try {
        const state = env.openDB<string, string>({ name: 'store-state', encoding: 'string' });
        const a = LmdbStorage.open(env);
        const b = LmdbStorage.open(env, groupB);
        const statePut = state.put('k', 'v');
        await a.persist({ entries: entriesWithTerms(1, [1, 1]) }, true);
        b.append(entriesWithTerms(1, [5]));
        await statePut;
        await env.close();
        env = open({ path: dir });
        expect(LmdbStorage.open(env).lastIndex()).toBe(2);
        expect(LmdbStorage.open(env, groupB).term(1)).toBe(5);
        expect(env.openDB<string, string>({ name: 'store-state', encoding: 'string' }).get('k')).toBe('v');
      } finally {
        await env.close();
        await rm(dir, { recursive: true, force: true });
      }
    });
  });
});
