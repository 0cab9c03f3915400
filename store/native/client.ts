// A client of the store's native protocol (protocol.ts), with the same calls as StoreClient (the
// etcd v3 client), so tools, tests and benchmarks can use either. Calls made in one turn of the
// event loop leave in one frame; a connection per endpoint is opened when first used.
//
// Like StoreClient it sends to one endpoint at a time and moves to the next when the current one
// is unreachable, has no leader, or lets a call time out. A write whose connection was lost or
// whose deadline passed has an unknown outcome (StoreClientError.outcomeUnknown), so writes are
// never retried here: the caller decides.

import { status as GrpcStatus } from '@grpc/grpc-js';
import { WebSocket, type RawData } from 'ws';
import { DEFAULT_CALL_TIMEOUT_MS, StoreClientError, type KeyValue } from '../client.js';
import type { Command, RangeRequest } from '../mvcc/commands.js';
import {
  ANSWER_OK,
  MAX_NATIVE_FRAME_BYTES,
  MAX_REQUESTS_PER_FRAME,
  NATIVE_STORE_PATH,
  RequestKind,
  decodeAnswerFrame,
  encodeFrame,
  frameBytes,
  readRangeAnswer,
  readTxnAnswer,
  readWriteAnswer,
} from './protocol.js';
import { zeroMask } from '../../raft/driver/ws-mask.js';

/** Bound on a client's calls waiting for answers, over all endpoints; past it, calls fail at once. */
export const MAX_CLIENT_PENDING_CALLS = 65_536;
/** How often deadlines are checked while calls are pending. */
const DEADLINE_SWEEP_MS = 50;

export interface NativeStoreClientOptions {
  /** Per-call deadline. */
  readonly timeoutMs?: number;
  /** The cluster token (FLOTILLA_CLUSTER_TOKEN of the masters), when they have one. */
  readonly token?: string;
}

interface PendingCall {
  /** Resolves with the answer's body; throws when the body is not what the call expects. */
  readonly resolve: (body: unknown) => void;
  readonly reject: (err: StoreClientError) => void;
  readonly deadline: number;
  readonly conn: Connection;
}

class Connection {
  private ws: WebSocket | undefined;
  private open = false;
  private outbox: (readonly [number, RequestKind, unknown])[] = [];
  private flushScheduled = false;
  /** Ids of this connection's calls still waiting. */
  readonly calls = new Set<number>();

  constructor(
    readonly endpoint: string,
    private readonly token: string | undefined,
    private readonly onAnswerFrame: (conn: Connection, data: Uint8Array) => void,
    private readonly onLost: (conn: Connection, reason: string) => void,
  ) {}

  send(id: number, kind: RequestKind, body: unknown): void {
    this.calls.add(id);
    this.outbox.push([id, kind, body]);
    if (this.ws === undefined) this.dial();
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => {
        this.flushScheduled = false;
        this.flush();
      });
    }
  }

  private dial(): void {
    const headers: Record<string, string> = this.token === undefined ? {} : { authorization: `Bearer ${this.token}` };
    const ws = new WebSocket(`ws://${this.endpoint}${NATIVE_STORE_PATH}`, { headers, maxPayload: MAX_NATIVE_FRAME_BYTES, perMessageDeflate: false, generateMask: zeroMask });
    this.ws = ws;
    let lastError = '';
    ws.on('open', () => {
      this.open = true;
      this.flush();
    });
    ws.on('message', (data: RawData) => this.onAnswerFrame(this, frameBytes(data)));
    ws.on('unexpected-response', (_req, res) => {
      lastError = `HTTP ${res.statusCode ?? '?'} on upgrade`;
      res.resume();
      ws.terminate();
    });
    ws.on('error', (err) => {
      if (lastError === '') lastError = err.message;
    });
    ws.on('close', (code, reason) => {
      if (this.ws !== ws) return;
      this.ws = undefined;
      this.open = false;
      this.outbox = [];
      this.onLost(this, lastError || `connection closed (${code}${reason.length > 0 ? `: ${reason.toString()}` : ''})`);
    });
  }

  private flush(): void {
    if (!this.open || this.ws === undefined || this.outbox.length === 0) return;
    const out = this.outbox;
    this.outbox = [];
    for (let i = 0; i < out.length; i += MAX_REQUESTS_PER_FRAME) {
      this.ws.send(encodeFrame(out.slice(i, i + MAX_REQUESTS_PER_FRAME)), { binary: true });
    }
  }

  /** Drops the connection (a bad frame from the master); its calls are failed by onLost. */
  terminate(): void {
    this.ws?.terminate();
  }

  close(): void {
    const ws = this.ws;
    this.ws = undefined;
    this.open = false;
    this.outbox = [];
    ws?.terminate();
  }
}

