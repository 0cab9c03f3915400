// How user keys, revisions and key ranges are laid out as LMDB keys. LMDB orders keys by memcmp,
// so every layout here is chosen to make byte order equal the order the store needs.

/** LMDB's compiled-in key limit (lmdb-js reports "maximum key size (1978)"). */
export const LMDB_MAX_KEY_BYTES = 1978;

/**
 * The longest user key the store accepts. A key is escaped in the history index, which at worst
 * doubles it, plus a 2-byte terminator and a 12-byte revision: 2 * 960 + 14 = 1934 <= 1978.
 * etcd has no key limit of its own beyond the request size; Kubernetes keys are far shorter.
 */
export const MAX_KEY_BYTES = 960;

/** A revision as stored: 8 bytes of main revision then 4 of sub-revision, both big-endian. */
export const REVISION_KEY_BYTES = 12;

const TWO_POW_32 = 0x1_0000_0000;
const EMPTY = new Uint8Array(0);

export interface Revision {
  readonly main: number;
  readonly sub: number;
}

export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

/** A plain Uint8Array view of the same memory (LMDB and msgpackr hand out Buffers). */
export function plainBytes(bytes: Uint8Array): Uint8Array {
  return bytes.constructor === Uint8Array ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function compareRevisions(a: Revision, b: Revision): number {
  return a.main !== b.main ? a.main - b.main : a.sub - b.sub;
}

// Byte by byte rather than through a DataView: these run for every key the store writes and reads,
// and a DataView per call made them 2% each of a follower's CPU in `bench schedule` (7x slower in a
// micro-benchmark than the shifts).
function writeUint32(target: Uint8Array, offset: number, value: number): void {
  target[offset] = value >>> 24;
  target[offset + 1] = (value >>> 16) & 0xff;
  target[offset + 2] = (value >>> 8) & 0xff;
  target[offset + 3] = value & 0xff;
}

function readUint32(source: Uint8Array, offset: number): number {
  return source[offset]! * 0x100_0000 + ((source[offset + 1]! << 16) | (source[offset + 2]! << 8) | source[offset + 3]!);
}

function writeRevision(target: Uint8Array, offset: number, main: number, sub: number): void {
  if (offset + REVISION_KEY_BYTES > target.length) throw new RangeError(`a revision does not fit at offset ${offset} of ${target.length} bytes`);
  const high = Math.floor(main / TWO_POW_32);
  writeUint32(target, offset, high);
  writeUint32(target, offset + 4, main - high * TWO_POW_32);
  writeUint32(target, offset + 8, sub);
}

function readRevision(source: Uint8Array, offset: number): Revision {
  if (offset + REVISION_KEY_BYTES > source.length) throw new RangeError(`no revision at offset ${offset} of ${source.length} bytes`);
  return {
    main: readUint32(source, offset) * TWO_POW_32 + readUint32(source, offset + 4),
    sub: readUint32(source, offset + 8),
  };
}

export function revisionKey(main: number, sub: number): Uint8Array {
  const key = new Uint8Array(REVISION_KEY_BYTES);
  writeRevision(key, 0, main, sub);
  return key;
}

export function decodeRevisionKey(key: Uint8Array): Revision {
  return readRevision(key, 0);
}

/** An 8-byte big-endian lease id, so leases sort numerically. */
export function leaseIdKey(id: number): Uint8Array {
  const key = new Uint8Array(8);
  const high = Math.floor(id / TWO_POW_32);
  writeUint32(key, 0, high);
  writeUint32(key, 4, id - high * TWO_POW_32);
  return key;
}

export function decodeLeaseIdKey(key: Uint8Array): number {
  if (key.length < 8) throw new RangeError(`a lease id key is 8 bytes, not ${key.length}`);
  return readUint32(key, 0) * TWO_POW_32 + readUint32(key, 4);
}

/** Member ids sort numerically under the same 8-byte big-endian keys as lease ids. */
export const memberIdKey = leaseIdKey;
export const decodeMemberIdKey = decodeLeaseIdKey;

export function concatBytes(...parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

// History index keys: escape(userKey) ++ 00 00 ++ revision. The escape maps 00 to 00 FF, so the
// terminator 00 00 sorts below any continuation of the key. Invariants: userKey order equals the
// order of the escaped prefixes, no prefix is a prefix of another key's prefix, and all revisions of
// one key are contiguous and ascending.

/** escape(userKey) ++ 00 00: the first bytes of every history index key of userKey. */
export function indexKeyPrefix(userKey: Uint8Array): Uint8Array {
  let zeros = 0;
  for (const byte of userKey) if (byte === 0) zeros++;
  const out = new Uint8Array(userKey.length + zeros + 2);
  let offset = 0;
  for (const byte of userKey) {
    out[offset++] = byte;
    if (byte === 0) out[offset++] = 0xff;
  }
  // out ends with the two zero bytes of the terminator (fresh Uint8Array is zero-filled).
  return out;
}

export function indexKey(userKey: Uint8Array, main: number, sub: number): Uint8Array {
  const prefix = indexKeyPrefix(userKey);
  const key = new Uint8Array(prefix.length + REVISION_KEY_BYTES);
  key.set(prefix, 0);
  writeRevision(key, prefix.length, main, sub);
  return key;
}

/** The first key past every history index key of userKey: escape(userKey) ++ 00 01. */
export function indexKeyEnd(userKey: Uint8Array): Uint8Array {
  const end = indexKeyPrefix(userKey);
  end[end.length - 1] = 1;
  return end;
}

/** The escaped-key part of a history index key, identical for all revisions of one user key. */
export function indexKeyGroup(key: Uint8Array): Uint8Array {
  return key.subarray(0, key.length - REVISION_KEY_BYTES);
}

export function indexKeyRevision(key: Uint8Array): Revision {
  return readRevision(key, key.length - REVISION_KEY_BYTES);
}

// Key ranges, as etcd defines them: an empty rangeEnd names the single key; rangeEnd "\0" names every
// key >= key; otherwise the interval [key, rangeEnd), which is empty when rangeEnd <= key.

export type KeyRange =
  | { readonly kind: 'single'; readonly key: Uint8Array }
  | { readonly kind: 'fromKey'; readonly key: Uint8Array }
  | { readonly kind: 'interval'; readonly key: Uint8Array; readonly end: Uint8Array };

export function keyRange(key: Uint8Array, rangeEnd: Uint8Array = EMPTY): KeyRange {
  if (rangeEnd.length === 0) return { kind: 'single', key };
  if (rangeEnd.length === 1 && rangeEnd[0] === 0) return { kind: 'fromKey', key };
  return { kind: 'interval', key, end: rangeEnd };
}

export function rangeContains(range: KeyRange, key: Uint8Array): boolean {
  switch (range.kind) {
    case 'single':
      return bytesEqual(range.key, key);
    case 'fromKey':
      return compareBytes(key, range.key) >= 0;
    case 'interval':
      return compareBytes(key, range.key) >= 0 && compareBytes(key, range.end) < 0;
  }
}

/** The prefix range of etcd's clientv3.WithPrefix: rangeEnd is the key with its last byte below 0xff incremented. */
export function prefixRangeEnd(prefix: Uint8Array): Uint8Array {
  for (let i = prefix.length - 1; i >= 0; i--) {
    const byte = prefix[i];
    if (byte !== undefined && byte < 0xff) {
      const end = prefix.slice(0, i + 1);
      end[i] = byte + 1;
      return end;
    }
  }
  return new Uint8Array([0]);
}

/** A key as a string, for maps keyed by key: latin1, one character per byte, read without a copy. */
export function keyId(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1');
}
