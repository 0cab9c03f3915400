// On-disk layouts of the LMDB Raft storage.
//
// Hand-written fixed layouts rather than msgpackr: a checksum must cover bytes whose meaning never
// changes, and msgpackr's output for one object varies with its version and options (records,
// shared structures); entry data is already opaque bytes, so msgpack would only wrap four
// integers; a fixed header lets a reader spot a torn record by its length before trusting any
// field; and an entry's data can be a view into its record instead of a copy.
//
// All integers are big-endian. u64 fields hold JS safe integers (< 2^53), written as two u32s.
// Every record ends with a CRC-32C of all the bytes before it.
//
//   log key            u64 index (big-endian, so LMDB's byte order is index order)
//   entry record       u8 version | u8 type | u64 term | u64 index | u32 dataLength | data | u32 crc
//   hard-state         u8 version | u64 term | u64 vote | u64 commit | u32 crc
//   log-head           u8 version | u64 index | u64 term | u32 crc
//   snapshot-meta      a snapshot whose data is stored with it (inline), version 1:
//                      u8 version=1 | u64 index | u64 term | u32 voterCount | u32 learnerCount
//                      | u64 voter... | u64 learner... | u32 dataLength | u32 dataCrc | u32 crc
//                      a snapshot recorded without data (its state is in the state machine), version 2:
//                      u8 version=2 | u8 dataLocation=1 | u64 index | u64 term | u32 voterCount
//                      | u32 learnerCount | u64 voter... | u64 learner... | u32 crc
//   snapshot-data      an inline snapshot's bytes, checked against dataLength and dataCrc; absent
//                      with a version 2 snapshot-meta
//   format             u8 version | u32 magic | u32 crc
//
// Compatibility: a data dir written before version 2 holds only version 1 records, which read as
// before. Inline snapshots are still written as version 1, so only a data dir that recorded a
// snapshot without data is unreadable to older code, which then reports the version, not garbage.

import { crc32c } from './crc32c.js';
import { SnapshotDataLocation } from '../core/storage.js';
import { EntryType, type ConfState, type Entry, type HardState, type SnapshotMetadata } from '../core/types.js';

export const RECORD_VERSION = 1;
/** snapshot-meta of a snapshot recorded without data. */
export const SNAPSHOT_WITHOUT_DATA_RECORD_VERSION = 2;
/** The dataLocation byte of a version 2 snapshot-meta: the state lives in the state machine. */
const DATA_IN_STATE_MACHINE = 1;
/** "FRLG": Flotilla Raft LoG; tells this store's sub-databases apart from someone else's. */
export const FORMAT_MAGIC = 0x46524c47;

const U32_BYTES = 4;
const U64_BYTES = 8;
const CRC_BYTES = U32_BYTES;
const U32_MAX = 0xffffffff;
const TWO_TO_32 = 0x1_0000_0000;

export const INDEX_KEY_BYTES = U64_BYTES;
/** version, type, term, index, data length. */
export const ENTRY_HEADER_BYTES = 1 + 1 + U64_BYTES + U64_BYTES + U32_BYTES;
export const ENTRY_RECORD_OVERHEAD = ENTRY_HEADER_BYTES + CRC_BYTES;
/** The largest entry data a record can describe (its length field is a u32). */
export const MAX_ENTRY_DATA_BYTES = U32_MAX;

const HARD_STATE_BYTES = 1 + 3 * U64_BYTES + CRC_BYTES;
const LOG_HEAD_BYTES = 1 + 2 * U64_BYTES + CRC_BYTES;
const FORMAT_BYTES = 1 + U32_BYTES + CRC_BYTES;
/** version, index, term, voter count, learner count; then members; then data length, data crc, crc. */
const SNAPSHOT_META_FIXED_BYTES = 1 + 2 * U64_BYTES + 2 * U32_BYTES + 2 * U32_BYTES + CRC_BYTES;
/** version, data location, index, term, voter count, learner count; then members; then crc. */
const SNAPSHOT_WITHOUT_DATA_FIXED_BYTES = 1 + 1 + 2 * U64_BYTES + 2 * U32_BYTES + CRC_BYTES;

