// The binary form of a command in the Raft log (wire format 2). Every master decodes every entry,
// so decoding is the hot path: a positional layout (no field names), read straight into the
// normalized command, every bound checked as it is read. Decoding is the validation of the log's
// input: a frame that decodes is exactly a command that validateCommand accepts, and the encoding
// is canonical (each command has one form, and decoding then encoding gives the same bytes).
//
//   command  := MAGIC VERSION body            MAGIC is 0xc1, a byte msgpack never uses, so the
//                                             msgpack commands of format 1 stay readable
//   body     := tag fields...                 per type, below
//   uint     := LEB128, minimal, at most a safe integer
//   sint     := sign byte (0 or 1; no negative zero) then uint
//   bytes    := uint length, then the bytes
//   string   := bytes of UTF-8
//   flags    := one byte of booleans; an unknown bit is an error
//
//   put         TAG_PUT key value uint:lease flags(prevKv, ignoreValue, ignoreLease)
//   deleteRange TAG_DELETE key rangeEnd flags(prevKv)
//   range       TAG_RANGE key rangeEnd uint:revision uint:limit flags(countOnly, keysOnly)
//               byte:sortOrder byte:sortTarget uint:minMod uint:maxMod uint:minCreate uint:maxCreate
//   txn         TAG_TXN uint:compares uint:successes uint:failures compare* op* op*
//               (the counts first: a nested txn's bound depends on the longest list)
//   compare     byte:target byte:result key rangeEnd operand (bytes for value, else sint)
//   batch       TAG_BATCH uint:n (TAG_TXN txn)*n
//   compact     TAG_COMPACT uint:revision
//   leaseGrant  TAG_LEASE_GRANT uint:id uint:ttl
//   leaseRevoke TAG_LEASE_REVOKE uint:id
//   memberPublish TAG_MEMBER_PUBLISH uint:id string:name uint:n string*n

import type {
  Command,
  CommandType,
  Compare,
  CompareResult,
  CompareTarget,
  DeleteRangeCommand,
  PutCommand,
  RangeOp,
  RequestOp,
  SortOrder,
  SortTarget,
  TxnCommand,
} from './commands.js';
import {
  MAX_BATCH_TXNS,
  MAX_LEASE_ID,
  MAX_LEASE_TTL_SECONDS,
  MAX_MEMBER_CLIENT_URLS,
  MAX_MEMBER_NAME_LENGTH,
  MAX_MEMBER_URL_LENGTH,
  MAX_REQUEST_BYTES,
  MAX_TXN_DEPTH,
  MAX_TXN_OPS,
  NO_LEASE,
} from './command-limits.js';
import { InvalidCommandError } from './errors.js';
import { ROOT_FIELD, join } from './fields.js';
import { MAX_KEY_BYTES } from './keyspace.js';
import { checkBranchWrites } from './txn-intervals.js';

/** The first byte of a format-2 command; msgpack (format 1) never starts a value with it. */
export const WIRE_MAGIC = 0xc1;
export const WIRE_VERSION = 2;
/** Bytes before a command's body: MAGIC, VERSION. */
export const WIRE_HEADER_BYTES = 2;

const Tag = {
  put: 1,
  deleteRange: 2,
  txn: 3,
  batch: 4,
  compact: 5,
  leaseGrant: 6,
  leaseRevoke: 7,
  memberPublish: 8,
  range: 9,
} as const satisfies Record<CommandType | 'range', number>;

/** The byte at which a command's tag sits: what tells a batch, whose size bound is larger. */
export function wireTag(bytes: Uint8Array): number | undefined {
  return bytes.length > WIRE_HEADER_BYTES && bytes[0] === WIRE_MAGIC ? bytes[WIRE_HEADER_BYTES] : undefined;
}

export function isWireBatch(bytes: Uint8Array): boolean {
  return wireTag(bytes) === Tag.batch;
}

