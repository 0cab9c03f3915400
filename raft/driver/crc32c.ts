// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of iSCSI, ext4 metadata and
// etcd's WAL. Slicing-by-8 tables: the log checksums every entry it writes and reads, and snapshot
// data can be large, so the byte-at-a-time loop would dominate. No dependency: 8 KiB of tables.

const POLYNOMIAL = 0x82f63b78;
const SLICES = 8;

const TABLES: readonly Uint32Array[] = (() => {
  const tables: Uint32Array[] = [];
  for (let s = 0; s < SLICES; s++) tables.push(new Uint32Array(256));
  const t0 = tables[0]!;
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLYNOMIAL : c >>> 1;
    t0[n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++) {
    let c = t0[n]!;
    for (let s = 1; s < SLICES; s++) {
      c = t0[c & 0xff]! ^ (c >>> 8);
      tables[s]![n] = c >>> 0;
    }
  }
  return tables;
})();

const [T0, T1, T2, T3, T4, T5, T6, T7] = TABLES as [
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
];

/**
 * The CRC-32C of bytes[start, end), continuing from `previous` (the CRC of the bytes before, or 0),
 * so a record can be checksummed in pieces without copying it together.
 */
export function crc32c(bytes: Uint8Array, start = 0, end = bytes.length, previous = 0): number {
  let crc = ~previous >>> 0;
  let i = start;
  // Indexes below are in [start, end), so the non-null assertions hold.
  for (; i + SLICES <= end; i += SLICES) {
    crc ^= bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
    crc =
      T7[crc & 0xff]! ^
      T6[(crc >>> 8) & 0xff]! ^
      T5[(crc >>> 16) & 0xff]! ^
      T4[crc >>> 24]! ^
      T3[bytes[i + 4]!]! ^
      T2[bytes[i + 5]!]! ^
      T1[bytes[i + 6]!]! ^
      T0[bytes[i + 7]!]!;
  }
  for (; i < end; i++) crc = T0[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return ~crc >>> 0;
}
