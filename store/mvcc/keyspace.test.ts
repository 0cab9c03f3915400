import { describe, expect, it } from 'vitest';
import { compareBytes, decodeLeaseIdKey, decodeRevisionKey, indexKey, indexKeyRevision, leaseIdKey, revisionKey } from './keyspace.js';

const MAINS = [0, 1, 255, 256, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 5, Number.MAX_SAFE_INTEGER];
const SUBS = [0, 1, 2 ** 31, 2 ** 32 - 1];

describe('keyspace', () => {
  it('round-trips revisions as 12 big-endian bytes, in numeric order', () => {
    const keys: Uint8Array[] = [];
    for (const main of MAINS) {
      for (const sub of SUBS) {
        const key = revisionKey(main, sub);
        expect(key.length).toBe(12);
        expect(decodeRevisionKey(key)).toEqual({ main, sub });
        expect(indexKeyRevision(indexKey(new TextEncoder().encode('k\0ey'), main, sub))).toEqual({ main, sub });
        keys.push(key);
      }
    }
    expect(Buffer.from(revisionKey(2 ** 32 + 1, 3)).toString('hex')).toBe('000000010000000100000003');
    for (let i = 1; i < keys.length; i++) expect(compareBytes(keys[i - 1]!, keys[i]!)).toBeLessThan(0);
  });

  it('round-trips lease ids, and refuses keys too short to hold one', () => {
    for (const id of MAINS) expect(decodeLeaseIdKey(leaseIdKey(id))).toBe(id);
    expect(() => decodeRevisionKey(new Uint8Array(11))).toThrow(RangeError);
    expect(() => decodeLeaseIdKey(new Uint8Array(7))).toThrow(RangeError);
  });
});
