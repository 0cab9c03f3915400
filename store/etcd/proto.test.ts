// The .proto files' field numbers, checked on the wire: a bare @grpc/grpc-js client sends protobuf
// bytes encoded here by hand, with the field numbers copied from etcd's published API
// (api/etcdserverpb/rpc.proto, api/mvccpb/kv.proto), and decodes the answers by hand. Nothing here
// reads proto/etcd/*.proto, so a wrong number there fails these tests instead of agreeing with itself.

import { Client, type ClientDuplexStream, type ServiceError, credentials, status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type LocalEtcd, startLocalEtcd } from './testing.js';

// A minimal protobuf wire codec: varints (wire type 0) and length-delimited fields (wire type 2)
// are all etcd's API uses.

type Scalar = bigint | number | boolean | string | Uint8Array;
type Entry = readonly [field: number, value: Scalar | readonly Entry[]];

const UINT64 = 1n << 64n;

function varint(value: bigint): number[] {
  let v = value < 0n ? value + UINT64 : value; // int64: two's complement, ten bytes
  const out: number[] = [];
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v !== 0n) byte |= 0x80;
    out.push(byte);
  } while (v !== 0n);
  return out;
}

function encode(entries: readonly Entry[]): Buffer {
  const out: number[] = [];
  for (const [field, value] of entries) {
    if (typeof value === 'bigint' || typeof value === 'number' || typeof value === 'boolean') {
      out.push(...varint(BigInt(field) << 3n), ...varint(BigInt(typeof value === 'boolean' ? Number(value) : value)));
      continue;
    }
    const payload =
      typeof value === 'string' ? Buffer.from(value) : value instanceof Uint8Array ? Buffer.from(value) : encode(value);
    out.push(...varint((BigInt(field) << 3n) | 2n), ...varint(BigInt(payload.length)), ...payload);
  }
  return Buffer.from(out);
}

/** Field number → its values in order: bigint for varints, Buffer for length-delimited. */
type Decoded = Map<number, (bigint | Buffer)[]>;

function decode(buffer: Buffer): Decoded {
  const fields: Decoded = new Map();
  let offset = 0;
  const readVarint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      const byte = buffer[offset++];
      if (byte === undefined) throw new Error('truncated varint');
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7n;
    }
  };
  while (offset < buffer.length) {
    const key = readVarint();
    const field = Number(key >> 3n);
    const wireType = Number(key & 7n);
    let value: bigint | Buffer;
    if (wireType === 0) value = readVarint();
    else if (wireType === 2) {
      const length = Number(readVarint());
      value = buffer.subarray(offset, offset + length);
      offset += length;
    } else throw new Error(`field ${field}: wire type ${wireType} is not used by etcd's API`);
    fields.set(field, [...(fields.get(field) ?? []), value]);
  }
  return fields;
}

/** An int64 field (0 when absent, as proto3 omits zeros). */
function int(m: Decoded, field: number): bigint {
  const value = m.get(field)?.at(-1) ?? 0n;
  if (typeof value !== 'bigint') throw new Error(`field ${field} is not a varint`);
  return value >= 1n << 63n ? value - UINT64 : value;
}

function uint(m: Decoded, field: number): bigint {
  const value = m.get(field)?.at(-1) ?? 0n;
  if (typeof value !== 'bigint') throw new Error(`field ${field} is not a varint`);
  return value;
}

function bytesOf(m: Decoded, field: number): Buffer[] {
  return (m.get(field) ?? []).map((value) => {
    if (!Buffer.isBuffer(value)) throw new Error(`field ${field} is not length-delimited`);
    return value;
  });
}

function text(m: Decoded, field: number): string {
  return bytesOf(m, field).at(-1)?.toString('utf8') ?? '';
}

function messages(m: Decoded, field: number): Decoded[] {
  return bytesOf(m, field).map(decode);
}

function message(m: Decoded, field: number): Decoded {
  const [only] = messages(m, field);
  if (only === undefined) throw new Error(`no message in field ${field}`);
  return only;
}

/** etcd ResponseHeader: cluster_id 1, member_id 2, revision 3, raft_term 4. */
function header(m: Decoded): { clusterId: bigint; memberId: bigint; revision: bigint; raftTerm: bigint } {
  const h = message(m, 1);
  return { clusterId: uint(h, 1), memberId: uint(h, 2), revision: int(h, 3), raftTerm: uint(h, 4) };
}

