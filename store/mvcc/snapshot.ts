// The store's full state as bytes, for a new or lagging member, and its restoration. A snapshot is a
// sequence of msgpack frames; the concatenation of the chunks is the snapshot:
//
//   ["flotilla.mvcc.snapshot", version, appliedIndex, currentRevision, compactRevision]
//   ["revisions", [[main, sub, record], ...]]      zero or more, in revision order
//   ["leases", [[id, ttl], ...]]                    zero or more, in id order
//   ["members", [[id, name, peerAddress, [clientUrl, ...]], ...]]   zero or more, in id order (version 2)
//   ["end", revisionCount, leaseCount]              so a truncated snapshot is refused
//
// Version 1 (written before the member registry) has no members frames; it restores an empty registry.
//
// Only the source tables are sent (history since the compact revision, leases, members, counters); the
// indexes are rebuilt on restore. Everything is read in key order from one LMDB read transaction,
// so the same state always gives the same bytes.

import type { Transaction } from 'lmdb';
import { MAX_LEASE_ID, MAX_LEASE_TTL_SECONDS, MAX_MEMBER_CLIENT_URLS, MAX_MEMBER_NAME_LENGTH, MAX_MEMBER_URL_LENGTH, MAX_REQUEST_BYTES } from './commands.js';
import { SnapshotFormatError } from './errors.js';
import { FieldReader } from './fields.js';
import {
  MAX_KEY_BYTES,
  type Revision,
  compareRevisions,
  decodeLeaseIdKey,
  decodeMemberIdKey,
  decodeRevisionKey,
  indexKey,
  leaseIdKey,
  memberIdKey,
  revisionKey,
} from './keyspace.js';
import {
  EMPTY_BYTES,
  INDEX_PUT,
  INDEX_TOMBSTONE,
  INITIAL_META,
  META_STATE_KEY,
  type MetaState,
  type MvccTables,
  decodeLease,
  decodeMember,
  decodeMeta,
  decodeRecord,
  encodeLease,
  encodeMember,
  encodeMeta,
  pack,
  tryDecodeRecord,
  unpackAll,
} from './tables.js';

/** A frame closes once its entries reach this many bytes; one frame holds at most this plus one record. */
export const SNAPSHOT_CHUNK_BYTES = 1024 * 1024;

const SNAPSHOT_MAGIC = 'flotilla.mvcc.snapshot';
const SNAPSHOT_FORMAT_VERSION = 3;
/** Versions restore() accepts: 1 has no member registry; 3 adds where a compaction in progress goes on. */
const READABLE_FORMAT_VERSIONS: readonly unknown[] = [1, 2, 3];
/** Per-entry framing overhead counted towards SNAPSHOT_CHUNK_BYTES (two integers and headers). */
const ENTRY_OVERHEAD_BYTES = 24;
const LEASE_ID_BYTES = 8;
/** A history record holds one key and one value, and both came through a request. */
const MAX_RECORD_BYTES = MAX_REQUEST_BYTES + MAX_KEY_BYTES + 64;

/**
 * The state as of one LMDB read transaction, pinned when opened: its applied index is known at
 * once, and its bytes are read in chunks as the caller pulls them (a master making a snapshot for a
 * follower spreads that over many event-loop turns while it keeps applying).
 */
export interface SnapshotView {
  readonly appliedIndex: number;
  /** The snapshot's bytes, in chunks of at most about SNAPSHOT_CHUNK_BYTES; closes the view when exhausted. */
  readonly chunks: Generator<Uint8Array>;
  /** Releases the read transaction; safe to call more than once, and after the chunks ran out. */
  close(): void;
}

export function openSnapshotView(tables: MvccTables): SnapshotView {
  const transaction = tables.root.useReadTransaction();
  let open = true;
  const close = (): void => {
    if (!open) return;
    open = false;
    transaction.done();
  };
  try {
    const metaBytes = tables.meta.get(META_STATE_KEY, { transaction });
    const meta = metaBytes === undefined ? INITIAL_META : decodeMeta(metaBytes);
    return { appliedIndex: meta.appliedIndex, chunks: viewChunks(tables, transaction, meta, close), close };
  } catch (error) {
    close();
    throw error;
  }
}