/** The dummy entry before the first stored entry: the log's compaction point. */
export interface LogHead {
  readonly index: number;
  readonly term: number;
}

/**
 * Snapshot metadata plus, for an inline snapshot, what is needed to verify the data record without
 * reading it twice.
 */
export type SnapshotRecord =
  | { readonly metadata: SnapshotMetadata; readonly dataLocation: typeof SnapshotDataLocation.Inline; readonly dataLength: number; readonly dataCrc: number }
  | { readonly metadata: SnapshotMetadata; readonly dataLocation: typeof SnapshotDataLocation.StateMachine };

/** The result of decoding bytes read from disk; `reason` names what is wrong. */
export type Decoded<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: string };

/** Thrown inside this module only, and turned into a Decoded failure at its boundary. */
class DecodeFailure extends Error {
  override readonly name = 'DecodeFailure';
}

function decoding<T>(decode: () => T): Decoded<T> {
  try {
    return { ok: true, value: decode() };
  } catch (err) {
    if (err instanceof DecodeFailure) return { ok: false, reason: err.message };
    throw err;
  }
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function putU64(v: DataView, offset: number, n: number): void {
  v.setUint32(offset, Math.floor(n / TWO_TO_32));
  v.setUint32(offset + U32_BYTES, n >>> 0);
}

function getU64(v: DataView, offset: number, field: string): number {
  const n = v.getUint32(offset) * TWO_TO_32 + v.getUint32(offset + U32_BYTES);
  if (!Number.isSafeInteger(n)) throw new DecodeFailure(`${field} ${n} is not a safe integer`);
  return n;
}

/** Writes the trailing CRC over bytes[0, length - CRC_BYTES). */
function seal(bytes: Uint8Array): Uint8Array {
  const end = bytes.length - CRC_BYTES;
  view(bytes).setUint32(end, crc32c(bytes, 0, end));
  return bytes;
}

/** Checks length, checksum and version of a fixed-size record, in that order: a torn record is reported as torn, not as a bad checksum. */
function unseal(bytes: Uint8Array, expectedLength: number, what: string): DataView {
  if (bytes.length !== expectedLength) {
    throw new DecodeFailure(`${what} record is ${bytes.length} bytes, expected ${expectedLength} (torn or truncated)`);
  }
  checkCrc(bytes, what);
  return checkedVersion(bytes, what);
}

function checkCrc(bytes: Uint8Array, what: string): void {
  const end = bytes.length - CRC_BYTES;
  const stored = view(bytes).getUint32(end);
  const computed = crc32c(bytes, 0, end);
  if (stored !== computed) {
    throw new DecodeFailure(`${what} checksum mismatch: stored ${hex(stored)}, computed ${hex(computed)}`);
  }
}

function checkedVersion(bytes: Uint8Array, what: string): DataView {
  const version = bytes[0];
  if (version !== RECORD_VERSION) throw new DecodeFailure(`${what} record version ${version} is not ${RECORD_VERSION}`);
  return view(bytes);
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}

export function encodeIndexKey(index: number): Uint8Array {
  const key = new Uint8Array(INDEX_KEY_BYTES);
  putU64(view(key), 0, index);
  return key;
}

/** The index a log key names, or undefined if the key is not an 8-byte safe index. */
export function decodeIndexKey(key: Uint8Array): number | undefined {
  if (key.length !== INDEX_KEY_BYTES) return undefined;
  const v = view(key);
  const n = v.getUint32(0) * TWO_TO_32 + v.getUint32(U32_BYTES);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Precondition: the entry was validated (safe non-negative term and index, known type, data within MAX_ENTRY_DATA_BYTES). */
export function encodeEntryRecord(e: Entry): Uint8Array {
  const record = new Uint8Array(ENTRY_RECORD_OVERHEAD + e.data.length);
  const v = view(record);
  v.setUint8(0, RECORD_VERSION);
  v.setUint8(1, e.type);
  putU64(v, 2, e.term);
  putU64(v, 10, e.index);
  v.setUint32(18, e.data.length);
  record.set(e.data, ENTRY_HEADER_BYTES);
  return seal(record);
}

/**
 * Decodes and verifies an entry record stored under `expectedIndex`. The returned entry's data is
 * a view into `record`, which must not be reused by the caller (lmdb-js returns fresh copies).
 */
export function decodeEntryRecord(record: Uint8Array, expectedIndex: number): Decoded<Entry> {
  return decoding(() => {
    if (record.length < ENTRY_RECORD_OVERHEAD) {
      throw new DecodeFailure(`record is ${record.length} bytes, shorter than the ${ENTRY_RECORD_OVERHEAD}-byte frame (torn or truncated)`);
    }
    const v = view(record);
    const dataLength = v.getUint32(18);
    if (record.length !== ENTRY_RECORD_OVERHEAD + dataLength) {
      throw new DecodeFailure(
        `record is ${record.length} bytes but its header promises ${ENTRY_RECORD_OVERHEAD + dataLength} (torn or truncated)`,
      );
    }
    checkCrc(record, 'entry');
    checkedVersion(record, 'entry');
    const type = v.getUint8(1);
    if (type !== EntryType.Normal && type !== EntryType.ConfChange) throw new DecodeFailure(`unknown entry type ${type}`);
    const term = getU64(v, 2, 'term');
    const index = getU64(v, 10, 'index');
    if (index !== expectedIndex) throw new DecodeFailure(`record holds index ${index}, stored under index ${expectedIndex}`);
    return { term, index, type, data: record.subarray(ENTRY_HEADER_BYTES, ENTRY_HEADER_BYTES + dataLength) };
  });
}

export function encodeHardState(hs: HardState): Uint8Array {
  const bytes = new Uint8Array(HARD_STATE_BYTES);
  const v = view(bytes);
  v.setUint8(0, RECORD_VERSION);
  putU64(v, 1, hs.term);
  putU64(v, 9, hs.vote);
  putU64(v, 17, hs.commit);
  return seal(bytes);
}

export function decodeHardState(bytes: Uint8Array): Decoded<HardState> {
  return decoding(() => {
    const v = unseal(bytes, HARD_STATE_BYTES, 'hard-state');
    return { term: getU64(v, 1, 'term'), vote: getU64(v, 9, 'vote'), commit: getU64(v, 17, 'commit') };
  });
}

export function encodeLogHead(head: LogHead): Uint8Array {
  const bytes = new Uint8Array(LOG_HEAD_BYTES);
  const v = view(bytes);
  v.setUint8(0, RECORD_VERSION);
  putU64(v, 1, head.index);
  putU64(v, 9, head.term);
  return seal(bytes);
}

export function decodeLogHead(bytes: Uint8Array): Decoded<LogHead> {
  return decoding(() => {
    const v = unseal(bytes, LOG_HEAD_BYTES, 'log-head');
    return { index: getU64(v, 1, 'index'), term: getU64(v, 9, 'term') };
  });
}

export function encodeFormat(): Uint8Array {
  const bytes = new Uint8Array(FORMAT_BYTES);
  const v = view(bytes);
  v.setUint8(0, RECORD_VERSION);
  v.setUint32(1, FORMAT_MAGIC);
  return seal(bytes);
}

export function decodeFormat(bytes: Uint8Array): Decoded<number> {
  return decoding(() => {
    const v = unseal(bytes, FORMAT_BYTES, 'format');
    const magic = v.getUint32(1);
    if (magic !== FORMAT_MAGIC) throw new DecodeFailure(`magic ${hex(magic)} is not ${hex(FORMAT_MAGIC)}: not a Flotilla raft log`);
    return RECORD_VERSION;
  });
}

/** Precondition: the record was validated (safe non-negative integers, positive member ids). */
export function encodeSnapshotRecord(record: SnapshotRecord): Uint8Array {
  const { index, term, confState } = record.metadata;
  const members = [...confState.voters, ...confState.learners];
  const inline = record.dataLocation === SnapshotDataLocation.Inline;
  const fixed = inline ? SNAPSHOT_META_FIXED_BYTES : SNAPSHOT_WITHOUT_DATA_FIXED_BYTES;
  const bytes = new Uint8Array(fixed + members.length * U64_BYTES);
  const v = view(bytes);
  let o = 0;
  if (inline) {
    v.setUint8(o++, RECORD_VERSION);
  } else {
    v.setUint8(o++, SNAPSHOT_WITHOUT_DATA_RECORD_VERSION);
    v.setUint8(o++, DATA_IN_STATE_MACHINE);
  }
  putU64(v, o, index);
  putU64(v, o + U64_BYTES, term);
  o += 2 * U64_BYTES;
  v.setUint32(o, confState.voters.length);
  v.setUint32(o + U32_BYTES, confState.learners.length);
  o += 2 * U32_BYTES;
  for (const id of members) {
    putU64(v, o, id);
    o += U64_BYTES;
  }
  if (record.dataLocation === SnapshotDataLocation.Inline) {
    v.setUint32(o, record.dataLength);
    v.setUint32(o + U32_BYTES, record.dataCrc);
  }
  return seal(bytes);
}

export function decodeSnapshotRecord(bytes: Uint8Array): Decoded<SnapshotRecord> {
  return decoding(() => {
    // The version byte picks the layout only; it is trusted after the length and checksum agree.
    const withoutData = bytes.length > 0 && bytes[0] === SNAPSHOT_WITHOUT_DATA_RECORD_VERSION;
    const fixed = withoutData ? SNAPSHOT_WITHOUT_DATA_FIXED_BYTES : SNAPSHOT_META_FIXED_BYTES;
    if (bytes.length < fixed) {
      throw new DecodeFailure(`snapshot-meta record is ${bytes.length} bytes, shorter than ${fixed} (torn or truncated)`);
    }
    const v = view(bytes);
    let o = withoutData ? 2 : 1;
    const countsAt = o + 2 * U64_BYTES;
    const voterCount = v.getUint32(countsAt);
    const learnerCount = v.getUint32(countsAt + U32_BYTES);
    // Counts are checked against the record's length before anything is allocated from them.
    const expected = fixed + (voterCount + learnerCount) * U64_BYTES;
    if (bytes.length !== expected) {
      throw new DecodeFailure(`snapshot-meta record is ${bytes.length} bytes, its member counts promise ${expected} (torn or truncated)`);
    }
    checkCrc(bytes, 'snapshot-meta');
    if (withoutData) {
      const location = v.getUint8(1);
      if (location !== DATA_IN_STATE_MACHINE) throw new DecodeFailure(`snapshot-meta data location ${location} is not ${DATA_IN_STATE_MACHINE} (the state machine)`);
    } else {
      checkedVersion(bytes, 'snapshot-meta');
    }
    const index = getU64(v, o, 'index');
    const term = getU64(v, o + U64_BYTES, 'term');
    o = countsAt + 2 * U32_BYTES;
    const readMembers = (count: number, role: string): number[] => {
      const ids: number[] = [];
      for (let k = 0; k < count; k++, o += U64_BYTES) {
        const id = getU64(v, o, `${role} id`);
        if (id === 0) throw new DecodeFailure(`${role} id 0 is not a member id`);
        ids.push(id);
      }
      return ids;
    };
    const voters = readMembers(voterCount, 'voter');
    const learners = readMembers(learnerCount, 'learner');
    const confState: ConfState = { voters, learners };
    const metadata = { index, term, confState };
    if (withoutData) return { metadata, dataLocation: SnapshotDataLocation.StateMachine };
    return { metadata, dataLocation: SnapshotDataLocation.Inline, dataLength: v.getUint32(o), dataCrc: v.getUint32(o + U32_BYTES) };
  });
}

/** Verifies snapshot data against the length and checksum its metadata record promised. */
export function checkSnapshotData(data: Uint8Array, record: SnapshotRecord & { readonly dataLocation: typeof SnapshotDataLocation.Inline }): Decoded<Uint8Array> {
  return decoding(() => {
    if (data.length !== record.dataLength) {
      throw new DecodeFailure(`snapshot-data is ${data.length} bytes, its metadata promises ${record.dataLength} (torn or truncated)`);
    }
    const crc = crc32c(data);
    if (crc !== record.dataCrc) throw new DecodeFailure(`snapshot-data checksum mismatch: stored ${hex(record.dataCrc)}, computed ${hex(crc)}`);
    return data;
  });
}
