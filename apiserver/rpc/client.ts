// The RPC client: one WebSocket at a time to one of several endpoints (masters), all calls
// multiplexed on it. It connects lazily, on the first call after a connection is lost.
//
// Failure semantics:
// - A call that cannot be sent (no endpoint reachable) rejects UNAVAILABLE; it did not happen.
// - A call in flight when its connection drops rejects UNAVAILABLE with outcomeUnknown: a write may
//   or may not have been applied, and a caller that retries writes must find out first.
// - A local deadline rejects DEADLINE_EXCEEDED, an aborted signal CANCELLED; both tell the server.
// - HTTP 401 on upgrade rejects UNAUTHENTICATED.
// - Reconnecting: each attempt goes to the next endpoint; consecutive failures back off
//   exponentially with jitter (limits.ts). A connect round that tried every endpoint and failed
//   fails its calls, and calls made before the backoff has passed fail at once with the same error,
//   so a client with a bad token or no reachable master cannot hammer the masters.

import { WebSocket } from 'ws';
import { ClientConnection, systemRpcClientClock, type RpcClientClock } from './client-connection.js';
import { ClientStream, type RpcStream } from './client-stream.js';
import { RPC_PATH } from './frame.js';
import { maxPayloadBytes, reconnectDelayMs, resolveClientLimits, RpcConfigError, type RpcClientLimits } from './limits.js';
import { silentRpcLogger, type RpcLogger } from './log.js';
import { errorMessage, RpcError, StatusCode, type WireStatus } from './status.js';
import type { ServerStreamMethod, UnaryMethod } from './typed.js';
import { zeroMask } from '../../raft/driver/ws-mask.js';

export { systemRpcClientClock, type RpcClientClock } from './client-connection.js';
export type { RpcStream } from './client-stream.js';

export interface RpcClientOptions {
  /** "host:port" of each server; the client talks to one at a time. */
  readonly endpoints: readonly string[];
  /** Sent as `Authorization: Bearer <token>` on upgrade. */
  readonly token?: string;
  readonly logger?: RpcLogger;
  readonly connectTimeoutMs?: number;
  readonly reconnectBackoff?: { readonly minMs?: number; readonly maxMs?: number };
  readonly limits?: Partial<RpcClientLimits>;
  readonly clock?: RpcClientClock;
  /** Uniform in [0, 1); for backoff jitter and the endpoint tried first. */
  readonly random?: () => number;
}

export interface CallOptions {
  /** Relative deadline, sent to the server and enforced here too. */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

/** Status codes set by this side rather than sent by the server. */
function localError(code: StatusCode, message: string, outcomeUnknown = false): RpcError {
  return new RpcError(code, message, { outcomeUnknown });
}

function statusError(status: WireStatus): RpcError | undefined {
  return status.code === StatusCode.OK ? undefined : RpcError.fromStatus(status);
}

/** A call's local deadline and signal, cleared once it settles. */
class CallGuard {
  private timer: unknown;
  private onAbort: (() => void) | undefined;

  constructor(
    private readonly clock: RpcClientClock,
    private readonly opts: CallOptions,
    fail: (err: RpcError) => void,
  ) {
    if (opts.timeoutMs !== undefined && opts.timeoutMs > 0) {
      const ms = opts.timeoutMs;
      this.timer = clock.setTimeout(() => fail(localError(StatusCode.DEADLINE_EXCEEDED, `deadline of ${ms} ms exceeded`)), ms);
    }
    if (opts.signal !== undefined) {
      this.onAbort = () => fail(localError(StatusCode.CANCELLED, 'cancelled by the caller'));
      opts.signal.addEventListener('abort', this.onAbort, { once: true });
    }
  }

  clear(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    if (this.onAbort !== undefined) this.opts.signal?.removeEventListener('abort', this.onAbort);
    this.onAbort = undefined;
  }
}

export class RpcClient {
  readonly limits: RpcClientLimits;
  private readonly endpoints: readonly string[];
  private readonly token: string | undefined;
  private readonly logger: RpcLogger;
  private readonly clock: RpcClientClock;
  private readonly random: () => number;
  private conn: ClientConnection | undefined;
  private dialing: Promise<ClientConnection> | undefined;
  private nextEndpoint = 0;
  private consecutiveFailures = 0;
  /** Until then (clock.now()), calls fail at once with lastFailure instead of dialing. */
  private retryAt = 0;
  private lastFailure: RpcError | undefined;
  private closed = false;

  constructor(opts: RpcClientOptions) {
    if (opts.endpoints.length === 0) throw new RpcConfigError('endpoints', 'must name at least one host:port');
    this.limits = resolveClientLimits({
      ...(opts.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: opts.connectTimeoutMs }),
      ...(opts.reconnectBackoff?.minMs === undefined ? {} : { reconnectBackoffMinMs: opts.reconnectBackoff.minMs }),
      ...(opts.reconnectBackoff?.maxMs === undefined ? {} : { reconnectBackoffMaxMs: opts.reconnectBackoff.maxMs }),
      ...opts.limits,
    });
    this.endpoints = [...opts.endpoints];
    this.token = opts.token;
    this.logger = opts.logger ?? silentRpcLogger;
    this.clock = opts.clock ?? systemRpcClientClock;
    this.random = opts.random ?? Math.random;
    // Clients start at a random master, so many of them (agents, controllers) spread over the
    // masters instead of all loading the first one; they move on from there when it fails.
    this.nextEndpoint = Math.min(this.endpoints.length - 1, Math.floor(this.random() * this.endpoints.length));
  }

