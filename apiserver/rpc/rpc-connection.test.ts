// The connection level over real WebSockets: authentication, protocol violations, bounds,
// backpressure, reconnecting, shutdown.

import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { RpcClient } from './client.js';
import { decodeServerFrame, encodeCall, encodeCancel, type ServerFrame } from './frame.js';
import { RpcCloseCode } from './server.js';
import { RpcError, StatusCode } from './status.js';
import { startLoopbackRpcServer, type LoopbackOptions, type LoopbackRpcServer } from './test-server.js';

const enc = new TextEncoder();
const dec = new TextDecoder();
const text = (s: string): Uint8Array => enc.encode(s);

const started: { stop(): Promise<void> }[] = [];
const clients: RpcClient[] = [];
const raws: WebSocket[] = [];

afterEach(async () => {
  for (const ws of raws.splice(0)) ws.terminate();
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(started.splice(0).map((s) => s.stop()));
});

interface LogLine {
  level: string;
  msg: string;
  fields: Record<string, unknown> | undefined;
}

async function server(opts: LoopbackOptions = {}, lines: LogLine[] = []): Promise<LoopbackRpcServer> {
  const log = (level: string) => (msg: string, fields?: Record<string, unknown>) => lines.push({ level, msg, fields });
  const s = await startLoopbackRpcServer({ logger: { info: log('info'), warn: log('warn'), error: log('error') }, ...opts });
  s.rpc
    .unary('t.Echo/Echo', async (payload) => payload)
    .unary('t.Echo/Sleep', (_p, ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve(new Uint8Array()))))
    .serverStream('t.Echo/Hang', async (_p, ctx, stream) => {
      stream.send(text('started'));
      await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
    })
    .serverStream('t.Echo/Count', async (payload, _ctx, stream) => {
      const n = Number(dec.decode(payload));
      for (let i = 0; i < n; i++) {
        while (!stream.send(text(String(i)))) if (!(await stream.drained())) return;
      }
    });
  started.push(s);
  return s;
}

/** A random source whose first draw (the client's first endpoint) is 0, then `rest`. */
function startAtFirst(rest: () => number): () => number {
  let drawn = false;
  return () => {
    if (drawn) return rest();
    drawn = true;
    return 0;
  };
}