function* viewChunks(tables: MvccTables, transaction: Transaction, meta: MetaState, close: () => void): Generator<Uint8Array> {
  try {
    yield pack([SNAPSHOT_MAGIC, SNAPSHOT_FORMAT_VERSION, meta.appliedIndex, meta.currentRevision, meta.compactRevision, meta.compactNext ?? null]);

    let revisionCount = 0;
    let batch: unknown[] = [];
    let batchBytes = 0;
    for (const { key, value } of tables.revisions.getRange({ transaction })) {
      const revision = decodeRevisionKey(key);
      batch.push([revision.main, revision.sub, value]);
      batchBytes += value.length + ENTRY_OVERHEAD_BYTES;
      revisionCount++;
      if (batchBytes >= SNAPSHOT_CHUNK_BYTES) {
        yield pack(['revisions', batch]);
        batch = [];
        batchBytes = 0;
      }
    }
    if (batch.length > 0) yield pack(['revisions', batch]);

    let leaseCount = 0;
    batch = [];
    for (const { key, value } of tables.leases.getRange({ transaction })) {
      const id = decodeLeaseIdKey(key);
      batch.push([id, decodeLease(value, id)]);
      leaseCount++;
    }
    if (batch.length > 0) yield pack(['leases', batch]);

    batch = [];
    for (const { key, value } of tables.members.getRange({ transaction })) {
      const m = decodeMember(value, decodeMemberIdKey(key));
      batch.push([m.id, m.name, m.peerAddress, [...m.clientUrls]]);
    }
    if (batch.length > 0) yield pack(['members', batch]);
    yield pack(['end', revisionCount, leaseCount]);
  } finally {
    close();
  }
}

/** The snapshot as chunks of at most about SNAPSHOT_CHUNK_BYTES, read from one consistent view. */
export function snapshotChunks(tables: MvccTables): Generator<Uint8Array> {
  return openSnapshotView(tables).chunks;
}

export function snapshotBytes(tables: MvccTables): Uint8Array {
  return new Uint8Array(Buffer.concat([...snapshotChunks(tables)]));
}

const fields = new FieldReader((field, reason) => new SnapshotFormatError(field, reason));

/** Applies frames to emptied tables, checking order and shape as it goes. */
class SnapshotLoader {
  private meta: MetaState | undefined;
  private phase: 'header' | 'revisions' | 'leases' | 'members' | 'done' = 'header';
  private version = SNAPSHOT_FORMAT_VERSION;
  private lastMemberId = 0;
  private lastRevision: Revision = { main: 0, sub: 0 };
  private lastLeaseId = 0;
  private revisionCount = 0;
  private leaseCount = 0;

  constructor(private readonly tables: MvccTables) {}

  frame(frame: unknown): void {
    if (this.phase === 'done') throw new SnapshotFormatError('frame', 'data after the end frame');
    if (this.phase === 'header') return this.header(frame);
    const parts = fields.array(frame, 'frame', 3);
    const tag = fields.oneOf(parts[0], 'frame[0]', ['revisions', 'leases', 'members', 'end'] as const);
    if (tag === 'revisions') {
      if (this.phase !== 'revisions') throw new SnapshotFormatError('revisions', 'after the leases');
      return this.revisions(parts[1]);
    }
    if (tag === 'leases') {
      if (this.phase === 'members') throw new SnapshotFormatError('leases', 'after the members');
      this.phase = 'leases';
      return this.leases(parts[1]);
    }
    if (tag === 'members') {
      if (this.version < 2) throw new SnapshotFormatError('members', `not in format version ${this.version}`);
      this.phase = 'members';
      return this.members(parts[1]);
    }
    this.end(parts);
  }