const utf8 = (s: string): Uint8Array => Buffer.from(s);

export class NativeStoreClient {
  private readonly conns: Connection[];
  private readonly pending = new Map<number, PendingCall>();
  private readonly timeoutMs: number;
  private current = 0;
  private nextId = 1;
  private sweeper: NodeJS.Timeout | undefined = undefined;
  private closed = false;

  constructor(
    readonly endpoints: readonly string[],
    options: NativeStoreClientOptions = {},
  ) {
    if (endpoints.length === 0) throw new Error('NativeStoreClient needs at least one endpoint');
    this.timeoutMs = options.timeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    this.conns = endpoints.map(
      (e) => new Connection(e, options.token, (c, data) => this.onAnswers(c, data), (c, reason) => this.onLost(c, reason)),
    );
  }

  /** Sticks to one endpoint (tests that want a particular member). */
  useEndpoint(i: number): void {
    this.current = i % this.conns.length;
  }

  /** Sends a request to the current endpoint; resolves with what `read` makes of the answer's body. */
  private call<T>(kind: RequestKind, body: unknown, read: (answer: unknown) => T): Promise<T> {
    const conn = this.conns[this.current]!;
    if (this.closed) return Promise.reject(new StoreClientError('the client is closed', GrpcStatus.CANCELLED, conn.endpoint));
    if (this.pending.size >= MAX_CLIENT_PENDING_CALLS) {
      return Promise.reject(new StoreClientError(`more than ${MAX_CLIENT_PENDING_CALLS} calls pending`, GrpcStatus.RESOURCE_EXHAUSTED, conn.endpoint));
    }
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: (answer) => resolve(read(answer)), reject, deadline: performance.now() + this.timeoutMs, conn });
      conn.send(id, kind, body);
      this.sweeper ??= setInterval(() => this.sweep(), DEADLINE_SWEEP_MS);
    });
  }

  private settle(id: number, conn: Connection): PendingCall | undefined {
    const p = this.pending.get(id);
    if (p === undefined || p.conn !== conn) return undefined;
    this.pending.delete(id);
    conn.calls.delete(id);
    if (this.pending.size === 0 && this.sweeper !== undefined) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
    return p;
  }

  /** Move on from a member that is down, cut off or without a leader. */
  private moveOn(conn: Connection, code: number): void {
    if (code !== GrpcStatus.UNAVAILABLE && code !== GrpcStatus.DEADLINE_EXCEEDED) return;
    if (this.conns[this.current] === conn) this.current = (this.current + 1) % this.conns.length;
  }

  private onAnswers(conn: Connection, data: Uint8Array): void {
    let answers;
    try {
      answers = decodeAnswerFrame(data);
    } catch (err) {
      // A master that sends garbage cannot be trusted with the calls waiting on it.
      conn.terminate();
      this.onLost(conn, `bad answer frame: ${(err as Error).message}`);
      return;
    }
    for (const a of answers) {
      const p = this.settle(a.id, conn);
      if (p === undefined) continue;
      if (a.code === ANSWER_OK) {
        try {
          p.resolve(a.body);
        } catch (err) {
          p.reject(new StoreClientError(`${conn.endpoint}: ${(err as Error).message}`, GrpcStatus.INTERNAL, conn.endpoint));
        }
      } else {
        this.moveOn(conn, a.code);
        p.reject(new StoreClientError(`${conn.endpoint}: ${String(a.body)}`, a.code, conn.endpoint));
      }
    }
  }

  private onLost(conn: Connection, reason: string): void {
    this.moveOn(conn, GrpcStatus.UNAVAILABLE);
    for (const id of [...conn.calls]) {
      const p = this.settle(id, conn);
      p?.reject(new StoreClientError(`${conn.endpoint}: ${reason}`, GrpcStatus.UNAVAILABLE, conn.endpoint));
    }
    conn.calls.clear();
  }

  private sweep(): void {
    const now = performance.now();
    // Ids grow with time and every call has the same timeout: the oldest calls come first.
    for (const [id, p] of this.pending) {
      if (p.deadline > now) break;
      this.settle(id, p.conn);
      this.moveOn(p.conn, GrpcStatus.DEADLINE_EXCEEDED);
      p.reject(new StoreClientError(`${p.conn.endpoint}: no answer within ${this.timeoutMs} ms`, GrpcStatus.DEADLINE_EXCEEDED, p.conn.endpoint));
    }
  }

  /** Proposes a write command (txn, put or deleteRange) in the log's shape. */
  private write<T>(command: Command, read: (answer: unknown) => T): Promise<T> {
    return this.call(RequestKind.Txn, command, read);
  }

  async put(key: string, value: string): Promise<number> {
    return (await this.write({ type: 'put', key: utf8(key), value: utf8(value) }, (b) => readWriteAnswer(b, 'put'))).revision;
  }

  /** A linearizable read by default. */
  async get(key: string, opts: { serializable?: boolean } = {}): Promise<KeyValue | undefined> {
    const request: RangeRequest = { key: utf8(key) };
    const r = await this.call(RequestKind.Range, { request, serializable: opts.serializable === true }, readRangeAnswer);
    const kv = r.kvs[0];
    return kv === undefined ? undefined : { value: Buffer.from(kv.value), modRevision: kv.modRevision, version: kv.version };
  }

  async delete(key: string): Promise<void> {
    await this.write({ type: 'deleteRange', key: utf8(key) }, (b) => readWriteAnswer(b, 'deleteRange'));
  }

  /** Sets key to `next` if its value is `expected` (undefined: if it does not exist). */
  async compareAndSet(key: string, expected: string | undefined, next: string): Promise<boolean> {
    const k = utf8(key);
    const compare =
      expected === undefined
        ? { key: k, result: 'equal' as const, target: 'createRevision' as const, createRevision: 0 }
        : { key: k, result: 'equal' as const, target: 'value' as const, value: utf8(expected) };
    const r = await this.write({ type: 'txn', compare: [compare], success: [{ type: 'put', key: k, value: utf8(next) }], failure: [] }, readTxnAnswer);
    return r.succeeded;
  }

  /** Puts `next` at key if its mod revision is still `modRevision` (0: if it does not exist); undefined when the compare failed. */
  async compareAndPut(key: string, modRevision: number, next: string): Promise<number | undefined> {
    const k = utf8(key);
    const r = await this.write(
      { type: 'txn', compare: [{ key: k, result: 'equal', target: 'modRevision', modRevision }], success: [{ type: 'put', key: k, value: utf8(next) }], failure: [] },
      readTxnAnswer,
    );
    return r.succeeded ? r.revision : undefined;
  }

  close(): void {
    this.closed = true;
    for (const c of this.conns) c.close();
    for (const [id, p] of [...this.pending]) {
      this.settle(id, p.conn);
      p.reject(new StoreClientError('the client is closed', GrpcStatus.CANCELLED, p.conn.endpoint));
    }
    if (this.sweeper !== undefined) clearInterval(this.sweeper);
    this.sweeper = undefined;
  }
}
