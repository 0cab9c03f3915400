// The face through a gRPC client built from our .proto (field numbers are proto.test.ts's concern):
// request validation and etcd's error statuses, and the stream behaviours etcdctl does not reach
// (several watchers on one stream, client-chosen watch ids, progress, filters, keep-alive streams).

import {
  Client,
  type ClientDuplexStream,
  type ServiceDefinition,
  type ServiceError,
  credentials,
  status,
} from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { MAX_REQUEST_BYTES } from '../mvcc/commands.js';
import { DUPLICATE_WATCH_ID_REASON } from './errors.js';
import { etcdServices } from './proto.js';
import { MAX_RECEIVE_MESSAGE_BYTES, startEtcdServer } from './server.js';
import { type LocalEtcd, sleep, startLocalEtcd } from './testing.js';

type Message = Record<string, unknown>;
type ServiceName = 'KV' | 'Watch' | 'Lease' | 'Cluster' | 'Maintenance';

let etcd: LocalEtcd;
let client: Client;

function method(service: ServiceName, name: string): ServiceDefinition[string] {
  const found = etcdServices()[service][name];
  if (found === undefined) throw new Error(`no method ${service}.${name}`);
  return found;
}

function call(service: ServiceName, name: string, request: Message): Promise<Message> {
  const m = method(service, name);
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(m.path, m.requestSerialize, m.responseDeserialize, request, (error: ServiceError | null, response?: unknown) => {
      if (error !== null) reject(error);
      else resolve(response as Message);
    });
  });
}

async function failure(service: ServiceName, name: string, request: Message): Promise<{ code: number; details: string }> {
  try {
    await call(service, name, request);
  } catch (error) {
    const { code, details } = error as ServiceError;
    return { code, details };
  }
  throw new Error(`${service}.${name} should have failed`);
}

class Stream {
  private readonly responses: Message[] = [];
  private waiting: ((m: Message) => void) | undefined;
  readonly stream: ClientDuplexStream<Message, Message>;
  ended = false;
  error: ServiceError | undefined;

  constructor(service: ServiceName, name: string) {
    const m = method(service, name);
    this.stream = client.makeBidiStreamRequest(m.path, m.requestSerialize, m.responseDeserialize);
    this.stream.on('data', (response: Message) => {
      const waiting = this.waiting;
      this.waiting = undefined;
      if (waiting !== undefined) waiting(response);
      else this.responses.push(response);
    });
    this.stream.on('end', () => (this.ended = true));
    this.stream.on('error', (error: ServiceError) => (this.error = error));
  }

  send(request: Message): void {
    this.stream.write(request);
  }

  next(timeoutMs = 5_000): Promise<Message> {
    const queued = this.responses.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no response in time')), timeoutMs);
      this.waiting = (m) => {
        clearTimeout(timer);
        resolve(m);
      };
    });
  }

  /** Nothing arrives within ms. */
  async quiet(ms: number): Promise<void> {
    await sleep(ms);
    expect(this.responses).toEqual([]);
  }

  close(): void {
    this.stream.cancel();
  }
}

const bytes = (text: string): Buffer => Buffer.from(text);
const str = (value: unknown): string => (Buffer.isBuffer(value) ? value.toString('utf8') : String(value));

function events(response: Message): { type: string; key: string; value: string; prev: string | undefined }[] {
  return (response['events'] as Message[]).map((event) => {
    const kv = event['kv'] as Message;
    const prev = event['prev_kv'] as Message | null;
    return { type: String(event['type']), key: str(kv['key']), value: str(kv['value']), prev: prev === null ? undefined : str(prev['value']) };
  });
}

beforeAll(async () => {
  etcd = await startLocalEtcd({ progressNotifyIntervalMs: 100 });
  client = new Client(etcd.endpoint, credentials.createInsecure());
});

afterAll(async () => {
  client.close();
  await etcd.close();
});