  /** The endpoint of the open connection, if any. */
  get endpoint(): string | undefined {
    return this.conn?.open === true ? this.conn.endpoint : undefined;
  }

  /** Connects now rather than on the first call. Rejects like a call that cannot be sent. */
  async connect(): Promise<void> {
    await this.connection();
  }

  unary(method: string, payload: Uint8Array, opts: CallOptions = {}): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      let settled = false;
      let sent: { conn: ClientConnection; streamId: number } | undefined;
      let response: Uint8Array | undefined;
      const settle = (err: RpcError | undefined): void => {
        if (settled) return;
        settled = true;
        guard.clear();
        if (err !== undefined) reject(err);
        else if (response !== undefined) resolve(response);
        else reject(localError(StatusCode.INTERNAL, `${method} ended OK without a response message`));
      };
      const guard = new CallGuard(this.clock, opts, (err) => {
        if (sent !== undefined) sent.conn.cancel(sent.streamId);
        settle(err);
      });
      const early = this.refuseEarly(method, payload, opts);
      if (early !== undefined) {
        settle(early);
        return;
      }
      this.connection().then(
        (conn) => {
          if (settled) return;
          const streamId = conn.call(method, payload, opts.timeoutMs ?? 0, {
            message: (p) => {
              response = p;
            },
            end: (status) => settle(statusError(status)),
            drop: (err) => settle(err),
          });
          sent = { conn, streamId };
        },
        (err: unknown) => settle(err instanceof RpcError ? err : localError(StatusCode.UNAVAILABLE, errorMessage(err))),
      );
    });
  }

  /**
   * A server-streaming call, started on the first next(). Ending the iteration early (break, or
   * return()) cancels the call. A non-OK end is thrown as RpcError once buffered messages are taken.
   */
  serverStream(method: string, payload: Uint8Array, opts: CallOptions = {}): RpcStream<Uint8Array> {
    return new ClientStream({ maxBufferedMessages: this.limits.maxBufferedMessagesPerStream, maxBufferedBytes: this.limits.maxBufferedBytesPerStream }, (stream) => {
      let over = false;
      let sent: { conn: ClientConnection; streamId: number } | undefined;
      const end = (err: RpcError | undefined): void => {
        if (over) return;
        over = true;
        guard.clear();
        stream.finish(err);
      };
      const cancel = (): void => {
        if (sent !== undefined) sent.conn.cancel(sent.streamId);
        over = true;
        guard.clear();
      };
      const guard = new CallGuard(this.clock, opts, (err) => {
        if (sent !== undefined) sent.conn.cancel(sent.streamId);
        end(err);
      });
      const early = this.refuseEarly(method, payload, opts);
      if (early !== undefined) {
        end(early);
        return cancel;
      }
      this.connection().then(
        (conn) => {
          if (over) return;
          sent = {
            conn,
            streamId: conn.call(method, payload, opts.timeoutMs ?? 0, {
              message: (p) => stream.push(p),
              end: (status) => end(statusError(status)),
              drop: (err) => end(err),
            }),
          };
        },
        (err: unknown) => end(err instanceof RpcError ? err : localError(StatusCode.UNAVAILABLE, errorMessage(err))),
      );
      return cancel;
    });
  }

  async unaryTyped<Req, Res>(method: UnaryMethod<Req, Res>, request: Req, opts: CallOptions = {}): Promise<Res> {
    return decodeResponse(method.response, await this.unary(method.name, method.request.encode(request), opts), method.name);
  }

  async *serverStreamTyped<Req, Res>(method: ServerStreamMethod<Req, Res>, request: Req, opts: CallOptions = {}): AsyncGenerator<Res, void, undefined> {
    for await (const payload of this.serverStream(method.name, method.request.encode(request), opts)) {
      yield decodeResponse(method.response, payload, method.name);
    }
  }

  /** Fails every open call with UNAVAILABLE and closes the connection. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    const conn = this.conn;
    this.conn = undefined;
    if (conn !== undefined) await conn.close();
  }

  private refuseEarly(method: string, payload: Uint8Array, opts: CallOptions): RpcError | undefined {
    if (opts.signal?.aborted === true) return localError(StatusCode.CANCELLED, 'cancelled by the caller');
    if (payload.byteLength > maxPayloadBytes(this.limits.maxFrameBytes)) {
      // Sending it would make the server close the connection (1009), failing every other call on it.
      return localError(StatusCode.RESOURCE_EXHAUSTED, `request to ${method} of ${payload.byteLength} bytes exceeds the frame limit`);
    }
    return undefined;
  }

  private connection(): Promise<ClientConnection> {
    if (this.closed) return Promise.reject(localError(StatusCode.UNAVAILABLE, 'the client is closed'));
    if (this.conn?.open === true) return Promise.resolve(this.conn);
    if (this.dialing !== undefined) return this.dialing;
    if (this.lastFailure !== undefined && this.clock.now() < this.retryAt) return Promise.reject(this.lastFailure);
    const dialing = this.dialRound().finally(() => {
      if (this.dialing === dialing) this.dialing = undefined;
    });
    this.dialing = dialing;
    return dialing;
  }

  /** Tries each endpoint once, backing off between attempts; resolves with the first that connects. */
  private async dialRound(): Promise<ClientConnection> {
    let unauthenticated: RpcError | undefined;
    let last: RpcError | undefined;
    for (let i = 0; i < this.endpoints.length; i++) {
      // The first attempt of a round already waited out retryAt.
      if (i > 0) await this.sleep(reconnectDelayMs(this.consecutiveFailures - 1, this.limits, this.random));
      if (this.closed) throw localError(StatusCode.UNAVAILABLE, 'the client is closed');
      const endpoint = this.endpoints[this.nextEndpoint % this.endpoints.length] ?? '';
      try {
        const conn = await this.dial(endpoint);
        this.consecutiveFailures = 0;
        this.lastFailure = undefined;
        this.conn = conn;
        return conn;
      } catch (err) {
        const failure = err instanceof RpcError ? err : localError(StatusCode.UNAVAILABLE, errorMessage(err));
        this.logger.warn('RPC connect failed', { endpoint, code: failure.codeName, error: failure.message });
        if (failure.code === StatusCode.UNAUTHENTICATED) unauthenticated = failure;
        last = failure;
        this.consecutiveFailures++;
        this.nextEndpoint = (this.nextEndpoint + 1) % this.endpoints.length;
      }
    }
    // Credentials refused anywhere is the error worth reporting: retrying will not fix it.
    const failure = unauthenticated ?? last ?? localError(StatusCode.UNAVAILABLE, 'no endpoint');
    this.lastFailure = failure;
    this.retryAt = this.clock.now() + reconnectDelayMs(this.consecutiveFailures - 1, this.limits, this.random);
    throw failure;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.clock.setTimeout(resolve, ms));
  }

  private dial(endpoint: string): Promise<ClientConnection> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://${endpoint}${RPC_PATH}`, {
        perMessageDeflate: false,
        maxPayload: this.limits.maxFrameBytes,
        generateMask: zeroMask,
        headers: this.token === undefined ? {} : { authorization: `Bearer ${this.token}` },
      });
      let settled = false;
      const fail = (err: RpcError): void => {
        if (settled) return;
        settled = true;
        this.clock.clearTimeout(timer);
        ws.terminate();
        reject(err);
      };
      const timer = this.clock.setTimeout(
        () => fail(localError(StatusCode.UNAVAILABLE, `connecting to ${endpoint} timed out after ${this.limits.connectTimeoutMs} ms`)),
        this.limits.connectTimeoutMs,
      );
      ws.on('unexpected-response', (_req, res) => {
        res.resume();
        const status = res.statusCode ?? 0;
        fail(
          status === 401
            ? localError(StatusCode.UNAUTHENTICATED, `${endpoint} refused the credentials (HTTP 401)`)
            : localError(StatusCode.UNAVAILABLE, `${endpoint} refused the connection (HTTP ${status})`),
        );
      });
      ws.on('error', (err) => fail(localError(StatusCode.UNAVAILABLE, `cannot connect to ${endpoint}: ${err.message}`)));
      ws.on('close', () => fail(localError(StatusCode.UNAVAILABLE, `connection to ${endpoint} closed during the handshake`)));
      ws.once('open', () => {
        if (settled) return;
        settled = true;
        this.clock.clearTimeout(timer);
        ws.removeAllListeners('error');
        ws.removeAllListeners('close');
        ws.removeAllListeners('unexpected-response');
        if (this.closed) {
          ws.terminate();
          reject(localError(StatusCode.UNAVAILABLE, 'the client is closed'));
          return;
        }
        resolve(
          new ClientConnection(ws, endpoint, this.clock, this.logger, this.limits.keepaliveIntervalMs, (gone) => {
            if (this.conn !== gone) return;
            this.conn = undefined;
            // The next attempt goes elsewhere: this server may be the one that is going away.
            this.nextEndpoint = (this.endpoints.indexOf(gone.endpoint) + 1) % this.endpoints.length;
          }),
        );
      });
    });
  }
}

function decodeResponse<T>(codec: { decode(bytes: Uint8Array): T }, payload: Uint8Array, method: string): T {
  try {
    return codec.decode(payload);
  } catch (err) {
    throw new RpcError(StatusCode.INTERNAL, `response from ${method} does not decode: ${errorMessage(err)}`, { cause: err });
  }
}
