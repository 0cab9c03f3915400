// Calls end to end over real WebSockets on loopback: results, statuses, cancellation, deadlines.

import protobuf from 'protobufjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RpcClient } from './client.js';
import { RpcError, StatusCode } from './status.js';
import { startLoopbackRpcServer, type LoopbackRpcServer } from './test-server.js';
import { serverStreamMethod, unaryMethod } from './typed.js';

const enc = new TextEncoder();
const dec = new TextDecoder();
const text = (s: string): Uint8Array => enc.encode(s);

const root = protobuf.parse('syntax = "proto3"; package t; message Echo { string text = 1; uint32 n = 2; }').root;
const EchoType = root.lookupType('t.Echo');
interface Echo {
  text: string;
  n: number;
}
const typedEcho = unaryMethod<Echo, Echo>('t.Echo/Typed', EchoType, EchoType);
const typedCount = serverStreamMethod<Echo, Echo>('t.Echo/TypedCount', EchoType, EchoType);

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

async function rejection(p: Promise<unknown>): Promise<RpcError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof RpcError) return err;
    throw err;
  }
  throw new Error('expected a rejection');
}

async function collect(it: AsyncIterable<Uint8Array>): Promise<string[]> {
  const out: string[] = [];
  for await (const m of it) out.push(dec.decode(m));
  return out;
}