  private header(frame: unknown): void {
    const parts = fields.array(frame, 'header', 6);
    if (parts[0] !== SNAPSHOT_MAGIC) throw new SnapshotFormatError('header', 'not an MVCC snapshot');
    if (!READABLE_FORMAT_VERSIONS.includes(parts[1])) {
      throw new SnapshotFormatError('header.version', `unsupported: ${String(parts[1])}`);
    }
    this.version = parts[1] as number;
    const appliedIndex = fields.integer(parts[2], 'header.appliedIndex', 0, Number.MAX_SAFE_INTEGER);
    const currentRevision = fields.integer(parts[3], 'header.currentRevision', 1, Number.MAX_SAFE_INTEGER);
    const compactRevision = fields.integer(parts[4], 'header.compactRevision', 0, currentRevision);
    // A history index key: an escaped key (at most twice its bytes), a terminator and a revision.
    const compactNext = this.version >= 3 && parts[5] !== null && parts[5] !== undefined
      ? fields.bytes(parts[5], 'header.compactNext', { maxBytes: 2 * MAX_KEY_BYTES + 32 })
      : undefined;
    if (compactNext !== undefined && compactRevision === 0) throw new SnapshotFormatError('header.compactNext', 'set without a compact revision');
    this.meta = { appliedIndex, currentRevision, compactRevision, compactNext };
    this.phase = 'revisions';
  }

  private revisions(entries: unknown): void {
    const maxMain = this.meta?.currentRevision ?? 0;
    const list = fields.array(entries, 'revisions', Number.MAX_SAFE_INTEGER);
    for (const [i, entry] of list.entries()) {
      const field = `revisions[${this.revisionCount + i}]`;
      const parts = fields.array(entry, field, 3);
      const revision = {
        main: fields.integer(parts[0], `${field}.main`, 1, maxMain),
        sub: fields.integer(parts[1], `${field}.sub`, 0, 0xffff_ffff),
      };
      if (compareRevisions(revision, this.lastRevision) <= 0) {
        throw new SnapshotFormatError(field, 'revisions are not strictly increasing');
      }
      const recordBytes = fields.bytes(parts[2], `${field}.record`, { maxBytes: MAX_RECORD_BYTES });
      const record = tryDecodeRecord(recordBytes);
      if (record === undefined) throw new SnapshotFormatError(`${field}.record`, 'not a history record');
      if (record.key.length > MAX_KEY_BYTES) {
        throw new SnapshotFormatError(`${field}.record`, `key longer than ${MAX_KEY_BYTES} bytes`);
      }
      const revKey = revisionKey(revision.main, revision.sub);
      this.tables.revisions.putSync(revKey, recordBytes);
      const indexFlag = record.tombstone ? INDEX_TOMBSTONE : INDEX_PUT;
      this.tables.keyIndex.putSync(indexKey(record.key, revision.main, revision.sub), indexFlag);
      if (record.tombstone) this.tables.current.removeSync(record.key);
      else this.tables.current.putSync(record.key, revKey);
      this.lastRevision = revision;
    }
    this.revisionCount += list.length;
  }

  private leases(entries: unknown): void {
    const list = fields.array(entries, 'leases', Number.MAX_SAFE_INTEGER);
    for (const [i, entry] of list.entries()) {
      const field = `leases[${this.leaseCount + i}]`;
      const parts = fields.array(entry, field, 2);
      const id = fields.integer(parts[0], `${field}.id`, 1, MAX_LEASE_ID);
      const ttl = fields.integer(parts[1], `${field}.ttl`, 1, MAX_LEASE_TTL_SECONDS);
      if (id <= this.lastLeaseId) throw new SnapshotFormatError(field, 'lease ids are not strictly increasing');
      this.tables.leases.putSync(leaseIdKey(id), encodeLease(ttl));
      this.lastLeaseId = id;
    }
    this.leaseCount += list.length;
  }