describe('request validation and etcd error statuses', () => {
  const { INVALID_ARGUMENT, OUT_OF_RANGE, NOT_FOUND, FAILED_PRECONDITION, UNIMPLEMENTED } = status;
  const nested = (depth: number): Message =>
    depth === 0 ? { request_put: { key: bytes('deep') } } : { request_txn: { success: [nested(depth - 1)] } };
  const cases: [string, ServiceName, string, Message, number, string | RegExp][] = [
    ['empty key', 'KV', 'Put', { key: bytes('') }, INVALID_ARGUMENT, 'etcdserver: key is not provided'],
    ['key too long', 'KV', 'Put', { key: Buffer.alloc(961, 97) }, INVALID_ARGUMENT, /^etcdserver: invalid argument: key: is 961 bytes/],
    ['negative lease', 'KV', 'Put', { key: bytes('k'), lease: '-1' }, INVALID_ARGUMENT, /: lease: must not be negative$/],
    ['lease past safe ids', 'KV', 'Put', { key: bytes('k'), lease: '9007199254740993' }, NOT_FOUND, 'etcdserver: requested lease not found'],
    ['ignore_value with a value', 'KV', 'Put', { key: bytes('k'), value: bytes('v'), ignore_value: true }, INVALID_ARGUMENT, 'etcdserver: value is provided'],
    ['ignore_lease with a lease', 'KV', 'Put', { key: bytes('k'), lease: 5, ignore_lease: true }, INVALID_ARGUMENT, 'etcdserver: lease is provided'],
    ['ignore_value on a missing key', 'KV', 'Put', { key: bytes('absent'), ignore_value: true }, INVALID_ARGUMENT, 'etcdserver: key not found'],
    ['unknown sort order', 'KV', 'Range', { key: bytes('k'), sort_order: 7 }, INVALID_ARGUMENT, /: sort_order: must be one of NONE, ASCEND, DESCEND, got 7$/],
    ['negative filter', 'KV', 'Range', { key: bytes('k'), min_mod_revision: '-1' }, INVALID_ARGUMENT, /: min_mod_revision: must be in/],
    ['huge revision', 'KV', 'Range', { key: bytes('k'), revision: '9223372036854775807' }, OUT_OF_RANGE, 'etcdserver: mvcc: required revision is a future revision'],
    ['empty delete key', 'KV', 'DeleteRange', { key: bytes('') }, INVALID_ARGUMENT, 'etcdserver: key is not provided'],
    ['op without request', 'KV', 'Txn', { success: [{}] }, INVALID_ARGUMENT, /: success\[0\]: sets none of request_range/],
    ['op with empty key', 'KV', 'Txn', { failure: [{ request_range: { key: bytes('') } }] }, INVALID_ARGUMENT, 'etcdserver: key is not provided'],
    [
      'too many compares',
      'KV',
      'Txn',
      { compare: Array.from({ length: 129 }, () => ({ key: bytes('k'), target: 'VERSION' })) },
      INVALID_ARGUMENT,
      'etcdserver: too many operations in txn request',
    ],
    [
      'nested ops over the budget',
      'KV',
      'Txn',
      {
        success: [
          ...Array.from({ length: 100 }, (_, i) => ({ request_range: { key: bytes(`r${i}`) } })),
          { request_txn: { success: Array.from({ length: 29 }, (_, i) => ({ request_range: { key: bytes(`n${i}`) } })) } },
        ],
      },
      INVALID_ARGUMENT,
      'etcdserver: too many operations in txn request',
    ],
    [
      'duplicate put',
      'KV',
      'Txn',
      { success: [{ request_put: { key: bytes('d') } }, { request_put: { key: bytes('d') } }] },
      INVALID_ARGUMENT,
      'etcdserver: duplicate key given in txn request',
    ],
    [
      'compare operand past safe integers',
      'KV',
      'Txn',
      { compare: [{ key: bytes('k'), target: 'VERSION', version: '9007199254740993' }] },
      INVALID_ARGUMENT,
      /: compare\[0\]\.version: must be in/,
    ],
    ['txns nested too deep', 'KV', 'Txn', { success: [nested(17)] }, INVALID_ARGUMENT, /txns nest more than 16 deep$/],
    ['compact at 0', 'KV', 'Compact', { revision: 0 }, OUT_OF_RANGE, 'etcdserver: mvcc: required revision has been compacted'],
    ['TTL too large', 'Lease', 'LeaseGrant', { TTL: '9000000001' }, OUT_OF_RANGE, 'etcdserver: too large lease TTL'],
    ['negative lease id', 'Lease', 'LeaseGrant', { TTL: 10, ID: '-5' }, INVALID_ARGUMENT, /: ID: must not be negative$/],
    ['lease id past safe ids', 'Lease', 'LeaseGrant', { TTL: 10, ID: '9007199254740992' }, INVALID_ARGUMENT, /: ID: must be at most 9007199254740991/],
    ['revoke of lease 0', 'Lease', 'LeaseRevoke', { ID: 0 }, NOT_FOUND, 'etcdserver: requested lease not found'],
    ['bad peer URL', 'Cluster', 'MemberAdd', { peerURLs: ['ftp://127.0.0.1:1'], isLearner: true }, INVALID_ARGUMENT, 'etcdserver: given member URLs are invalid'],
    ['peer URL with a path', 'Cluster', 'MemberAdd', { peerURLs: ['http://127.0.0.1:1/x'], isLearner: true }, INVALID_ARGUMENT, 'etcdserver: given member URLs are invalid'],
    ['no peer URL', 'Cluster', 'MemberAdd', { peerURLs: [], isLearner: true }, INVALID_ARGUMENT, 'etcdserver: given member URLs are invalid'],
    [
      'a voter that cannot start',
      'Cluster',
      'MemberAdd',
      { peerURLs: ['http://127.0.0.1:2'] },
      FAILED_PRECONDITION,
      'etcdserver: re-configuration failed due to not enough started members',
    ],
    ['remove of an unknown member', 'Cluster', 'MemberRemove', { ID: '18446744073709551615' }, NOT_FOUND, 'etcdserver: member not found'],
    ['member update', 'Cluster', 'MemberUpdate', { ID: 1 }, UNIMPLEMENTED, /./],
    ['alarm activation', 'Maintenance', 'Alarm', { action: 'ACTIVATE', alarm: 'NOSPACE' }, UNIMPLEMENTED, /Flotilla raises no alarms/],
    ['defragment', 'Maintenance', 'Defragment', {}, UNIMPLEMENTED, /./],
  ];

  test.each(cases)('%s', async (_, service, name, request, code, details) => {
    const error = await failure(service, name, request);
    expect(error.code).toBe(code);
    if (typeof details === 'string') expect(error.details).toBe(details);
    else expect(error.details).toMatch(details);
  });

  test('a lease id already granted', async () => {
    await call('Lease', 'LeaseGrant', { TTL: 10, ID: 77 });
    expect(await failure('Lease', 'LeaseGrant', { TTL: 10, ID: 77 })).toEqual({
      code: FAILED_PRECONDITION,
      details: 'etcdserver: lease already exists',
    });
  });

  test('request size: over the log bound is "request is too large"; over the gRPC bound is refused by gRPC', async () => {
    const tooLarge = await failure('KV', 'Put', { key: bytes('big'), value: Buffer.alloc(MAX_REQUEST_BYTES, 1) });
    expect(tooLarge).toEqual({ code: INVALID_ARGUMENT, details: 'etcdserver: request is too large' });
    const oversized = await failure('KV', 'Put', { key: bytes('big'), value: Buffer.alloc(MAX_RECEIVE_MESSAGE_BYTES + 1, 1) });
    expect(oversized.code).toBe(status.RESOURCE_EXHAUSTED);
  });

  test('bytes that are no protobuf message get an error status, and the server carries on', async () => {
    const garbage = await new Promise<ServiceError | null>((resolve) => {
      client.makeUnaryRequest(
        method('KV', 'Put').path,
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]),
        (error: ServiceError | null) => resolve(error),
      );
    });
    expect(garbage?.code).toBeDefined();
    expect(garbage?.code).not.toBe(status.OK);
    await call('KV', 'Put', { key: bytes('after-garbage'), value: bytes('ok') });
  });

  test('the endpoint refuses to listen beyond loopback', async () => {
    await expect(startEtcdServer({ backend: etcd.backend, host: '0.0.0.0' })).rejects.toThrow(/loopback only/);
  });
});

