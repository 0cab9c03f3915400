// One client's WebSocket on the server: reads frames, runs calls, writes their results. Invariant:
// every call in `calls` gets exactly one end frame (unless the socket is gone), and nothing is sent
// for a stream id after its end frame.

import type { RawData, WebSocket } from 'ws';
import { WriteCoalescer } from './coalesce.js';
import { decodeClientFrame, encodeEnd, encodeMessage, rawBytes } from './frame.js';
import { BUFFER_LOW_WATER_FRACTION, maxPayloadBytes, type RpcServerLimits } from './limits.js';
import type { RateLimitedLog, RpcLogger } from './log.js';
import { errorMessage, OK_STATUS, RpcError, StatusCode, type WireStatus } from './status.js';

/** Who is calling, as the server's authenticate() decided. */
export interface Principal {
  readonly name: string;
  readonly groups?: readonly string[];
  /**
   * The bearer token the connection presented, for calls the server makes on the caller's behalf
   * (a container's logs from its node's agent); never logged.
   */
  readonly credential?: string;
}

export interface CallContext {
  readonly method: string;
  readonly principal: Principal;
  /** Aborted when the client cancels, the deadline passes, the connection closes, or the server shuts down. */
  readonly signal: AbortSignal;
  /** Epoch milliseconds (Date.now()) after which the result is discarded; absent without a deadline. */
  readonly deadline?: number;
  /** "address:port" of the client. */
  readonly peer: string;
}

/** What a server-stream handler writes to. */
export interface ServerStreamSink {
  /**
   * Sends one message. False means it was NOT sent: the stream has ended (cancelled, deadline,
   * connection gone) or the connection's outbound buffer is over its bound. The handler decides
   * what to do: wait for drained() and retry, or end the stream (a watch throws RESOURCE_EXHAUSTED
   * so the client resumes from what it has seen).
   */
  send(payload: Uint8Array): boolean;
  /** The stream is open and the connection's buffer is under its bound. */
  readonly writable: boolean;
  /** Resolves true once writable again, or false once the stream has ended. */
  drained(): Promise<boolean>;
}

export type UnaryHandler = (payload: Uint8Array, ctx: CallContext) => Promise<Uint8Array>;
export type ServerStreamHandler = (payload: Uint8Array, ctx: CallContext, stream: ServerStreamSink) => Promise<void>;

export type MethodHandler = { readonly kind: 'unary'; readonly handler: UnaryHandler } | { readonly kind: 'serverStream'; readonly handler: ServerStreamHandler };

/** WebSocket close codes the server sends. */
export const RpcCloseCode = {
  Normal: 1000,
  GoingAway: 1001,
  ProtocolError: 1002,
  MessageTooBig: 1009,
} as const;

interface ServerCall {
  readonly streamId: number;
  readonly method: string;
  readonly kind: MethodHandler['kind'];
  readonly controller: AbortController;
  deadlineTimer: NodeJS.Timeout | undefined;
  ended: boolean;
  /** Handlers waiting in drained(); resolved on drain (true) or end (false). */
  drainWaiters: ((writable: boolean) => void)[];
}

export interface ConnectionEnvironment {
  readonly limits: RpcServerLimits;
  readonly logger: RpcLogger;
  readonly rateLog: RateLimitedLog;
  lookup(method: string): MethodHandler | undefined;
  onClosed(conn: ServerConnection): void;
}

class CallSink implements ServerStreamSink {
  constructor(
    private readonly call: ServerCall,
    private readonly conn: ServerConnection,
  ) {}

  send(payload: Uint8Array): boolean {
    return this.conn.sendStreamMessage(this.call, payload);
  }

  get writable(): boolean {
    return !this.call.ended && !this.conn.isCongested && !this.conn.isClosed;
  }

  drained(): Promise<boolean> {
    if (this.call.ended) return Promise.resolve(false);
    if (!this.conn.isCongested) return Promise.resolve(true);
    return new Promise((resolve) => this.call.drainWaiters.push(resolve));
  }
}

export class ServerConnection {
  private readonly calls = new Map<number, ServerCall>();
  private pendingUnary = 0;
  /** Over the buffer bound: streams refuse sends and reading is paused until the buffer drains. */
  private congested = false;
  private closed = false;
  /** Cleared on each ping; a connection still without a pong at the next ping is dead. */
  alive = true;
  private readonly coalescer: WriteCoalescer;

