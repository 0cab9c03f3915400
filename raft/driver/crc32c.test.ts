import { describe, expect, it } from 'vitest';

import { crc32c } from './crc32c.js';

describe('crc32c', () => {
  it('matches the published check value and the RFC 3720 (iSCSI) vectors', () => {
    expect(crc32c(new TextEncoder().encode('123456789'))).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(0))).toBe(0);
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
    expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, k) => k))).toBe(0x46dd794e);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, k) => 31 - k))).toBe(0x113fdb5c);
  });

  it('agrees with the bytewise definition at every length and offset, and continues across pieces', () => {
    const bytes = Uint8Array.from({ length: 300 }, (_, k) => (k * 197 + 13) & 0xff);
    const slow = (b: Uint8Array, start: number, end: number): number => {
      let c = 0xffffffff;
      for (let i = start; i < end; i++) {
        c ^= b[i]!;
        for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
      }
      return ~c >>> 0;
    };
    for (let start = 0; start < 9; start++) {
      for (let end = start; end <= bytes.length; end += 7) expect(crc32c(bytes, start, end)).toBe(slow(bytes, start, end));
    }
    expect(crc32c(bytes, 100, 300, crc32c(bytes, 0, 100))).toBe(crc32c(bytes));
  });
});