describe('KV reads', () => {
  test('count_only, keys_only and serializable', async () => {
    await call('KV', 'Put', { key: bytes('cnt/1'), value: bytes('a') });
    await call('KV', 'Put', { key: bytes('cnt/2'), value: bytes('b') });
    const counted = await call('KV', 'Range', { key: bytes('cnt/'), range_end: bytes('cnt0'), count_only: true });
    expect([counted['count'], counted['kvs']]).toEqual(['2', []]);
    const keys = await call('KV', 'Range', { key: bytes('cnt/'), range_end: bytes('cnt0'), keys_only: true, serializable: true });
    expect((keys['kvs'] as Message[]).map((kv) => [str(kv['key']), str(kv['value'])])).toEqual([
      ['cnt/1', ''],
      ['cnt/2', ''],
    ]);
  });
});

describe('Watch streams', () => {
  test('several watchers on one stream, each with its own id; cancel stops one', async () => {
    const stream = new Stream('Watch', 'Watch');
    try {
      stream.send({ create_request: { key: bytes('m/a') } });
      stream.send({ create_request: { key: bytes('m/'), range_end: bytes('m0'), prev_kv: true } });
      const first = await stream.next();
      const second = await stream.next();
      expect([first['watch_id'], first['created'], second['watch_id'], second['created']]).toEqual(['0', true, '1', true]);

      await call('KV', 'Put', { key: bytes('m/a'), value: bytes('1') });
      await call('KV', 'Put', { key: bytes('m/b'), value: bytes('2') });
      const received = new Map<string, ReturnType<typeof events>>();
      while ((received.get('0')?.length ?? 0) < 1 || (received.get('1')?.length ?? 0) < 2) {
        const response = await stream.next();
        const id = String(response['watch_id']);
        received.set(id, [...(received.get(id) ?? []), ...events(response)]);
      }
      expect(received.get('0')).toEqual([{ type: 'PUT', key: 'm/a', value: '1', prev: undefined }]);
      expect(received.get('1')?.map((e) => e.key)).toEqual(['m/a', 'm/b']);

      stream.send({ cancel_request: { watch_id: 1 } });
      const canceled = await stream.next();
      expect([canceled['watch_id'], canceled['canceled']]).toEqual(['1', true]);
      // A cancel of an id not on the stream is answered with nothing (as etcd).
      stream.send({ cancel_request: { watch_id: 42 } });
      await call('KV', 'Put', { key: bytes('m/a'), value: bytes('3') });
      const after = await stream.next();
      expect([after['watch_id'], events(after).map((e) => e.value)]).toEqual(['0', ['3']]);
      await stream.quiet(100);
    } finally {
      stream.close();
    }
  });

  test('client-chosen ids; a duplicate id and a malformed create are refused without ending the stream', async () => {
    const stream = new Stream('Watch', 'Watch');
    try {
      stream.send({ create_request: { key: bytes('c/1'), watch_id: 7 } });
      expect((await stream.next())['watch_id']).toBe('7');
      stream.send({ create_request: { key: bytes('c/1'), watch_id: 7 } });
      const duplicate = await stream.next();
      expect([duplicate['watch_id'], duplicate['created'], duplicate['canceled'], duplicate['cancel_reason']]).toEqual([
        '-1',
        true,
        true,
        DUPLICATE_WATCH_ID_REASON,
      ]);
      stream.send({ create_request: { key: bytes('c/1'), start_revision: '-4' } });
      const malformed = await stream.next();
      expect([malformed['watch_id'], malformed['canceled']]).toEqual(['-1', true]);
      expect(malformed['cancel_reason']).toMatch(/^etcdserver: invalid argument: create_request\.start_revision: must be in/);
      // Auto ids skip the ones in use.
      stream.send({ create_request: { key: bytes('c/2') } });
      expect((await stream.next())['watch_id']).toBe('0');
      await call('KV', 'Put', { key: bytes('c/1'), value: bytes('x') });
      const event = await stream.next();
      expect([event['watch_id'], events(event).map((e) => e.key)]).toEqual(['7', ['c/1']]);
    } finally {
      stream.close();
    }
  });

  test('an empty key with range_end "\\0" watches every key; NOPUT filters puts', async () => {
    const stream = new Stream('Watch', 'Watch');
    try {
      stream.send({ create_request: { key: bytes(''), range_end: Buffer.from([0]), filters: ['NOPUT'] } });
      await stream.next();
      await call('KV', 'Put', { key: bytes('any/key'), value: bytes('v') });
      await call('KV', 'DeleteRange', { key: bytes('any/key') });
      const response = await stream.next();
      expect(events(response)).toEqual([{ type: 'DELETE', key: 'any/key', value: '', prev: undefined }]);
    } finally {
      stream.close();
    }
  });

  test('progress: on request (watch_id -1) and for progress_notify watchers when idle', async () => {
    const stream = new Stream('Watch', 'Watch');
    try {
      stream.send({ create_request: { key: bytes('p/1'), progress_notify: true } });
      const created = await stream.next();
      stream.send({ progress_request: {} });
      // Idle responses for the progress_notify watcher may come first (the backend's interval is 100 ms).
      let requested: Message | undefined;
      let notified: Message | undefined;
      while (requested === undefined || notified === undefined) {
        const response = await stream.next();
        if (response['watch_id'] === '-1') requested = response;
        else notified = response;
      }
      const current = String(etcd.backend.header().revision);
      expect((requested['header'] as Message)['revision']).toBe(current);
      expect([notified['watch_id'], notified['events'], (notified['header'] as Message)['revision']]).toEqual([
        created['watch_id'],
        [],
        current,
      ]);
    } finally {
      stream.close();
    }
  });

  test('closing the stream ends its watchers', async () => {
    // The streams of earlier tests are closing too.
    for (let i = 0; i < 100 && etcd.backend.watcherCount > 0; i++) await sleep(20);
    const before = etcd.backend.watcherCount;
    expect(before).toBe(0);
    const stream = new Stream('Watch', 'Watch');
    stream.send({ create_request: { key: bytes('gone') } });
    await stream.next();
    expect(etcd.backend.watcherCount).toBe(before + 1);
    stream.close();
    for (let i = 0; i < 100 && etcd.backend.watcherCount > before; i++) await sleep(20);
    expect(etcd.backend.watcherCount).toBe(before);
  });
});

describe('LeaseKeepAlive streams', () => {
  test('answers in order, TTL 0 for an unknown lease, and ends with OK on half-close', async () => {
    const grant = await call('Lease', 'LeaseGrant', { TTL: 40 });
    const stream = new Stream('Lease', 'LeaseKeepAlive');
    stream.send({ ID: grant['ID'] as string });
    stream.send({ ID: '-3' });
    stream.send({ ID: grant['ID'] as string });
    stream.stream.end();
    const answers = [await stream.next(), await stream.next(), await stream.next()];
    expect(answers.map((a) => [a['ID'], a['TTL']])).toEqual([
      [grant['ID'], '40'],
      ['-3', '0'],
      [grant['ID'], '40'],
    ]);
    for (let i = 0; i < 100 && !stream.ended; i++) await sleep(20);
    expect(stream.ended).toBe(true);
    expect(stream.error).toBeUndefined();
  });
});