const SORT_ORDERS: readonly SortOrder[] = ['none', 'ascend', 'descend'];
const SORT_TARGETS: readonly SortTarget[] = ['key', 'version', 'create', 'mod', 'value'];
const COMPARE_RESULTS: readonly CompareResult[] = ['equal', 'greater', 'less', 'notEqual'];
const COMPARE_TARGETS: readonly CompareTarget[] = ['value', 'version', 'createRevision', 'modRevision', 'lease'];
const SORT_ORDER_CODE = { none: 0, ascend: 1, descend: 2 } as const satisfies Record<SortOrder, number>;
const SORT_TARGET_CODE = { key: 0, version: 1, create: 2, mod: 3, value: 4 } as const satisfies Record<SortTarget, number>;
const COMPARE_RESULT_CODE = { equal: 0, greater: 1, less: 2, notEqual: 3 } as const satisfies Record<CompareResult, number>;
const COMPARE_TARGET_CODE = { value: 0, version: 1, createRevision: 2, modRevision: 3, lease: 4 } as const satisfies Record<CompareTarget, number>;

const PUT_PREV_KV = 1;
const PUT_IGNORE_VALUE = 2;
const PUT_IGNORE_LEASE = 4;
const DELETE_PREV_KV = 1;
const RANGE_COUNT_ONLY = 1;
const RANGE_KEYS_ONLY = 2;

/** The longest minimal LEB128 of a safe integer (53 bits in 7-bit groups). */
const MAX_UINT_BYTES = 8;
/** A string's UTF-8 is at most 3 bytes per UTF-16 unit. */
const MAX_UTF8_BYTES_PER_UNIT = 3;

// ---- Encoding ----

/**
 * Writes a command into a buffer of its exact size, or, without a buffer, only counts its bytes:
 * encoding runs once to measure and once to write, through the same code, so that the only
 * allocation is the result.
 */
class Writer {
  pos = 0;

  constructor(private readonly buf: Uint8Array | undefined) {}

  byte(b: number): void {
    if (this.buf !== undefined) this.buf[this.pos] = b;
    this.pos++;
  }

  uint(n: number): void {
    while (n >= 0x80) {
      this.byte((n % 0x80) | 0x80);
      n = Math.floor(n / 0x80);
    }
    this.byte(n);
  }

  sint(n: number): void {
    this.byte(n < 0 ? 1 : 0);
    this.uint(Math.abs(n));
  }

  raw(b: Uint8Array): void {
    this.buf?.set(b, this.pos);
    this.pos += b.length;
  }

  bytes(b: Uint8Array): void {
    this.uint(b.length);
    this.raw(b);
  }
}

/** Runs `write` to measure, then into a buffer of exactly that size. */
function written(write: (w: Writer) => void): Uint8Array {
  const measure = new Writer(undefined);
  write(measure);
  const out = new Uint8Array(measure.pos);
  write(new Writer(out));
  return out;
}

const utf8Encoder = new TextEncoder();

/** At most what a batch adds to the sum of its txns' encodings: a header, a tag and a count. */
export const WIRE_BATCH_OVERHEAD_BYTES = WIRE_HEADER_BYTES + 1 + MAX_UINT_BYTES;

/**
 * A batch of txns each already encoded by encodeWire as a txn command: the batch's header and
 * count, then each txn's bytes past its header. Byte for byte what encodeWire gives for the batch.
 */
export function encodeWireBatch(encodedTxns: readonly Uint8Array[]): Uint8Array {
  for (const txn of encodedTxns) {
    if (wireTag(txn) !== Tag.txn) throw new RangeError('a batch is built from txn commands in wire format 2');
  }
  return written((w) => {
    w.byte(WIRE_MAGIC);
    w.byte(WIRE_VERSION);
    w.byte(Tag.batch);
    w.uint(encodedTxns.length);
    for (const txn of encodedTxns) w.raw(txn.subarray(WIRE_HEADER_BYTES));
  });
}

/**
 * Encodes a command that validateCommand has already normalized (every field present, every bound
 * checked). Given anything else the bytes may not decode: the caller validates first.
 */
export function encodeWire(command: Command): Uint8Array {
  return written((w) => writeCommand(w, command));
}