  constructor(
    private readonly ws: WebSocket,
    readonly principal: Principal,
    readonly peer: string,
    private readonly env: ConnectionEnvironment,
  ) {
    this.coalescer = new WriteCoalescer(ws);
    ws.on('message', (data, isBinary) => this.onFrame(data, isBinary));
    ws.on('pong', () => {
      this.alive = true;
    });
    ws.on('error', (err: Error & { code?: string }) => {
      // Protocol errors, including a frame over maxPayload (ws closes with 1009 itself).
      env.rateLog.log('warn', `conn-error:${peer}`, 'RPC connection error', { peer, error: err.message, code: err.code });
    });
    ws.on('close', (code, reason) => {
      this.closed = true;
      this.endAll({ ...OK_STATUS, code: StatusCode.UNAVAILABLE, message: 'connection closed' }, false);
      env.rateLog.log('info', `conn-close:${peer}`, 'RPC client disconnected', { peer, code, reason: reason.toString() });
      env.onClosed(this);
    });
  }

  /** Over the buffer bound (streams' send() refuses). */
  get isCongested(): boolean {
    return this.congested;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  get openCalls(): number {
    return this.calls.size;
  }

  /** Written to the socket and not yet flushed. */
  get bufferedBytes(): number {
    return this.ws.bufferedAmount;
  }

  /** Sends a ping, or terminates the connection if the previous one went unanswered. */
  keepalive(): void {
    if (!this.alive) {
      this.env.rateLog.log('warn', `conn-dead:${this.peer}`, 'terminating an RPC connection that stopped answering pings', { peer: this.peer });
      this.ws.terminate();
      return;
    }
    this.alive = false;
    this.ws.ping();
  }

  /** Ends every call with `status`, then closes the socket. */
  shutdown(status: WireStatus): void {
    this.endAll(status, true);
    this.closed = true;
    this.ws.close(RpcCloseCode.GoingAway, status.message);
  }

  terminate(): void {
    this.ws.terminate();
  }

  private protocolError(code: number, reason: string, fields: Record<string, unknown>): void {
    this.env.rateLog.log('warn', `protocol:${this.peer}`, 'closing an RPC connection after a protocol error', { peer: this.peer, reason, ...fields });
    this.closed = true;
    this.endAll({ ...OK_STATUS, code: StatusCode.UNAVAILABLE, message: 'connection closed' }, false);
    this.ws.close(code, reason);
  }

  private onFrame(data: RawData, isBinary: boolean): void {
    if (this.closed) return;
    if (!isBinary) {
      this.protocolError(RpcCloseCode.ProtocolError, 'text frame; frames are binary', {});
      return;
    }
    const decoded = decodeClientFrame(rawBytes(data));
    if (!decoded.ok) {
      this.protocolError(RpcCloseCode.ProtocolError, decoded.error.message, { field: decoded.error.field });
      return;
    }
    const frame = decoded.frame;
    if (frame.kind === 'cancel') {
      // A cancel for a stream already ended crossed our end frame on the wire: nothing to do.
      const call = this.calls.get(frame.streamId);
      if (call !== undefined) this.finish(call, { ...OK_STATUS, code: StatusCode.CANCELLED, message: 'cancelled by the client' }, true);
      return;
    }
    if (this.calls.has(frame.streamId)) {
      this.protocolError(RpcCloseCode.ProtocolError, `duplicate stream id ${frame.streamId}`, { streamId: frame.streamId, method: frame.method });
      return;
    }
    this.startCall(frame.streamId, frame.method, frame.payload, frame.timeoutMs);
  }

  private startCall(streamId: number, method: string, payload: Uint8Array, timeoutMs: number): void {
    const { limits } = this.env;
    const refuse = (code: StatusCode, message: string): void => {
      this.write(encodeEnd(streamId, new RpcError(code, message).toStatus()));
    };
    const entry = this.env.lookup(method);
    if (entry === undefined) {
      refuse(StatusCode.UNIMPLEMENTED, `unknown method ${method}`);
      return;
    }
    if (this.calls.size >= limits.maxConcurrentStreamsPerConnection) {
      refuse(StatusCode.RESOURCE_EXHAUSTED, `too many concurrent calls on this connection (limit ${limits.maxConcurrentStreamsPerConnection})`);
      return;
    }
    if (entry.kind === 'unary' && this.pendingUnary >= limits.maxPendingUnaryPerConnection) {
      refuse(StatusCode.RESOURCE_EXHAUSTED, `too many pending unary calls on this connection (limit ${limits.maxPendingUnaryPerConnection})`);
      return;
    }
    const call: ServerCall = { streamId, method, kind: entry.kind, controller: new AbortController(), deadlineTimer: undefined, ended: false, drainWaiters: [] };
    this.calls.set(streamId, call);
    let deadline: number | undefined;
    if (timeoutMs > 0) {
      deadline = Date.now() + timeoutMs;
      call.deadlineTimer = setTimeout(() => {
        call.deadlineTimer = undefined;
        this.finish(call, { ...OK_STATUS, code: StatusCode.DEADLINE_EXCEEDED, message: `deadline of ${timeoutMs} ms exceeded` }, true);
      }, timeoutMs);
    }
    const ctx: CallContext = { method, principal: this.principal, signal: call.controller.signal, peer: this.peer, ...(deadline === undefined ? {} : { deadline }) };
    if (entry.kind === 'unary') {
      this.pendingUnary++;
      void this.runUnary(call, entry.handler, payload, ctx);
    } else {
      void this.runStream(call, entry.handler, payload, ctx);
    }
  }

  private async runUnary(call: ServerCall, handler: UnaryHandler, payload: Uint8Array, ctx: CallContext): Promise<void> {
    try {
      const response = await handler(payload, ctx);
      if (call.ended) return; // cancelled or past its deadline: the client has its answer
      if (response.byteLength > maxPayloadBytes(this.env.limits.maxFrameBytes)) {
        this.finish(call, this.failure(call, new RpcError(StatusCode.RESOURCE_EXHAUSTED, `response of ${response.byteLength} bytes exceeds the frame limit`)), false);
        return;
      }
      this.write(encodeMessage(call.streamId, response));
      this.finish(call, OK_STATUS, false);
    } catch (err) {
      this.finish(call, this.failure(call, err), false);
    } finally {
      this.pendingUnary--;
    }
  }

  private async runStream(call: ServerCall, handler: ServerStreamHandler, payload: Uint8Array, ctx: CallContext): Promise<void> {
    const sink = new CallSink(call, this);
    try {
      await handler(payload, ctx, sink);
      this.finish(call, OK_STATUS, false);
    } catch (err) {
      this.finish(call, this.failure(call, err), false);
    }
  }

  /** For CallSink. */
  sendStreamMessage(call: ServerCall, message: Uint8Array): boolean {
    if (call.ended || this.closed || this.congested) return false;
    if (message.byteLength > maxPayloadBytes(this.env.limits.maxFrameBytes)) {
      this.finish(call, new RpcError(StatusCode.RESOURCE_EXHAUSTED, `stream message of ${message.byteLength} bytes exceeds the frame limit`).toStatus(), true);
      return false;
    }
    this.write(encodeMessage(call.streamId, message));
    return true;
  }

  /** The status a handler's failure is reported as. Anything but an RpcError is our bug: logged, and hidden from the client. */
  private failure(call: ServerCall, err: unknown): WireStatus {
    if (err instanceof RpcError) return err.toStatus();
    this.env.logger.error('RPC handler failed', { method: call.method, peer: this.peer, streamId: call.streamId, error: errorMessage(err), stack: err instanceof Error ? err.stack : undefined });
    return new RpcError(StatusCode.INTERNAL, 'internal error').toStatus();
  }

  /** Ends a call once; `abort` tells a still-running handler to stop (it is false when the handler itself returned). */
  private finish(call: ServerCall, status: WireStatus, abort: boolean): void {
    if (call.ended) return;
    call.ended = true;
    this.calls.delete(call.streamId);
    if (call.deadlineTimer !== undefined) clearTimeout(call.deadlineTimer);
    call.deadlineTimer = undefined;
    this.write(encodeEnd(call.streamId, status));
    if (abort) call.controller.abort(RpcError.fromStatus(status));
    const waiters = call.drainWaiters;
    call.drainWaiters = [];
    for (const w of waiters) w(false);
  }

  private endAll(status: WireStatus, sendEnds: boolean): void {
    for (const call of [...this.calls.values()]) {
      if (sendEnds) {
        this.finish(call, status, true);
      } else {
        call.ended = true;
        this.calls.delete(call.streamId);
        if (call.deadlineTimer !== undefined) clearTimeout(call.deadlineTimer);
        call.controller.abort(RpcError.fromStatus(status));
        for (const w of call.drainWaiters) w(false);
        call.drainWaiters = [];
      }
    }
  }

  private write(frame: Uint8Array): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    this.coalescer.hold();
    const bound = this.env.limits.maxConnectionBufferedBytes;
    if (!this.congested && this.ws.bufferedAmount + frame.byteLength <= bound) {
      this.ws.send(frame);
      return;
    }
    if (!this.congested) {
      this.congested = true;
      // Stop taking new calls from a client that is not reading what we already owe it.
      this.ws.pause();
    }
    this.ws.send(frame, () => this.checkDrained());
  }

  /**
   * Runs as each write made while congested is flushed. The last of them always runs after
   * everything before it, so the buffer cannot stay low without one of these noticing.
   */
  private checkDrained(): void {
    if (!this.congested || this.closed) return;
    if (this.ws.bufferedAmount > this.env.limits.maxConnectionBufferedBytes * BUFFER_LOW_WATER_FRACTION) return;
    this.congested = false;
    this.ws.resume();
    for (const call of this.calls.values()) {
      const waiters = call.drainWaiters;
      call.drainWaiters = [];
      for (const w of waiters) w(true);
    }
  }
}