/** mvccpb.KeyValue: key 1, create_revision 2, mod_revision 3, version 4, value 5, lease 6. */
function keyValue(kv: Decoded): { key: string; create: bigint; mod: bigint; version: bigint; value: string; lease: bigint } {
  return { key: text(kv, 1), create: int(kv, 2), mod: int(kv, 3), version: int(kv, 4), value: text(kv, 5), lease: int(kv, 6) };
}

let etcd: LocalEtcd;
let client: Client;

const identity = (b: Buffer): Buffer => b;

function call(path: string, request: readonly Entry[]): Promise<Decoded> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(path, identity, identity, encode(request), (error: ServiceError | null, response?: Buffer) => {
      if (error !== null) reject(error);
      else resolve(decode(response ?? Buffer.alloc(0)));
    });
  });
}

async function callError(path: string, request: readonly Entry[]): Promise<ServiceError> {
  try {
    await call(path, request);
  } catch (error) {
    return error as ServiceError;
  }
  throw new Error(`${path} should have failed`);
}

/** A bidi stream whose responses are read one at a time. */
class RawStream {
  private readonly responses: Decoded[] = [];
  private waiting: ((m: Decoded) => void) | undefined;
  readonly stream: ClientDuplexStream<Buffer, Buffer>;

  constructor(path: string) {
    this.stream = client.makeBidiStreamRequest(path, identity, identity);
    this.stream.on('data', (chunk: Buffer) => {
      const m = decode(chunk);
      const waiting = this.waiting;
      this.waiting = undefined;
      if (waiting !== undefined) waiting(m);
      else this.responses.push(m);
    });
    this.stream.on('error', () => {});
  }

  send(request: readonly Entry[]): void {
    this.stream.write(encode(request));
  }

  next(): Promise<Decoded> {
    const queued = this.responses.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve) => (this.waiting = resolve));
  }

  close(): void {
    this.stream.cancel();
  }
}

beforeAll(async () => {
  etcd = await startLocalEtcd();
  client = new Client(etcd.endpoint, credentials.createInsecure());
});

afterAll(async () => {
  client.close();
  await etcd.close();
});

