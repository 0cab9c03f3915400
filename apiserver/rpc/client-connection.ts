// One open WebSocket from the client to a server: stream ids, the calls waiting on them, and keepalive.

import { WebSocket, type RawData } from 'ws';
import { WriteCoalescer } from './coalesce.js';
import { decodeServerFrame, encodeCall, encodeCancel, rawBytes } from './frame.js';
import type { RpcLogger } from './log.js';
import { RpcError, StatusCode, type WireStatus } from './status.js';

/** Time as the client sees it; inject a fake one in tests. */
export interface RpcClientClock {
  /** Monotonic milliseconds. */
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemRpcClientClock: RpcClientClock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** What a call on a connection hears back. Exactly one of end() and drop() is called, once. */
export interface CallListener {
  message(payload: Uint8Array): void;
  end(status: WireStatus): void;
  /** The connection is gone before the call ended. */
  drop(err: RpcError): void;
}

/** The largest stream id; ids wrap to 1 after it. */
export const MAX_STREAM_ID = 0xffff_ffff;

export class ClientConnection {
  private readonly calls = new Map<number, CallListener>();
  /**
   * Ids increase and wrap only after 2^32 calls, so an end frame for a call we already cancelled
   * cannot be mistaken for the end of a newer call that reuses its id.
   */
  private nextStreamId = 1;
  private keepaliveTimer: unknown;
  private alive = true;
  private dropped = false;
  private readonly coalescer: WriteCoalescer;

  constructor(
    private readonly ws: WebSocket,
    readonly endpoint: string,
    private readonly clock: RpcClientClock,
    private readonly logger: RpcLogger,
    private readonly keepaliveIntervalMs: number,
    private readonly onGone: (conn: ClientConnection) => void,
  ) {
    this.coalescer = new WriteCoalescer(ws);
    ws.on('message', (data, isBinary) => this.onFrame(data, isBinary));
    ws.on('pong', () => {
      this.alive = true;
    });
    ws.on('error', (err) => logger.warn('RPC connection error', { endpoint, error: err.message }));
    ws.on('close', (code, reason) => this.gone(`connection to ${endpoint} closed (${code}${reason.length > 0 ? ` ${reason.toString()}` : ''})`));
    this.scheduleKeepalive();
  }

  get open(): boolean {
    return !this.dropped && this.ws.readyState === WebSocket.OPEN;
  }

  /** Registers `listener` and sends the call. Returns the stream id, for cancel() (0 if nothing was sent). */
  call(method: string, payload: Uint8Array, timeoutMs: number, listener: CallListener): number {
    if (!this.open) {
      // Closed between being handed out and this call: nothing was sent, so the outcome is known.
      listener.drop(new RpcError(StatusCode.UNAVAILABLE, `connection to ${this.endpoint} closed`));
      return 0;
    }
    let id = this.nextStreamId;
    while (this.calls.has(id)) id = id >= MAX_STREAM_ID ? 1 : id + 1;
    this.nextStreamId = id >= MAX_STREAM_ID ? 1 : id + 1;
    this.calls.set(id, listener);
    this.coalescer.hold();
    this.ws.send(encodeCall(id, method, payload, timeoutMs));
    return id;
  }

  /** Forgets the call and tells the server; its end frame, if it crosses ours, is ignored. */
  cancel(streamId: number): void {
    if (!this.calls.delete(streamId) || !this.open) return;
    this.coalescer.hold();
    this.ws.send(encodeCancel(streamId));
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.ws.readyState === WebSocket.CLOSED) {
        this.gone('client closed');
        resolve();
        return;
      }
      this.ws.once('close', () => resolve());
      this.ws.close(1000, 'client closed');
      this.gone('client closed');
    });
  }

  terminate(): void {
    this.ws.terminate();
  }

  private scheduleKeepalive(): void {
    this.keepaliveTimer = this.clock.setTimeout(() => {
      if (this.dropped) return;
      if (!this.alive) {
        this.logger.warn('terminating an RPC connection whose server stopped answering pings', { endpoint: this.endpoint });
        this.ws.terminate();
        return;
      }
      this.alive = false;
      this.ws.ping();
      this.scheduleKeepalive();
    }, this.keepaliveIntervalMs);
  }

  private onFrame(data: RawData, isBinary: boolean): void {
    const decoded = isBinary ? decodeServerFrame(rawBytes(data)) : undefined;
    if (decoded === undefined || !decoded.ok) {
      // A server we cannot understand is one whose stream ids we cannot trust either.
      this.logger.error('closing an RPC connection: the server sent a bad frame', { endpoint: this.endpoint, error: decoded?.error.message ?? 'text frame' });
      this.ws.close(1002, 'bad frame');
      this.gone('the server sent a bad frame');
      return;
    }
    const frame = decoded.frame;
    const listener = this.calls.get(frame.streamId);
    if (listener === undefined) return; // a call we cancelled or gave up on
    if (frame.kind === 'message') {
      listener.message(frame.payload);
      return;
    }
    this.calls.delete(frame.streamId);
    listener.end(frame.status);
  }

  private gone(why: string): void {
    if (this.dropped) return;
    this.dropped = true;
    this.clock.clearTimeout(this.keepaliveTimer);
    const calls = [...this.calls.values()];
    this.calls.clear();
    for (const listener of calls) listener.drop(new RpcError(StatusCode.UNAVAILABLE, why, { outcomeUnknown: true }));
    this.onGone(this);
  }
}
