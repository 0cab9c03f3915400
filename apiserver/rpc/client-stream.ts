// The consumer side of one server stream: an async iterator over a bounded buffer. The server does
// not know how fast the consumer reads, so past the bound the client cancels the stream and the
// consumer, after the messages already buffered, gets RESOURCE_EXHAUSTED (a watcher resumes from
// the last revision it saw).

import { RpcError, StatusCode } from './status.js';

export interface StreamBounds {
  readonly maxBufferedMessages: number;
  readonly maxBufferedBytes: number;
}

/** A server stream as the caller sees it: return() is always there, and cancels the call. */
export interface RpcStream<T> extends AsyncIterableIterator<T, undefined> {
  next(): Promise<IteratorResult<T, undefined>>;
  return(): Promise<IteratorResult<T, undefined>>;
}

type Waiter = { resolve(r: IteratorResult<Uint8Array, undefined>): void; reject(err: unknown): void };

/**
 * The iterator handed to callers. `start` runs on the first next(): it opens the call and returns
 * the function that cancels it.
 */
export class ClientStream implements RpcStream<Uint8Array> {
  private readonly queue: Uint8Array[] = [];
  private queuedBytes = 0;
  /** Set once the call is over: undefined error is a clean end. Buffered messages are delivered first. */
  private outcome: { readonly error: RpcError | undefined } | undefined;
  private waiter: Waiter | undefined;
  private cancel: (() => void) | undefined;
  private started = false;

  constructor(
    private readonly bounds: StreamBounds,
    private readonly start: (stream: ClientStream) => () => void,
  ) {}

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** From the call: one message. */
  push(payload: Uint8Array): void {
    if (this.outcome !== undefined) return;
    if (this.waiter !== undefined) {
      const w = this.waiter;
      this.waiter = undefined;
      w.resolve({ done: false, value: payload });
      return;
    }
    if (this.queue.length >= this.bounds.maxBufferedMessages || this.queuedBytes + payload.byteLength > this.bounds.maxBufferedBytes) {
      this.cancel?.();
      this.finish(
        new RpcError(
          StatusCode.RESOURCE_EXHAUSTED,
          `stream consumer too slow: more than ${this.bounds.maxBufferedMessages} messages or ${this.bounds.maxBufferedBytes} bytes buffered; the stream was cancelled`,
          { reason: 'ConsumerTooSlow' },
        ),
      );
      return;
    }
    this.queue.push(payload);
    this.queuedBytes += payload.byteLength;
  }

  /** From the call: the end (undefined for OK). */
  finish(error: RpcError | undefined): void {
    if (this.outcome !== undefined) return;
    this.outcome = { error };
    this.cancel = undefined;
    if (this.waiter !== undefined && this.queue.length === 0) {
      const w = this.waiter;
      this.waiter = undefined;
      if (error === undefined) w.resolve({ done: true, value: undefined });
      else w.reject(error);
    }
  }

  next(): Promise<IteratorResult<Uint8Array, undefined>> {
    if (!this.started) {
      this.started = true;
      const cancel = this.start(this);
      if (this.outcome === undefined) this.cancel = cancel;
    }
    const head = this.queue.shift();
    if (head !== undefined) {
      this.queuedBytes -= head.byteLength;
      return Promise.resolve({ done: false, value: head });
    }
    if (this.outcome !== undefined) {
      return this.outcome.error === undefined ? Promise.resolve({ done: true, value: undefined }) : Promise.reject(this.outcome.error);
    }
    if (this.waiter !== undefined) return Promise.reject(new Error('next() called again before the previous next() settled'));
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  /** Stops the stream (cancelling the call if it is still open) and drops what is buffered. */
  return(): Promise<IteratorResult<Uint8Array, undefined>> {
    this.started = true;
    this.cancel?.();
    this.cancel = undefined;
    this.queue.length = 0;
    this.queuedBytes = 0;
    if (this.outcome === undefined || this.outcome.error !== undefined) this.outcome = { error: undefined };
    const w = this.waiter;
    this.waiter = undefined;
    w?.resolve({ done: true, value: undefined });
    return Promise.resolve({ done: true, value: undefined });
  }

  throw(err?: unknown): Promise<IteratorResult<Uint8Array, undefined>> {
    void this.return();
    return Promise.reject(err);
  }
}