describe('etcd v3 field numbers on the wire', () => {
  test('KV: Put, Range, DeleteRange and the response header', async () => {
    // PutRequest: key 1, value 2, lease 3, prev_kv 4.
    const put = await call('/etcdserverpb.KV/Put', [[1, 'f/1'], [2, 'one']]);
    const facts = etcd.backend.header();
    expect(header(put)).toEqual({ clusterId: facts.clusterId, memberId: facts.memberId, revision: 2n, raftTerm: 1n });
    await call('/etcdserverpb.KV/Put', [[1, 'f/2'], [2, 'two']]);
    // PutResponse: prev_kv 2.
    const again = await call('/etcdserverpb.KV/Put', [[1, 'f/1'], [2, 'uno'], [4, true]]);
    expect(keyValue(message(again, 2))).toEqual({ key: 'f/1', create: 2n, mod: 2n, version: 1n, value: 'one', lease: 0n });

    // RangeRequest: key 1, range_end 2, limit 3, sort_order 5 (DESCEND = 2), sort_target 6 (KEY = 0).
    const range = await call('/etcdserverpb.KV/Range', [[1, 'f/'], [2, 'f0'], [3, 1], [5, 2], [6, 0]]);
    // RangeResponse: kvs 2, more 3, count 4.
    expect(messages(range, 2).map(keyValue)).toEqual([{ key: 'f/2', create: 3n, mod: 3n, version: 1n, value: 'two', lease: 0n }]);
    expect(int(range, 3)).toBe(1n);
    expect(int(range, 4)).toBe(2n);
    expect(header(range).revision).toBe(4n);

    // revision 4; keys_only 8; count_only 9; serializable 7.
    const old = await call('/etcdserverpb.KV/Range', [[1, 'f/1'], [4, 2], [7, true]]);
    expect(messages(old, 2).map((kv) => text(kv, 5))).toEqual(['one']);
    const keysOnly = await call('/etcdserverpb.KV/Range', [[1, 'f/'], [2, 'f0'], [8, true]]);
    expect(messages(keysOnly, 2).map((kv) => [text(kv, 1), text(kv, 5)])).toEqual([['f/1', ''], ['f/2', '']]);
    const countOnly = await call('/etcdserverpb.KV/Range', [[1, 'f/'], [2, 'f0'], [9, true]]);
    expect(messages(countOnly, 2)).toEqual([]);
    expect(int(countOnly, 4)).toBe(2n);
    // min_mod_revision 10, max_mod_revision 11, min_create_revision 12, max_create_revision 13.
    const byMod = await call('/etcdserverpb.KV/Range', [[1, 'f/'], [2, 'f0'], [10, 4]]);
    expect(messages(byMod, 2).map((kv) => text(kv, 1))).toEqual(['f/1']);
    const byMaxMod = await call('/etcdserverpb.KV/Range', [[1, 'f/'], [2, 'f0'], [11, 3]]);
    expect(messages(byMaxMod, 2).map((kv) => text(kv, 1))).toEqual(['f/2']);
    const byCreate = await call('/etcdserverpb.KV/Range', [[1, 'f/'], [2, 'f0'], [12, 3]]);
    expect(messages(byCreate, 2).map((kv) => text(kv, 1))).toEqual(['f/2']);
    const byMaxCreate = await call('/etcdserverpb.KV/Range', [[1, 'f/'], [2, 'f0'], [13, 2]]);
    expect(messages(byMaxCreate, 2).map((kv) => text(kv, 1))).toEqual(['f/1']);

    // DeleteRangeRequest: key 1, range_end 2, prev_kv 3. DeleteRangeResponse: deleted 2, prev_kvs 3.
    const deleted = await call('/etcdserverpb.KV/DeleteRange', [[1, 'f/'], [2, 'f0'], [3, true]]);
    expect(int(deleted, 2)).toBe(2n);
    expect(messages(deleted, 3).map((kv) => text(kv, 1))).toEqual(['f/1', 'f/2']);
    expect(header(deleted).revision).toBe(5n);
  });

  test('KV: Txn with every compare target, nested txns, and Compact', async () => {
    await call('/etcdserverpb.KV/Put', [[1, 't'], [2, 'x']]);
    const revision = header(await call('/etcdserverpb.KV/Range', [[1, 't']])).revision;
    // Compare: result 1 (EQUAL 0, GREATER 1, LESS 2, NOT_EQUAL 3), target 2 (VERSION 0, CREATE 1,
    // MOD 2, VALUE 3, LEASE 4), key 3, version 4, create_revision 5, mod_revision 6, value 7, lease 8,
    // range_end 64.
    const compares: Entry[] = [
      [1, [[1, 0], [2, 3], [3, 't'], [7, 'x']]],
      [1, [[1, 0], [2, 0], [3, 't'], [4, 1]]],
      [1, [[1, 0], [2, 1], [3, 't'], [5, revision]]],
      [1, [[1, 0], [2, 2], [3, 't'], [6, revision]]],
      [1, [[1, 0], [2, 4], [3, 't'], [8, 0]]],
      [1, [[1, 3], [2, 3], [3, 'a'], [64, 'z'], [7, 'nope']]],
    ];
    // TxnRequest: compare 1, success 2, failure 3. RequestOp: request_range 1, request_put 2,
    // request_delete_range 3, request_txn 4.
    const txn = await call('/etcdserverpb.KV/Txn', [
      ...compares,
      [2, [[2, [[1, 't'], [2, 'y']]]]],
      [2, [[1, [[1, 't']]]]],
      [2, [[4, [[1, [[1, 0], [2, 3], [3, 't'], [7, 'nope']]], [3, [[3, [[1, 'gone']]]]]]]]],
      [3, [[2, [[1, 'failed'], [2, '!']]]]],
    ]);
    // TxnResponse: succeeded 2, responses 3. ResponseOp: response_range 1, response_put 2,
    // response_delete_range 3, response_txn 4.
    expect(int(txn, 2)).toBe(1n);
    const [putOp, rangeOp, txnOp] = messages(txn, 3);
    expect(header(message(putOp ?? new Map(), 2)).revision).toBe(revision + 1n);
    expect(messages(message(rangeOp ?? new Map(), 1), 2).map(keyValue)[0]).toMatchObject({ key: 't', value: 'y' });
    const nested = message(txnOp ?? new Map(), 4);
    expect(int(nested, 2)).toBe(0n);
    expect(int(message(message(nested, 3), 3), 2)).toBe(0n);

    // CompactionRequest: revision 1, physical 2.
    const compacted = await call('/etcdserverpb.KV/Compact', [[1, revision], [2, true]]);
    expect(header(compacted).revision).toBe(revision + 1n);
    const error = await callError('/etcdserverpb.KV/Range', [[1, 't'], [4, revision - 1n]]);
    expect(error.code).toBe(status.OUT_OF_RANGE);
    expect(error.details).toBe('etcdserver: mvcc: required revision has been compacted');
  });

  test('Lease: Grant, TimeToLive, Leases, KeepAlive, Revoke', async () => {
    // LeaseGrantRequest: TTL 1, ID 2. LeaseGrantResponse: ID 2, TTL 3, error 4.
    const grant = await call('/etcdserverpb.Lease/LeaseGrant', [[1, 30], [2, 4660]]);
    expect([int(grant, 2), int(grant, 3), text(grant, 4)]).toEqual([4660n, 30n, '']);
    await call('/etcdserverpb.KV/Put', [[1, 'leased'], [2, 'v'], [3, 4660]]);
    expect(keyValue(message(await call('/etcdserverpb.KV/Range', [[1, 'leased']]), 2)).lease).toBe(4660n);

    // LeaseTimeToLiveRequest: ID 1, keys 2. Response: ID 2, TTL 3, grantedTTL 4, keys 5.
    const ttl = await call('/etcdserverpb.Lease/LeaseTimeToLive', [[1, 4660], [2, true]]);
    expect(int(ttl, 2)).toBe(4660n);
    expect(int(ttl, 3)).toBeGreaterThanOrEqual(29n);
    expect(int(ttl, 4)).toBe(30n);
    expect(bytesOf(ttl, 5).map((k) => k.toString())).toEqual(['leased']);
    const missing = await call('/etcdserverpb.Lease/LeaseTimeToLive', [[1, 999]]);
    expect(int(missing, 3)).toBe(-1n);

    // LeaseLeasesResponse: leases 2, LeaseStatus: ID 1.
    const leases = await call('/etcdserverpb.Lease/LeaseLeases', []);
    expect(messages(leases, 2).map((l) => int(l, 1))).toEqual([4660n]);

    // LeaseKeepAliveRequest: ID 1. LeaseKeepAliveResponse: header 1, ID 2, TTL 3.
    const keepAlive = new RawStream('/etcdserverpb.Lease/LeaseKeepAlive');
    try {
      keepAlive.send([[1, 4660]]);
      keepAlive.send([[1, 999]]);
      const alive = await keepAlive.next();
      expect([int(alive, 2), int(alive, 3)]).toEqual([4660n, 30n]);
      expect(header(alive).memberId).toBe(etcd.backend.header().memberId);
      const unknown = await keepAlive.next();
      expect([int(unknown, 2), int(unknown, 3)]).toEqual([999n, 0n]);
    } finally {
      keepAlive.close();
    }

    // LeaseRevokeRequest: ID 1.
    await call('/etcdserverpb.Lease/LeaseRevoke', [[1, 4660]]);
    expect(messages(await call('/etcdserverpb.KV/Range', [[1, 'leased']]), 2)).toEqual([]);
    const revokeAgain = await callError('/etcdserverpb.Lease/LeaseRevoke', [[1, 4660]]);
    expect([revokeAgain.code, revokeAgain.details]).toEqual([status.NOT_FOUND, 'etcdserver: requested lease not found']);
  });

  test('Watch: create, events with prev_kv, cancel, progress, compacted', async () => {
    const stream = new RawStream('/etcdserverpb.Watch/Watch');
    try {
      // WatchRequest: create_request 1, cancel_request 2, progress_request 3. WatchCreateRequest:
      // key 1, range_end 2, start_revision 3, progress_notify 4, filters 5, prev_kv 6, watch_id 7.
      stream.send([[1, [[1, 'w'], [2, 'x'], [6, true], [7, 5]]]]);
      // WatchResponse: header 1, watch_id 2, created 3, canceled 4, compact_revision 5,
      // cancel_reason 6, fragment 7, events 11.
      const created = await stream.next();
      expect([int(created, 2), int(created, 3)]).toEqual([5n, 1n]);
      await call('/etcdserverpb.KV/Put', [[1, 'w1'], [2, 'a']]);
      await call('/etcdserverpb.KV/Put', [[1, 'w1'], [2, 'b']]);
      await call('/etcdserverpb.KV/DeleteRange', [[1, 'w1']]);
      const events: Decoded[] = [];
      while (events.length < 3) {
        const response = await stream.next();
        expect(int(response, 2)).toBe(5n);
        events.push(...messages(response, 11));
      }
      // Event: type 1 (PUT 0, DELETE 1), kv 2, prev_kv 3.
      expect(events.map((e) => int(e, 1))).toEqual([0n, 0n, 1n]);
      expect(keyValue(message(events[1] ?? new Map(), 2)).value).toBe('b');
      expect(keyValue(message(events[1] ?? new Map(), 3)).value).toBe('a');
      expect(keyValue(message(events[2] ?? new Map(), 3)).value).toBe('b');

      // WatchCancelRequest: watch_id 1.
      stream.send([[2, [[1, 5]]]]);
      const canceled = await stream.next();
      expect([int(canceled, 2), int(canceled, 4)]).toEqual([5n, 1n]);

      // WatchProgressRequest: empty. The answer belongs to no watcher: watch_id -1.
      stream.send([[3, []]]);
      const progress = await stream.next();
      expect(int(progress, 2)).toBe(-1n);
      expect(header(progress).revision).toBe(header(await call('/etcdserverpb.KV/Range', [[1, 'w1']])).revision);

      const current = header(await call('/etcdserverpb.KV/Range', [[1, 'w1']])).revision;
      await call('/etcdserverpb.KV/Compact', [[1, current]]);
      stream.send([[1, [[1, 'w1'], [3, 1]]]]);
      const createdLate = await stream.next();
      expect(int(createdLate, 3)).toBe(1n);
      const compacted = await stream.next();
      expect([int(compacted, 2), int(compacted, 4), int(compacted, 5)]).toEqual([int(createdLate, 2), 1n, current]);
      expect(text(compacted, 6)).toBe('etcdserver: mvcc: required revision has been compacted');
    } finally {
      stream.close();
    }
  });

  test('Cluster: MemberList, MemberAdd, MemberRemove, MemberPromote', async () => {
    // MemberListResponse: members 2. Member: ID 1, name 2, peerURLs 3, clientURLs 4, isLearner 5.
    const list = await call('/etcdserverpb.Cluster/MemberList', [[1, true]]);
    const [self] = messages(list, 2);
    expect(uint(self ?? new Map(), 1)).toBe(etcd.backend.header().memberId);
    expect(text(self ?? new Map(), 2)).toBe('flotilla');
    expect(bytesOf(self ?? new Map(), 4).map(String)).toEqual([`http://${etcd.endpoint}`]);
    // Cluster responses carry no revision, as etcd's.
    expect(header(list).revision).toBe(0n);

    // MemberAddRequest: peerURLs 1, isLearner 2. MemberAddResponse: member 2, members 3.
    const added = await call('/etcdserverpb.Cluster/MemberAdd', [[1, 'http://127.0.0.1:1'], [2, true]]);
    const member = message(added, 2);
    expect([text(member, 3), int(member, 5)]).toEqual(['http://127.0.0.1:1', 1n]);
    expect(messages(added, 3)).toHaveLength(2);
    // MemberPromoteRequest: ID 1.
    const promote = await callError('/etcdserverpb.Cluster/MemberPromote', [[1, uint(member, 1)]]);
    expect(promote.details).toBe('etcdserver: can only promote a learner member which is in sync with leader');
    // MemberRemoveRequest: ID 1. MemberRemoveResponse: members 2.
    const removed = await call('/etcdserverpb.Cluster/MemberRemove', [[1, uint(member, 1)]]);
    expect(messages(removed, 2)).toHaveLength(1);
  });

  test('Maintenance: Status; other methods UNIMPLEMENTED', async () => {
    // StatusResponse: version 2, dbSize 3, leader 4, raftIndex 5, raftTerm 6, raftAppliedIndex 7,
    // errors 8, dbSizeInUse 9, isLearner 10.
    const statusResponse = await call('/etcdserverpb.Maintenance/Status', []);
    expect(text(statusResponse, 2)).toBe('3.5.0');
    expect(int(statusResponse, 3)).toBeGreaterThan(0n);
    expect(uint(statusResponse, 4)).toBe(etcd.backend.header().memberId);
    expect(uint(statusResponse, 5)).toBeGreaterThan(0n);
    expect(uint(statusResponse, 6)).toBe(1n);
    expect(uint(statusResponse, 7)).toBe(uint(statusResponse, 5));
    expect(int(statusResponse, 9)).toBeGreaterThan(0n);
    for (const method of ['Defragment', 'Hash', 'HashKV', 'MoveLeader', 'Downgrade']) {
      const error = await callError(`/etcdserverpb.Maintenance/${method}`, []);
      expect(error.code, method).toBe(status.UNIMPLEMENTED);
    }
  });
});
