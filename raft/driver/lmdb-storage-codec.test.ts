import { describe, expect, it } from 'vitest';

import { crc32c } from './crc32c.js';
import { decodeSnapshotRecord, encodeSnapshotRecord, SNAPSHOT_WITHOUT_DATA_RECORD_VERSION, type SnapshotRecord } from './lmdb-storage-codec.js';

const confState = { voters: [1, 2, 3], learners: [4] };
const metadata = { index: 70_000, term: 5, confState };

/**
 * A snapshot-meta record as the code before version 2 wrote it (encodeSnapshotRecord at 039f0d1,
 * for data [1, 2, 3, 4]): data dirs in the field hold exactly these bytes.
 */
const VERSION_1_RECORD = Buffer.from(
  '0100000000000111700000000000000005000000030000000100000000000000010000000000000002000000000000000300000000000000040000000429308cf43a27f227',
  'hex',
);

/** Rewrites the trailing CRC, so a test can corrupt a field without the checksum catching it first. */
function resealed(bytes: Uint8Array): Uint8Array {
  const copy = Uint8Array.from(bytes);
  new DataView(copy.buffer).setUint32(copy.length - 4, crc32c(copy, 0, copy.length - 4));
  return copy;
}

function reason(bytes: Uint8Array): string {
  const decoded = decodeSnapshotRecord(bytes);
  if (decoded.ok) throw new Error('expected the record to be refused');
  return decoded.reason;
}

describe('snapshot-meta records', () => {
  const withoutData: SnapshotRecord = { metadata, dataLocation: 'state-machine' };

  it('still reads a version 1 record (inline data) written by the earlier code', () => {
    expect(decodeSnapshotRecord(VERSION_1_RECORD)).toEqual({
      ok: true,
      value: { metadata, dataLocation: 'inline', dataLength: 4, dataCrc: crc32c(new Uint8Array([1, 2, 3, 4])) },
    });
  });

  it('writes inline snapshots exactly as before (version 1), so older code still reads them', () => {
    const record: SnapshotRecord = { metadata, dataLocation: 'inline', dataLength: 4, dataCrc: crc32c(new Uint8Array([1, 2, 3, 4])) };
    expect(Buffer.from(encodeSnapshotRecord(record)).equals(VERSION_1_RECORD)).toBe(true);
  });

  it('round-trips a snapshot recorded without data as version 2, with no data length or checksum', () => {
    const bytes = encodeSnapshotRecord(withoutData);
    expect(bytes[0]).toBe(SNAPSHOT_WITHOUT_DATA_RECORD_VERSION);
    expect(bytes.length).toBe(VERSION_1_RECORD.length + 1 - 8);
    expect(decodeSnapshotRecord(bytes)).toEqual({ ok: true, value: withoutData });
    const empty: SnapshotRecord = { metadata: { index: 3, term: 1, confState: { voters: [], learners: [] } }, dataLocation: 'state-machine' };
    expect(decodeSnapshotRecord(encodeSnapshotRecord(empty))).toEqual({ ok: true, value: empty });
  });

  it('refuses a version 2 record with a flipped byte, truncated, or extended', () => {
    const bytes = encodeSnapshotRecord(withoutData);
    for (let at = 1; at < bytes.length; at++) {
      const copy = Uint8Array.from(bytes);
      copy[at] = copy[at]! ^ 0x5a;
      expect(decodeSnapshotRecord(copy).ok, `byte ${at}`).toBe(false);
    }
    expect(reason(bytes.subarray(0, bytes.length - 1))).toMatch(/torn or truncated/);
    expect(reason(bytes.subarray(0, 10))).toMatch(/shorter than 30/);
    expect(reason(new Uint8Array([...bytes, 0]))).toMatch(/member counts promise/);
  });

  it('refuses a version 2 record whose data location is unknown, even with a valid checksum', () => {
    const bytes = Uint8Array.from(encodeSnapshotRecord(withoutData));
    bytes[1] = 0;
    expect(reason(resealed(bytes))).toMatch(/data location 0 is not 1/);
  });

  it('refuses a record of an unknown version and a version 1 record read with the version 2 layout', () => {
    const v3 = Uint8Array.from(VERSION_1_RECORD);
    v3[0] = 3;
    expect(reason(resealed(v3))).toMatch(/version 3 is not 1/);
    // A version byte flipped from 1 to 2: the layouts' lengths differ, so it reads as torn.
    const flipped = Uint8Array.from(VERSION_1_RECORD);
    flipped[0] = 2;
    expect(reason(flipped)).toMatch(/torn or truncated|checksum/);
    expect(reason(resealed(flipped))).toMatch(/torn or truncated/);
  });

  it('refuses member id 0 in either version', () => {
    const bytes = Uint8Array.from(encodeSnapshotRecord({ metadata: { index: 3, term: 1, confState: { voters: [7], learners: [] } }, dataLocation: 'state-machine' }));
    bytes.fill(0, 26, 34);
    expect(reason(resealed(bytes))).toMatch(/voter id 0/);
  });
});