function writeCommand(w: Writer, command: Command): void {
  w.byte(WIRE_MAGIC);
  w.byte(WIRE_VERSION);
  switch (command.type) {
    case 'put':
      writePut(w, command);
      break;
    case 'deleteRange':
      writeDelete(w, command);
      break;
    case 'txn':
      writeTxn(w, command);
      break;
    case 'batch':
      w.byte(Tag.batch);
      w.uint(command.txns.length);
      for (const txn of command.txns) writeTxn(w, txn);
      break;
    case 'compact':
      w.byte(Tag.compact);
      w.uint(command.revision);
      break;
    case 'leaseGrant':
      w.byte(Tag.leaseGrant);
      w.uint(command.id);
      w.uint(command.ttl);
      break;
    case 'leaseRevoke':
      w.byte(Tag.leaseRevoke);
      w.uint(command.id);
      break;
    case 'memberPublish':
      w.byte(Tag.memberPublish);
      w.uint(command.id);
      w.bytes(utf8Encoder.encode(command.name));
      w.uint(command.clientUrls.length);
      for (const url of command.clientUrls) w.bytes(utf8Encoder.encode(url));
      break;
  }
}

const EMPTY = new Uint8Array(0);

function writePut(w: Writer, op: PutCommand): void {
  w.byte(Tag.put);
  w.bytes(op.key);
  w.bytes(op.value);
  w.uint(op.lease ?? NO_LEASE);
  w.byte((op.prevKv === true ? PUT_PREV_KV : 0) | (op.ignoreValue === true ? PUT_IGNORE_VALUE : 0) | (op.ignoreLease === true ? PUT_IGNORE_LEASE : 0));
}

function writeDelete(w: Writer, op: DeleteRangeCommand): void {
  w.byte(Tag.deleteRange);
  w.bytes(op.key);
  w.bytes(op.rangeEnd ?? EMPTY);
  w.byte(op.prevKv === true ? DELETE_PREV_KV : 0);
}

function writeRange(w: Writer, op: RangeOp): void {
  w.byte(Tag.range);
  w.bytes(op.key);
  w.bytes(op.rangeEnd ?? EMPTY);
  w.uint(op.revision ?? 0);
  w.uint(op.limit ?? 0);
  w.byte((op.countOnly === true ? RANGE_COUNT_ONLY : 0) | (op.keysOnly === true ? RANGE_KEYS_ONLY : 0));
  w.byte(SORT_ORDER_CODE[op.sortOrder ?? 'none']);
  w.byte(SORT_TARGET_CODE[op.sortTarget ?? 'key']);
  w.uint(op.minModRevision ?? 0);
  w.uint(op.maxModRevision ?? 0);
  w.uint(op.minCreateRevision ?? 0);
  w.uint(op.maxCreateRevision ?? 0);
}

function writeCompare(w: Writer, c: Compare): void {
  w.byte(COMPARE_TARGET_CODE[c.target]);
  w.byte(COMPARE_RESULT_CODE[c.result]);
  w.bytes(c.key);
  w.bytes(c.rangeEnd ?? EMPTY);
  switch (c.target) {
    case 'value':
      w.bytes(c.value);
      break;
    case 'version':
      w.sint(c.version);
      break;
    case 'createRevision':
      w.sint(c.createRevision);
      break;
    case 'modRevision':
      w.sint(c.modRevision);
      break;
    case 'lease':
      w.sint(c.lease);
      break;
  }
}

function writeOp(w: Writer, op: RequestOp): void {
  switch (op.type) {
    case 'range':
      writeRange(w, op);
      break;
    case 'put':
      writePut(w, op);
      break;
    case 'deleteRange':
      writeDelete(w, op);
      break;
    case 'txn':
      writeTxn(w, op);
      break;
  }
}

function writeTxn(w: Writer, txn: { readonly compare: readonly Compare[]; readonly success: readonly RequestOp[]; readonly failure: readonly RequestOp[] }): void {
  w.byte(Tag.txn);
  w.uint(txn.compare.length);
  w.uint(txn.success.length);
  w.uint(txn.failure.length);
  for (const c of txn.compare) writeCompare(w, c);
  for (const op of txn.success) writeOp(w, op);
  for (const op of txn.failure) writeOp(w, op);
}

// ---- Decoding ----

const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Reads one command, checking every bound as it goes. Field names are passed as constants and
 * joined to their parent's path only when an error is thrown.
 */