function client(endpoints: string[], extra: Partial<ConstructorParameters<typeof RpcClient>[0]> = {}): RpcClient {
  const c = new RpcClient({ endpoints, ...extra });
  clients.push(c);
  return c;
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

/** A WebSocket speaking the frame protocol by hand, to send what RpcClient never would. */
async function rawClient(endpoint: string, opts: { autoPong?: boolean } = {}): Promise<{ ws: WebSocket; frames: ServerFrame[]; closed: Promise<{ code: number; reason: string }> }> {
  const ws = new WebSocket(`ws://${endpoint}/rpc`, { autoPong: opts.autoPong ?? true });
  raws.push(ws);
  const frames: ServerFrame[] = [];
  ws.on('message', (data: Buffer) => {
    const d = decodeServerFrame(data);
    if (d.ok) frames.push(d.frame);
  });
  ws.on('error', () => {});
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  return { ws, frames, closed };
}

async function until(cond: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('authentication', () => {
  it('a bad token is refused with 401, seen as UNAUTHENTICATED, without hammering the server', async () => {
    let asked = 0;
    const s = await server({
      authenticate: (token) => {
        asked++;
        return token === 'good' ? { name: 'alice', groups: ['admins'] } : undefined;
      },
    });
    const bad = client([s.endpoint], { token: 'bad' });
    for (let i = 0; i < 20; i++) {
      const err = await rejection(bad.unary('t.Echo/Echo', text('x')));
      expect(err.code).toBe(StatusCode.UNAUTHENTICATED);
    }
    // One upgrade attempt, then failing fast through the backoff.
    expect(asked).toBeLessThanOrEqual(2);
    const none = client([s.endpoint]);
    expect((await rejection(none.unary('t.Echo/Echo', text('x')))).code).toBe(StatusCode.UNAUTHENTICATED);
    const good = client([s.endpoint], { token: 'good' });
    expect(dec.decode(await good.unary('t.Echo/Echo', text('x')))).toBe('x');
    expect(s.rpc.connectionCount).toBe(1);
  });
});

describe('protocol violations close only the offending connection', () => {
  it.each([
    ['garbage bytes', () => Buffer.from([0xde, 0xad, 0xbe, 0xef, 0xff, 0x01])],
    ['stream id 0', () => encodeCall(0, 't.Echo/Echo', new Uint8Array(), 0)],
    ['a frame with no call and no cancel', () => Buffer.from([0x08, 0x05])],
  ])('%s → 1002', async (_name, frame) => {
    const lines: LogLine[] = [];
    const s = await server({}, lines);
    const bystander = client([s.endpoint]);
    await bystander.connect();
    const raw = await rawClient(s.endpoint);
    raw.ws.send(frame());
    expect((await raw.closed).code).toBe(RpcCloseCode.ProtocolError);
    expect(lines.some((l) => l.msg.includes('protocol error') && typeof l.fields?.['peer'] === 'string')).toBe(true);
    expect(dec.decode(await bystander.unary('t.Echo/Echo', text('alive')))).toBe('alive');
  });

  it('a text frame → 1002', async () => {
    const s = await server();
    const raw = await rawClient(s.endpoint);
    raw.ws.send('hello');
    expect((await raw.closed).code).toBe(RpcCloseCode.ProtocolError);
  });

  it('a duplicate open stream id → 1002, and the calls open on it are aborted', async () => {
    const s = await server();
    const raw = await rawClient(s.endpoint);
    raw.ws.send(encodeCall(7, 't.Echo/Hang', new Uint8Array(), 0));
    await until(() => raw.frames.length > 0);
    raw.ws.send(encodeCall(7, 't.Echo/Echo', new Uint8Array(), 0));
    const closed = await raw.closed;
    expect(closed.code).toBe(RpcCloseCode.ProtocolError);
    expect(closed.reason).toContain('duplicate stream id 7');
    const c = client([s.endpoint]);
    expect(dec.decode(await c.unary('t.Echo/Echo', text('alive')))).toBe('alive');
  });

  it('a stream id may be reused once its call has ended', async () => {
    const s = await server();
    const raw = await rawClient(s.endpoint);
    raw.ws.send(encodeCall(3, 't.Echo/Echo', text('one'), 0));
    await until(() => raw.frames.some((f) => f.kind === 'end'));
    raw.ws.send(encodeCall(3, 't.Echo/Echo', text('two'), 0));
    await until(() => raw.frames.filter((f) => f.kind === 'end').length === 2);
    expect(raw.frames.filter((f) => f.kind === 'message').map((f) => (f.kind === 'message' ? dec.decode(f.payload) : ''))).toEqual(['one', 'two']);
  });

  it('an oversize frame → 1009', async () => {
    const s = await server({ limits: { maxFrameBytes: 64 * 1024 } });
    const bystander = client([s.endpoint]);
    await bystander.connect();
    const raw = await rawClient(s.endpoint);
    raw.ws.send(encodeCall(1, 't.Echo/Echo', new Uint8Array(100 * 1024), 0));
    expect((await raw.closed).code).toBe(RpcCloseCode.MessageTooBig);
    expect(dec.decode(await bystander.unary('t.Echo/Echo', text('alive')))).toBe('alive');
  });

  it('a cancel for a stream that is not open is ignored', async () => {
    const s = await server();
    const raw = await rawClient(s.endpoint);
    raw.ws.send(encodeCancel(42));
    raw.ws.send(encodeCall(1, 't.Echo/Echo', text('x'), 0));
    await until(() => raw.frames.some((f) => f.kind === 'end'));
    expect(raw.ws.readyState).toBe(WebSocket.OPEN);
  });
});

describe('bounds', () => {
  it('the server enforces the timeout a call carries', async () => {
    const s = await server();
    const raw = await rawClient(s.endpoint);
    raw.ws.send(encodeCall(1, 't.Echo/Sleep', new Uint8Array(), 30));
    await until(() => raw.frames.length > 0);
    const end = raw.frames[0];
    expect(end?.kind === 'end' && end.status.code).toBe(StatusCode.DEADLINE_EXCEEDED);
    await new Promise((r) => setTimeout(r, 30));
    expect(raw.frames.length).toBe(1); // the handler's late result was discarded
  });

  it('too many concurrent streams on a connection → RESOURCE_EXHAUSTED for the one over', async () => {
    const s = await server({ limits: { maxConcurrentStreamsPerConnection: 5 } });
    const c = client([s.endpoint]);
    const streams = Array.from({ length: 5 }, () => c.serverStream('t.Echo/Hang', new Uint8Array()));
    for (const st of streams) expect(dec.decode((await st.next()).value ?? new Uint8Array())).toBe('started');
    const err = await rejection(c.unary('t.Echo/Echo', text('x')));
    expect(err.code).toBe(StatusCode.RESOURCE_EXHAUSTED);
    await streams[0]?.return();
    // With one stream cancelled there is room again (the cancel precedes the call on the wire).
    expect(dec.decode(await c.unary('t.Echo/Echo', text('y')))).toBe('y');
    for (const st of streams) await st.return();
  });

  it('too many pending unary calls → RESOURCE_EXHAUSTED', async () => {
    const s = await server({ limits: { maxPendingUnaryPerConnection: 3 } });
    const c = client([s.endpoint]);
    const ac = new AbortController();
    const sleeping = Array.from({ length: 3 }, () => c.unary('t.Echo/Sleep', new Uint8Array(), { signal: ac.signal }).catch((e: unknown) => e));
    expect((await rejection(c.unary('t.Echo/Echo', text('x')))).code).toBe(StatusCode.RESOURCE_EXHAUSTED);
    ac.abort();
    await Promise.all(sleeping);
  });

  it('a client that does not read: send() reports false, the buffer bound holds, drained() resumes', async () => {
    const bound = 256 * 1024;
    const s = await server({ limits: { maxConnectionBufferedBytes: bound } });
    const message = new Uint8Array(16 * 1024);
    let accepted = 0;
    let refused = 0;
    let ended: (() => void) | undefined;
    const done = new Promise<void>((r) => (ended = r));
    const total = 4_000; // 64 MiB if nothing held it back
    s.rpc.serverStream('t.Flood/Flood', async (_p, _ctx, stream) => {
      for (let i = 0; i < total; i++) {
        while (!stream.send(message)) {
          refused++;
          expect(stream.writable).toBe(false);
          if (!(await stream.drained())) return;
        }
        accepted++;
      }
      ended?.();
    });
    const raw = await rawClient(s.endpoint);
    raw.ws.pause(); // stop reading: TCP backpressure reaches the server
    raw.ws.send(encodeCall(1, 't.Flood/Flood', new Uint8Array(), 0));
    let maxBuffered = 0;
    const sample = setInterval(() => {
      for (const row of s.rpc.connectionStats()) maxBuffered = Math.max(maxBuffered, row.bufferedBytes);
    }, 1);
    await until(() => refused > 0);
    await new Promise((r) => setTimeout(r, 100));
    clearInterval(sample);
    expect(maxBuffered).toBeGreaterThan(0);
    expect(maxBuffered).toBeLessThanOrEqual(bound + message.byteLength + 1024);
    // What was accepted is the bound plus a frame plus what the kernel's socket buffers absorbed.
    const acceptedWhilePaused = accepted;
    expect(acceptedWhilePaused).toBeLessThan(total / 2);
    expect(raw.frames.length).toBe(0);
    raw.ws.resume();
    await done;
    await until(() => raw.frames.some((f) => f.kind === 'end'));
    expect(raw.frames.filter((f) => f.kind === 'message').length).toBe(total);
  });

  it('a slow consumer on the client: the stream is cancelled and RESOURCE_EXHAUSTED follows the buffered messages', async () => {
    const s = await server();
    let aborted = false;
    s.rpc.serverStream('t.Flood/Forever', async (_p, ctx, stream) => {
      ctx.signal.addEventListener('abort', () => (aborted = true));
      let i = 0;
      while (!ctx.signal.aborted) {
        if (!stream.send(text(String(i++)))) {
          if (!(await stream.drained())) return;
        }
        if (i % 100 === 0) await new Promise((r) => setImmediate(r));
      }
    });
    const c = client([s.endpoint], { limits: { maxBufferedMessagesPerStream: 50 } });
    const it = c.serverStream('t.Flood/Forever', new Uint8Array());
    expect((await it.next()).done).toBe(false);
    await until(() => aborted);
    let taken = 0;
    const err = await rejection(
      (async () => {
        for (;;) {
          const r = await it.next();
          if (r.done === true) return;
          taken++;
        }
      })(),
    );
    expect(err.code).toBe(StatusCode.RESOURCE_EXHAUSTED);
    expect(taken).toBeLessThanOrEqual(50);
    expect(dec.decode(await c.unary('t.Echo/Echo', text('ok')))).toBe('ok');
  });

  it('a client that stops answering pings is disconnected', async () => {
    const s = await server({ limits: { keepaliveIntervalMs: 50 } });
    const raw = await rawClient(s.endpoint, { autoPong: false });
    const closed = await raw.closed;
    expect(closed.code).toBe(1006); // terminated, no closing handshake
    await until(() => s.rpc.connectionCount === 0);
  });

  it('too many connections → the upgrade is refused', async () => {
    const s = await server({ limits: { maxConnections: 1 } });
    await client([s.endpoint]).connect();
    const err = await rejection(client([s.endpoint]).unary('t.Echo/Echo', text('x')));
    expect(err.code).toBe(StatusCode.UNAVAILABLE);
    expect(err.message).toContain('503');
  });
});

describe('connection loss and failover', () => {
  it('no reachable endpoint → UNAVAILABLE, not outcome-unknown', async () => {
    const s = await server();
    const endpoint = s.endpoint;
    await s.stop();
    const c = client([endpoint], { reconnectBackoff: { minMs: 10, maxMs: 20 } });
    const err = await rejection(c.unary('t.Echo/Echo', text('x')));
    expect(err.code).toBe(StatusCode.UNAVAILABLE);
    expect(err.outcomeUnknown).toBe(false);
  });

  it('a dropped connection fails calls in flight UNAVAILABLE, outcome unknown, and the next call reconnects', async () => {
    const s = await server();
    const c = client([s.endpoint], { reconnectBackoff: { minMs: 10, maxMs: 20 } });
    await c.connect();
    const inFlight = rejection(c.unary('t.Echo/Sleep', new Uint8Array()));
    const stream = c.serverStream('t.Echo/Hang', new Uint8Array());
    await stream.next();
    s.killConnections();
    const err = await inFlight;
    expect(err.code).toBe(StatusCode.UNAVAILABLE);
    expect(err.outcomeUnknown).toBe(true);
    expect((await rejection(stream.next())).code).toBe(StatusCode.UNAVAILABLE);
    expect(dec.decode(await c.unary('t.Echo/Echo', text('back')))).toBe('back');
  });

  it('reconnects to the second endpoint after the first server closes; close() ends streams UNAVAILABLE', async () => {
    const first = await server();
    const second = await server();
    const c = client([first.endpoint, second.endpoint], { reconnectBackoff: { minMs: 10, maxMs: 20 }, random: startAtFirst(() => Math.random()) });
    await c.connect();
    expect(c.endpoint).toBe(first.endpoint);
    const stream = c.serverStream('t.Echo/Hang', new Uint8Array());
    await stream.next();
    await first.stop();
    const err = await rejection(stream.next());
    expect(err.code).toBe(StatusCode.UNAVAILABLE);
    expect(err.message).toBe('server shutting down');
    expect(dec.decode(await c.unary('t.Echo/Echo', text('moved')))).toBe('moved');
    expect(c.endpoint).toBe(second.endpoint);
  });

  it('starts at a random endpoint, so many clients spread over the masters', async () => {
    const servers = [await server(), await server(), await server()];
    const endpoints = servers.map((x) => x.endpoint);
    for (const [draw, expected] of [[0, 0], [0.5, 1], [0.999, 2]] as const) {
      const c = client(endpoints, { random: () => draw });
      await c.connect();
      expect(c.endpoint).toBe(endpoints[expected]);
    }
  });

  it('a failing first endpoint is skipped with backoff', async () => {
    const dead = await server();
    const deadEndpoint = dead.endpoint;
    await dead.stop();
    const live = await server();
    const delays: number[] = [];
    const c = client([deadEndpoint, live.endpoint], {
      reconnectBackoff: { minMs: 20, maxMs: 40 },
      random: startAtFirst(() => 0.5),
      clock: {
        now: () => performance.now(),
        setTimeout: (fn, ms) => {
          delays.push(ms);
          return setTimeout(fn, ms);
        },
        clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
      },
    });
    expect(dec.decode(await c.unary('t.Echo/Echo', text('x')))).toBe('x');
    expect(c.endpoint).toBe(live.endpoint);
    expect(delays).toContain(15); // min 20, attempt 0: 10 + 0.5 × 10
  });

  it('client close() fails open calls and later calls', async () => {
    const s = await server();
    const c = client([s.endpoint]);
    const inFlight = rejection(c.unary('t.Echo/Sleep', new Uint8Array()));
    await until(() => c.endpoint !== undefined);
    await new Promise((r) => setTimeout(r, 10));
    await c.close();
    expect((await inFlight).code).toBe(StatusCode.UNAVAILABLE);
    expect((await rejection(c.unary('t.Echo/Echo', text('x')))).code).toBe(StatusCode.UNAVAILABLE);
  });
});