describe('RPC calls', () => {
  let server: LoopbackRpcServer;
  let client: RpcClient;
  const errors: string[] = [];
  let sleepAborted = deferred<unknown>();
  let hangAborted = deferred<unknown>();

  beforeAll(async () => {
    server = await startLoopbackRpcServer({ logger: { info: () => {}, warn: () => {}, error: (msg) => errors.push(msg) } });
    server.rpc
      .unary('t.Echo/Echo', async (payload, ctx) => text(`${ctx.principal.name}:${dec.decode(payload)}`))
      .unary('t.Echo/Delayed', async (payload) => {
        await new Promise((r) => setTimeout(r, Math.random() * 5));
        return payload;
      })
      .unary('t.Echo/Sleep', (_payload, ctx) => {
        return new Promise((resolve) => {
          ctx.signal.addEventListener('abort', () => {
            sleepAborted.resolve(ctx.signal.reason);
            // A late result must be discarded, not sent after the end.
            resolve(text('too late'));
          });
        });
      })
      .unary('t.Echo/Invalid', async () => {
        throw new RpcError(StatusCode.INVALID_ARGUMENT, 'the pod is invalid', {
          reason: 'Invalid',
          violations: [
            { field: 'spec.containers[0].image', description: 'must not be empty' },
            { field: 'metadata.name', description: 'must be a DNS label' },
          ],
          metadata: { kind: 'Pod' },
        });
      })
      .unary('t.Echo/Boom', async () => {
        throw new Error('secret internal detail');
      })
      .serverStream('t.Echo/Count', async (payload, _ctx, stream) => {
        const n = Number(dec.decode(payload));
        for (let i = 0; i < n; i++) {
          while (!stream.send(text(String(i)))) {
            if (!(await stream.drained())) return;
          }
        }
      })
      .serverStream('t.Echo/CountThenFail', async (_payload, _ctx, stream) => {
        stream.send(text('a'));
        stream.send(text('b'));
        throw new RpcError(StatusCode.RESOURCE_EXHAUSTED, 'too slow, resume from b', { reason: 'Expired' });
      })
      .serverStream('t.Echo/Hang', async (_payload, ctx, stream) => {
        stream.send(text('started'));
        await new Promise<void>((resolve) =>
          ctx.signal.addEventListener('abort', () => {
            hangAborted.resolve(ctx.signal.reason);
            resolve();
          }),
        );
        expect(stream.send(text('after cancel'))).toBe(false);
      })
      .unaryTyped(typedEcho, async (req) => ({ text: req.text.toUpperCase(), n: req.n + 1 }))
      .serverStreamTyped(typedCount, async (req, _ctx, stream) => {
        for (let i = 0; i < req.n; i++) stream.send({ text: req.text, n: i });
      });
    client = new RpcClient({ endpoints: [server.endpoint], token: 'ignored' });
  });

  afterAll(async () => {
    await client.close();
    await server.stop();
  });

  it('round-trips a unary call', async () => {
    expect(dec.decode(await client.unary('t.Echo/Echo', text('hello')))).toBe('anonymous:hello');
    expect(client.endpoint).toBe(server.endpoint);
  });

  it('multiplexes many concurrent calls on one socket', async () => {
    const n = 400;
    const results = await Promise.all(Array.from({ length: n }, (_, i) => client.unary('t.Echo/Delayed', text(`call-${i}`))));
    expect(results.map((r) => dec.decode(r))).toEqual(Array.from({ length: n }, (_, i) => `call-${i}`));
    expect(server.rpc.connectionCount).toBe(1);
  });

  it('streams many messages in order, then ends OK', async () => {
    const got = await collect(client.serverStream('t.Echo/Count', text('3000')));
    expect(got.length).toBe(3000);
    expect(got[0]).toBe('0');
    expect(got[2999]).toBe('2999');
  });

  it('delivers the messages of a stream before its error status', async () => {
    const got: string[] = [];
    const err = await rejection(
      (async () => {
        for await (const m of client.serverStream('t.Echo/CountThenFail', new Uint8Array())) got.push(dec.decode(m));
      })(),
    );
    expect(got).toEqual(['a', 'b']);
    expect(err.code).toBe(StatusCode.RESOURCE_EXHAUSTED);
    expect(err.reason).toBe('Expired');
  });

  it('a cancel from the client reaches the handler signal (unary, via AbortSignal)', async () => {
    sleepAborted = deferred();
    const ac = new AbortController();
    const call = client.unary('t.Echo/Sleep', new Uint8Array(), { signal: ac.signal });
    await new Promise((r) => setTimeout(r, 20));
    ac.abort();
    const err = await rejection(call);
    expect(err.code).toBe(StatusCode.CANCELLED);
    const reason = await sleepAborted.promise;
    expect(reason).toBeInstanceOf(RpcError);
    expect((reason as RpcError).code).toBe(StatusCode.CANCELLED);
  });

  it('breaking out of a stream cancels it on the server', async () => {
    hangAborted = deferred();
    for await (const m of client.serverStream('t.Echo/Hang', new Uint8Array())) {
      expect(dec.decode(m)).toBe('started');
      break;
    }
    expect(((await hangAborted.promise) as RpcError).code).toBe(StatusCode.CANCELLED);
  });

  it('a deadline ends the call DEADLINE_EXCEEDED and aborts the handler', async () => {
    sleepAborted = deferred();
    const started = performance.now();
    const err = await rejection(client.unary('t.Echo/Sleep', new Uint8Array(), { timeoutMs: 100 }));
    expect(err.code).toBe(StatusCode.DEADLINE_EXCEEDED);
    expect(performance.now() - started).toBeGreaterThanOrEqual(90);
    // Client and server time the same deadline; the client's Cancel may reach the server first.
    expect([StatusCode.DEADLINE_EXCEEDED, StatusCode.CANCELLED]).toContain(((await sleepAborted.promise) as RpcError).code);
    // The connection is still good, and the late "too late" result went nowhere.
    expect(dec.decode(await client.unary('t.Echo/Echo', text('still here')))).toBe('anonymous:still here');
  });

  it('an unknown method is UNIMPLEMENTED, naming it', async () => {
    const err = await rejection(client.unary('t.Echo/Nope', new Uint8Array()));
    expect(err.code).toBe(StatusCode.UNIMPLEMENTED);
    expect(err.message).toContain('t.Echo/Nope');
    const streamErr = await rejection(collect(client.serverStream('t.Echo/NopeStream', new Uint8Array())));
    expect(streamErr.code).toBe(StatusCode.UNIMPLEMENTED);
  });

  it('an RpcError from a handler reaches the client with its reason, violations and metadata', async () => {
    const err = await rejection(client.unary('t.Echo/Invalid', new Uint8Array()));
    expect(err).toBeInstanceOf(RpcError);
    expect(err.name).toBe('RpcError');
    expect(err.code).toBe(StatusCode.INVALID_ARGUMENT);
    expect(err.message).toBe('the pod is invalid');
    expect(err.reason).toBe('Invalid');
    expect(err.violations).toEqual([
      { field: 'spec.containers[0].image', description: 'must not be empty' },
      { field: 'metadata.name', description: 'must be a DNS label' },
    ]);
    expect(err.metadata).toEqual({ kind: 'Pod' });
    expect(err.outcomeUnknown).toBe(false);
  });

  it('a plain Error from a handler is INTERNAL with a generic message, logged, and the server survives', async () => {
    const err = await rejection(client.unary('t.Echo/Boom', new Uint8Array()));
    expect(err.code).toBe(StatusCode.INTERNAL);
    expect(err.message).not.toContain('secret');
    expect(errors).toContain('RPC handler failed');
    expect(dec.decode(await client.unary('t.Echo/Echo', text('ok')))).toBe('anonymous:ok');
  });

  it('typed methods encode and decode protobufjs messages on both sides', async () => {
    expect(await client.unaryTyped(typedEcho, { text: 'abc', n: 41 })).toEqual({ text: 'ABC', n: 42 });
    const got: Echo[] = [];
    for await (const m of client.serverStreamTyped(typedCount, { text: 'x', n: 3 })) got.push(m);
    expect(got).toEqual([
      { text: 'x', n: 0 },
      { text: 'x', n: 1 },
      { text: 'x', n: 2 },
    ]);
  });

  it('a request that does not decode as the typed request is INVALID_ARGUMENT', async () => {
    const err = await rejection(client.unary(typedEcho.name, new Uint8Array([0xff, 0xff, 0xff])));
    expect(err.code).toBe(StatusCode.INVALID_ARGUMENT);
  });

  it('an over-large request is refused locally without losing the connection', async () => {
    const err = await rejection(client.unary('t.Echo/Echo', new Uint8Array(client.limits.maxFrameBytes)));
    expect(err.code).toBe(StatusCode.RESOURCE_EXHAUSTED);
    expect(dec.decode(await client.unary('t.Echo/Echo', text('fine')))).toBe('anonymous:fine');
  });
});

describe('RpcError', () => {
  it('round-trips through the wire status, and an unknown code becomes UNKNOWN', () => {
    const e = new RpcError(StatusCode.ALREADY_EXISTS, 'pods "a" already exists', { reason: 'AlreadyExists', metadata: { name: 'a' } });
    const back = RpcError.fromStatus(e.toStatus());
    expect(back.code).toBe(StatusCode.ALREADY_EXISTS);
    expect(back.reason).toBe('AlreadyExists');
    expect(back.metadata).toEqual({ name: 'a' });
    const odd = RpcError.fromStatus({ code: 99, message: 'm', reason: '', violations: [], metadata: {} });
    expect(odd.code).toBe(StatusCode.UNKNOWN);
    expect(odd.reason).toBeUndefined();
    expect(odd.metadata['rpc-code']).toBe('99');
  });
});