class Reader {
  private pos = WIRE_HEADER_BYTES;

  constructor(private readonly src: Uint8Array) {}

  fail(parent: string, name: string, reason: string): InvalidCommandError {
    const field = name === '' ? parent : join(parent, name);
    return new InvalidCommandError(field === '' ? ROOT_FIELD : field, reason);
  }

  atEnd(): boolean {
    return this.pos === this.src.length;
  }

  byte(parent: string, name: string): number {
    if (this.pos >= this.src.length) throw this.fail(parent, name, `truncated at byte ${this.pos}`);
    return this.src[this.pos++]!;
  }

  /** A minimal LEB128 in [min, max]. */
  uint(parent: string, name: string, min: number, max: number): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < MAX_UINT_BYTES; i++) {
      const b = this.byte(parent, name);
      value += (b & 0x7f) * scale;
      if (b < 0x80) {
        if (b === 0 && i > 0) throw this.fail(parent, name, 'is not a minimal varint');
        if (!Number.isSafeInteger(value) || value < min || value > max) throw this.fail(parent, name, `must be in [${min}, ${max}], got ${value}`);
        return value;
      }
      scale *= 0x80;
    }
    throw this.fail(parent, name, `is a varint longer than ${MAX_UINT_BYTES} bytes`);
  }

  /** A sign byte and a magnitude; the magnitude at most a safe integer, no negative zero. */
  sint(parent: string, name: string): number {
    const sign = this.byte(parent, name);
    if (sign > 1) throw this.fail(parent, name, `has sign byte ${sign}, not 0 or 1`);
    const magnitude = this.uint(parent, name, sign === 1 ? 1 : 0, Number.MAX_SAFE_INTEGER);
    return sign === 1 ? -magnitude : magnitude;
  }

  /** A copy: the command never aliases the entry's buffer (the watch cache keeps values long). */
  bytes(parent: string, name: string, maxBytes: number, nonEmpty = false): Uint8Array {
    const length = this.uint(parent, name, 0, Number.MAX_SAFE_INTEGER);
    if (nonEmpty && length === 0) throw this.fail(parent, name, 'must not be empty');
    if (length > maxBytes) throw this.fail(parent, name, `is ${length} bytes, more than ${maxBytes}`);
    if (length > this.src.length - this.pos) throw this.fail(parent, name, `is ${length} bytes, but only ${this.src.length - this.pos} remain`);
    // An empty field (most rangeEnds) shares one empty array: it has no bytes to alias or change.
    if (length === 0) return EMPTY;
    const out = new Uint8Array(length);
    out.set(this.src.subarray(this.pos, this.pos + length));
    this.pos += length;
    return out;
  }

  string(parent: string, name: string, maxUnits: number, nonEmpty: boolean): string {
    const raw = this.bytes(parent, name, maxUnits * MAX_UTF8_BYTES_PER_UNIT, nonEmpty);
    let text: string;
    try {
      text = utf8Decoder.decode(raw);
    } catch {
      throw this.fail(parent, name, 'is not UTF-8');
    }
    if (text.length > maxUnits) throw this.fail(parent, name, `must be a string of at most ${maxUnits} characters`);
    return text;
  }

  flags(parent: string, name: string, allowed: number): number {
    const f = this.byte(parent, name);
    if ((f & ~allowed) !== 0) throw this.fail(parent, name, `has unknown flag bits 0x${(f & ~allowed).toString(16)}`);
    return f;
  }

  choice<T>(parent: string, name: string, values: readonly T[]): T {
    const code = this.byte(parent, name);
    const value = values[code];
    if (value === undefined) throw this.fail(parent, name, `has code ${code}, not one of 0..${values.length - 1}`);
    return value;
  }

  key(parent: string): Uint8Array {
    return this.bytes(parent, 'key', MAX_KEY_BYTES, true);
  }

  rangeEnd(parent: string): Uint8Array {
    return this.bytes(parent, 'rangeEnd', MAX_KEY_BYTES);
  }

  revision(parent: string, name: string): number {
    return this.uint(parent, name, 0, Number.MAX_SAFE_INTEGER);
  }

  put(parent: string): PutCommand {
    const key = this.key(parent);
    const value = this.bytes(parent, 'value', MAX_REQUEST_BYTES);
    const lease = this.uint(parent, 'lease', 0, MAX_LEASE_ID);
    const f = this.flags(parent, 'flags', PUT_PREV_KV | PUT_IGNORE_VALUE | PUT_IGNORE_LEASE);
    const ignoreValue = (f & PUT_IGNORE_VALUE) !== 0;
    const ignoreLease = (f & PUT_IGNORE_LEASE) !== 0;
    // etcd: ErrGRPCValueProvided / ErrGRPCLeaseProvided.
    if (ignoreValue && value.length > 0) throw this.fail(parent, 'value', 'must be empty when ignoreValue is set');
    if (ignoreLease && lease !== NO_LEASE) throw this.fail(parent, 'lease', 'must be 0 when ignoreLease is set');
    return { type: 'put', key, value, lease, prevKv: (f & PUT_PREV_KV) !== 0, ignoreValue, ignoreLease };
  }

  deleteRange(parent: string): DeleteRangeCommand {
    const key = this.key(parent);
    const rangeEnd = this.rangeEnd(parent);
    const f = this.flags(parent, 'flags', DELETE_PREV_KV);
    return { type: 'deleteRange', key, rangeEnd, prevKv: (f & DELETE_PREV_KV) !== 0 };
  }

  range(parent: string): RangeOp {
    const key = this.key(parent);
    const rangeEnd = this.rangeEnd(parent);
    const revision = this.revision(parent, 'revision');
    const limit = this.uint(parent, 'limit', 0, Number.MAX_SAFE_INTEGER);
    const f = this.flags(parent, 'flags', RANGE_COUNT_ONLY | RANGE_KEYS_ONLY);
    const sortOrder = this.choice(parent, 'sortOrder', SORT_ORDERS);
    const sortTarget = this.choice(parent, 'sortTarget', SORT_TARGETS);
    return {
      type: 'range',
      key,
      rangeEnd,
      revision,
      limit,
      countOnly: (f & RANGE_COUNT_ONLY) !== 0,
      keysOnly: (f & RANGE_KEYS_ONLY) !== 0,
      sortOrder,
      sortTarget,
      minModRevision: this.revision(parent, 'minModRevision'),
      maxModRevision: this.revision(parent, 'maxModRevision'),
      minCreateRevision: this.revision(parent, 'minCreateRevision'),
      maxCreateRevision: this.revision(parent, 'maxCreateRevision'),
    };
  }

  compare(parent: string): Compare {
    const target = this.choice(parent, 'target', COMPARE_TARGETS);
    const result = this.choice(parent, 'result', COMPARE_RESULTS);
    const key = this.key(parent);
    const rangeEnd = this.rangeEnd(parent);
    // Written out per target (like validateCompare) so that every compare has one shape.
    switch (target) {
      case 'value':
        return { key, rangeEnd, result, target, value: this.bytes(parent, 'value', MAX_REQUEST_BYTES) };
      case 'version':
        return { key, rangeEnd, result, target, version: this.sint(parent, 'version') };
      case 'createRevision':
        return { key, rangeEnd, result, target, createRevision: this.sint(parent, 'createRevision') };
      case 'modRevision':
        return { key, rangeEnd, result, target, modRevision: this.sint(parent, 'modRevision') };
      case 'lease':
        return { key, rangeEnd, result, target, lease: this.sint(parent, 'lease') };
    }
  }

  op(parent: string, depth: number, maxOps: number): RequestOp {
    const tag = this.byte(parent, 'type');
    switch (tag) {
      case Tag.range:
        return this.range(parent);
      case Tag.put:
        return this.put(parent);
      case Tag.deleteRange:
        return this.deleteRange(parent);
      case Tag.txn:
        return this.txn(parent, depth + 1, maxOps);
      default:
        throw this.fail(parent, 'type', `has tag ${tag}, not an operation of a txn`);
    }
  }

  ops(parent: string, name: string, depth: number, count: number, maxOps: number): RequestOp[] {
    if (count === 0) return [];
    const field = join(parent, name);
    const out: RequestOp[] = [];
    for (let i = 0; i < count; i++) out.push(this.op(`${field}[${i}]`, depth, maxOps));
    return out;
  }

  /** etcd's checkTxnRequest: no list longer than maxOps; a nested txn gets what its parent left over. */
  txn(parent: string, depth: number, maxOps: number): TxnCommand {
    if (depth > MAX_TXN_DEPTH) throw this.fail(parent, '', `txns nest more than ${MAX_TXN_DEPTH} deep`);
    const compares = this.uint(parent, 'compare', 0, maxOps);
    const successes = this.uint(parent, 'success', 0, maxOps);
    const failures = this.uint(parent, 'failure', 0, maxOps);
    const nestedMaxOps = maxOps - Math.max(compares, successes, failures);
    const compare: Compare[] = [];
    if (compares > 0) {
      const field = join(parent, 'compare');
      for (let i = 0; i < compares; i++) compare.push(this.compare(`${field}[${i}]`));
    }
    const success = this.ops(parent, 'success', depth, successes, nestedMaxOps);
    const failure = this.ops(parent, 'failure', depth, failures, nestedMaxOps);
    return { type: 'txn', compare, success, failure };
  }

  topTxn(parent: string): TxnCommand {
    const txn = this.txn(parent, 0, MAX_TXN_OPS);
    checkBranchWrites(txn.success, join(parent, 'success'));
    checkBranchWrites(txn.failure, join(parent, 'failure'));
    return txn;
  }

  command(): Command {
    const tag = this.byte('', 'type');
    switch (tag) {
      case Tag.put:
        return this.put('');
      case Tag.deleteRange:
        return this.deleteRange('');
      case Tag.txn:
        return this.topTxn('');
      case Tag.batch: {
        const count = this.uint('', 'txns', 1, MAX_BATCH_TXNS);
        const txns: TxnCommand[] = [];
        for (let i = 0; i < count; i++) {
          const field = `txns[${i}]`;
          const t = this.byte(field, 'type');
          if (t !== Tag.txn) throw this.fail(field, 'type', `has tag ${t}, not a txn`);
          txns.push(this.topTxn(field));
        }
        return { type: 'batch', txns };
      }
      case Tag.compact:
        return { type: 'compact', revision: this.uint('', 'revision', 1, Number.MAX_SAFE_INTEGER) };
      case Tag.leaseGrant: {
        const id = this.uint('', 'id', 1, MAX_LEASE_ID);
        return { type: 'leaseGrant', id, ttl: this.uint('', 'ttl', 1, MAX_LEASE_TTL_SECONDS) };
      }
      case Tag.leaseRevoke:
        return { type: 'leaseRevoke', id: this.uint('', 'id', 1, MAX_LEASE_ID) };
      case Tag.memberPublish: {
        const id = this.uint('', 'id', 1, 0xffff_ffff);
        const name = this.string('', 'name', MAX_MEMBER_NAME_LENGTH, true);
        const count = this.uint('', 'clientUrls', 0, MAX_MEMBER_CLIENT_URLS);
        const clientUrls: string[] = [];
        for (let i = 0; i < count; i++) clientUrls.push(this.string('', `clientUrls[${i}]`, MAX_MEMBER_URL_LENGTH, false));
        return { type: 'memberPublish', id, name, clientUrls };
      }
      default:
        throw this.fail('', 'type', `has tag ${tag}, not a command`);
    }
  }
}

/**
 * Decodes a format-2 command (the caller has checked the size bound and the magic byte). Throws
 * InvalidCommandError naming the first bad field; never anything else.
 */
export function decodeWire(bytes: Uint8Array): Command {
  if (bytes.length < WIRE_HEADER_BYTES || bytes[0] !== WIRE_MAGIC) throw new InvalidCommandError('(bytes)', 'not a format-2 command');
  if (bytes[1] !== WIRE_VERSION) throw new InvalidCommandError('(bytes)', `has wire version ${bytes[1]}, this master reads ${WIRE_VERSION}`);
  const reader = new Reader(bytes);
  const command = reader.command();
  if (!reader.atEnd()) throw new InvalidCommandError('(bytes)', 'has bytes after the command');
  return command;
}
