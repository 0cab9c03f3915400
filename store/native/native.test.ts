import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import type { Backend } from '../backend.js';
import { StoreClientError } from '../client.js';
import { ManualClock } from '../etcd/testing.js';
import { LocalBackend } from '../local-backend.js';
import { jsonLogger } from '../logger.js';
import { type TempStore, openTempStore } from '../mvcc/testing.js';
import { NativeStoreClient } from './client.js';
import { NativeCloseCode, NativeStoreFace, isNativeStoreUpgrade } from './face.js';
import { MAX_PENDING_PER_CONNECTION, NATIVE_STORE_PATH, RequestKind, decodeAnswerFrame, encodeFrame } from './protocol.js';

const TOKEN = 'native-test-token';
const quiet = jsonLogger('test', { write: () => true } as unknown as NodeJS.WritableStream);

interface Served {
  readonly endpoint: string;
  readonly face: NativeStoreFace;
  close(): Promise<void>;
}

async function serve(backend: Backend, opts: { token?: string } = { token: TOKEN }): Promise<Served> {
  const token = opts.token;
  const face = new NativeStoreFace({ backend, logger: quiet, token });
  const http: Server = createServer((_req, res) => res.writeHead(404).end());
  http.on('upgrade', (req, socket, head) => {
    if (isNativeStoreUpgrade(req)) face.handleUpgrade(req, socket, head);
    else socket.destroy();
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const endpoint = `127.0.0.1:${(http.address() as AddressInfo).port}`;
  return {
    endpoint,
    face,
    async close() {
      await face.close();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

/** A backend whose writes and reads never finish (for bounds and deadlines). */
function stuckBackend(): Backend {
  const never = (): Promise<never> => new Promise<never>(() => {});
  return { proposeTxn: never, range: never } as unknown as Backend;
}

async function errorOf(p: Promise<unknown>): Promise<StoreClientError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(StoreClientError);
    return err as StoreClientError;
  }
  throw new Error('expected the call to fail');
}

describe('native store protocol over a LocalBackend', () => {
  let temp: TempStore;
  let backend: LocalBackend;
  let served: Served;
  let client: NativeStoreClient;

  beforeEach(async () => {
    temp = openTempStore('flotilla-native-');
    backend = new LocalBackend({ store: temp.store, clock: new ManualClock(), memberId: 0xabcn, clusterId: 0xcafen, leaseTickMs: 3_600_000 });
    served = await serve(backend);
    client = new NativeStoreClient([served.endpoint], { token: TOKEN, timeoutMs: 5_000 });
  });

  afterEach(async () => {
    client.close();
    await served.close();
    backend.close();
    await temp.dispose();
  });

  test('put, get, delete, compare-and-set and compare-and-put behave as in etcd', async () => {
    const r1 = await client.put('a', '1');
    expect(r1).toBeGreaterThan(1);
    expect((await client.get('a'))?.value.toString()).toBe('1');
    expect((await client.get('a', { serializable: true }))?.version).toBe(1);
    expect(await client.compareAndSet('a', '2', 'x')).toBe(false);
    expect(await client.compareAndSet('a', '1', '2')).toBe(true);
    expect(await client.compareAndSet('new', undefined, 'n')).toBe(true);
    const kv = await client.get('a');
    expect(kv?.value.toString()).toBe('2');
    expect(await client.compareAndPut('a', kv!.modRevision - 1, 'stale')).toBeUndefined();
    const rev = await client.compareAndPut('a', kv!.modRevision, '3');
    expect(rev).toBeGreaterThan(kv!.modRevision);
    expect((await client.get('a'))?.modRevision).toBe(rev);
    await client.delete('a');
    expect(await client.get('a')).toBeUndefined();
  });

  test('concurrent calls of one turn each get their own answer', async () => {
    const revisions = await Promise.all(Array.from({ length: 500 }, (_, i) => client.put(`k/${i}`, String(i))));
    expect(new Set(revisions).size).toBe(500);
    const values = await Promise.all(Array.from({ length: 500 }, (_, i) => client.get(`k/${i}`)));
    expect(values.map((v) => v?.value.toString())).toEqual(Array.from({ length: 500 }, (_, i) => String(i)));
  });

  test('an invalid request is refused alone, naming the field; the connection keeps serving', async () => {
    const ws = new WebSocket(`ws://${served.endpoint}${NATIVE_STORE_PATH}`, { headers: { authorization: `Bearer ${TOKEN}` } });
    await new Promise((resolve) => ws.once('open', resolve));
    const answers = new Promise<ReturnType<typeof decodeAnswerFrame>>((resolve) => ws.once('message', (d) => resolve(decodeAnswerFrame(d as Buffer))));
    ws.send(encodeFrame([
      [1, RequestKind.Txn, { type: 'put', key: 'not-bytes', value: new Uint8Array(1) }],
      [2, RequestKind.Txn, { type: 'compact', revision: 1 }],
      [3, RequestKind.Range, { request: { key: new Uint8Array([0x61]) }, serializable: 'yes' }],
      [4, RequestKind.Txn, { type: 'put', key: new Uint8Array([0x62]), value: new Uint8Array([0x63]) }],
    ]));
    const got = await answers;
    const byId = new Map(got.map((a) => [a.id, a]));
    expect(byId.get(1)?.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(String(byId.get(1)?.body)).toContain('key');
    expect(byId.get(2)?.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(byId.get(3)?.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(String(byId.get(3)?.body)).toContain('serializable');
    // Answers of one turn may come in more than one frame; the valid put is answered too.
    if (!byId.has(4)) {
      const more = await new Promise<ReturnType<typeof decodeAnswerFrame>>((resolve) => ws.once('message', (d) => resolve(decodeAnswerFrame(d as Buffer))));
      for (const a of more) byId.set(a.id, a);
    }
    expect(byId.get(4)?.code).toBe(0);
    ws.terminate();
  });

  test('a frame that does not decode closes that connection only', async () => {
    const ws = new WebSocket(`ws://${served.endpoint}${NATIVE_STORE_PATH}`, { headers: { authorization: `Bearer ${TOKEN}` } });
    await new Promise((resolve) => ws.once('open', resolve));
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    ws.send(Buffer.from([0xc1, 0xff, 0x00]));
    expect(await closed).toBe(NativeCloseCode.BadFrame);
    const text = new WebSocket(`ws://${served.endpoint}${NATIVE_STORE_PATH}`, { headers: { authorization: `Bearer ${TOKEN}` } });
    await new Promise((resolve) => text.once('open', resolve));
    const closedText = new Promise<number>((resolve) => text.once('close', (code) => resolve(code)));
    text.send('[]');
    expect(await closedText).toBe(NativeCloseCode.BadFrame);
    expect(await client.put('still', 'serving')).toBeGreaterThan(0);
  });

  test('a client without the cluster token is refused before the upgrade', async () => {
    const stranger = new NativeStoreClient([served.endpoint], { token: 'wrong', timeoutMs: 2_000 });
    const err = await errorOf(stranger.put('a', '1'));
    expect(err.code).toBe(GrpcStatus.UNAVAILABLE);
    expect(err.message).toContain('401');
    stranger.close();
  });
});

describe('native store protocol bounds', () => {
  let served: Served | undefined;
  afterEach(async () => {
    await served?.close();
    served = undefined;
  });

  test('past MAX_PENDING_PER_CONNECTION a request gets RESOURCE_EXHAUSTED at once', async () => {
    served = await serve(stuckBackend());
    const ws = new WebSocket(`ws://${served.endpoint}${NATIVE_STORE_PATH}`, { headers: { authorization: `Bearer ${TOKEN}` } });
    await new Promise((resolve) => ws.once('open', resolve));
    const answer = new Promise<ReturnType<typeof decodeAnswerFrame>>((resolve) => ws.once('message', (d) => resolve(decodeAnswerFrame(d as Buffer))));
    const put = { type: 'put', key: new Uint8Array([0x61]), value: new Uint8Array(0) };
    for (let sent = 0; sent <= MAX_PENDING_PER_CONNECTION; sent += 4_000) {
      const n = Math.min(4_000, MAX_PENDING_PER_CONNECTION + 1 - sent);
      ws.send(encodeFrame(Array.from({ length: n }, (_, i) => [sent + i + 1, RequestKind.Txn, put])));
    }
    const got = await answer;
    expect(got).toEqual([{ id: MAX_PENDING_PER_CONNECTION + 1, code: GrpcStatus.RESOURCE_EXHAUSTED, body: expect.stringContaining('pending') }]);
    ws.terminate();
  });

  test('a call without an answer fails with DEADLINE_EXCEEDED, an outcome the caller must treat as unknown', async () => {
    served = await serve(stuckBackend(), {});
    const client = new NativeStoreClient([served.endpoint], { timeoutMs: 150 });
    const err = await errorOf(client.put('a', '1'));
    expect(err.message).toContain('no answer within');
    expect(err.code).toBe(GrpcStatus.DEADLINE_EXCEEDED);
    expect(err.outcomeUnknown).toBe(true);
    client.close();
  });

  test('a master that answers garbage fails the calls waiting on it, and the client moves on', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    wss.on('connection', (ws) => ws.on('message', () => ws.send(encodeFrame([[1, 99, 'x']]))));
    await new Promise((resolve) => wss.once('listening', resolve));
    const client = new NativeStoreClient([`127.0.0.1:${(wss.address() as AddressInfo).port}`], { timeoutMs: 2_000 });
    const err = await errorOf(client.put('a', '1'));
    expect(err.code).toBe(GrpcStatus.UNAVAILABLE);
    expect(err.message).toContain('bad answer frame');
    client.close();
    await new Promise((resolve) => wss.close(resolve));
  });

  test('a refused connection fails its calls as unavailable', async () => {
    const s = await serve(stuckBackend());
    const endpoint = s.endpoint;
    await s.close();
    const client = new NativeStoreClient([endpoint], { timeoutMs: 2_000 });
    const err = await errorOf(client.get('a'));
    expect(err.code).toBe(GrpcStatus.UNAVAILABLE);
    client.close();
  });
});