  private members(entries: unknown): void {
    const list = fields.array(entries, 'members', Number.MAX_SAFE_INTEGER);
    for (const [i, entry] of list.entries()) {
      const field = `members[${i}]`;
      const parts = fields.array(entry, field, 4);
      const id = fields.integer(parts[0], `${field}.id`, 1, 0xffff_ffff);
      if (id <= this.lastMemberId) throw new SnapshotFormatError(field, 'member ids are not strictly increasing');
      const [name, peerAddress] = [parts[1], parts[2]];
      if (typeof name !== 'string' || name.length > MAX_MEMBER_NAME_LENGTH) throw new SnapshotFormatError(`${field}.name`, 'not a member name');
      if (typeof peerAddress !== 'string' || peerAddress.length > MAX_MEMBER_URL_LENGTH) throw new SnapshotFormatError(`${field}.peerAddress`, 'not an address');
      const urls = fields.array(parts[3], `${field}.clientUrls`, MAX_MEMBER_CLIENT_URLS);
      const clientUrls = urls.map((u, j) => {
        if (typeof u !== 'string' || u.length > MAX_MEMBER_URL_LENGTH) throw new SnapshotFormatError(`${field}.clientUrls[${j}]`, 'not a URL');
        return u;
      });
      this.tables.members.putSync(memberIdKey(id), encodeMember({ id, name, peerAddress, clientUrls }));
      this.lastMemberId = id;
    }
  }

  private end(parts: readonly unknown[]): void {
    if (parts[1] !== this.revisionCount) {
      throw new SnapshotFormatError('end.revisionCount', 'does not match the revisions sent');
    }
    if (parts[2] !== this.leaseCount) throw new SnapshotFormatError('end.leaseCount', 'does not match the leases sent');
    this.phase = 'done';
  }

  /** Rebuilds lease attachments from the live keys and returns the counters to persist. */
  finish(): MetaState {
    if (this.meta === undefined) throw new SnapshotFormatError('header', 'missing');
    if (this.phase !== 'done') throw new SnapshotFormatError('end', 'missing: the snapshot is truncated');
    for (const { key, value } of this.tables.current.getRange({})) {
      const revision = decodeRevisionKey(value);
      const recordBytes = this.tables.revisions.get(value);
      if (recordBytes === undefined) continue;
      const record = decodeRecord(recordBytes, revision);
      if (record.tombstone || record.lease === 0) continue;
      if (this.tables.leases.get(leaseIdKey(record.lease)) === undefined) {
        const reason = `key at revision ${revision.main} is attached to missing lease ${record.lease}`;
        throw new SnapshotFormatError('leases', reason);
      }
      const leaseKey = new Uint8Array(LEASE_ID_BYTES + key.length);
      leaseKey.set(leaseIdKey(record.lease), 0);
      leaseKey.set(key, LEASE_ID_BYTES);
      this.tables.leaseKeys.putSync(leaseKey, EMPTY_BYTES);
    }
    this.tables.meta.putSync(META_STATE_KEY, encodeMeta(this.meta));
    return this.meta;
  }
}

/**
 * Replaces the store's tables with a snapshot, in one write transaction: on any error (a
 * SnapshotFormatError for bad bytes) nothing changes. Returns the restored counters.
 */
export function restoreSnapshot(tables: MvccTables, source: Uint8Array | Iterable<Uint8Array>): MetaState {
  const chunks: Iterable<Uint8Array> = source instanceof Uint8Array ? [source] : source;
  return tables.root.transactionSync(() => {
    for (const table of [tables.meta, tables.revisions, tables.keyIndex, tables.current, tables.leases, tables.leaseKeys, tables.members]) {
      table.clearSync();
    }
    const loader = new SnapshotLoader(tables);
    for (const chunk of chunks) {
      // Decode the chunk's frames before loading any: msgpackr is not reentrant, and loading
      // decodes records.
      let frames: unknown[];
      try {
        frames = unpackAll(chunk);
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        throw new SnapshotFormatError('(bytes)', `not msgpack frames: ${reason}`, { cause: error });
      }
      for (const frame of frames) loader.frame(frame);
    }
    return loader.finish();
  });
}
