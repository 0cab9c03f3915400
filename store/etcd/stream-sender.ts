// Writes responses to a bidi gRPC stream with bounded buffering. grpc-js buffers whatever is
// written until the client reads it, so a client that stops reading would otherwise grow memory
// without end. Producers of responses (watch pumps) write one response, then wait for room(); and
// when the buffer reaches its bound the stream stops reading requests (which is what makes
// request-driven responses, such as watch creates, grow it), until the client catches up. The
// buffer therefore holds at most maxPending responses plus one per producer.

import type { ServerDuplexStream } from '@grpc/grpc-js';

/** Responses written to one stream and not yet taken by the connection, before the stream stops reading requests. */
export const MAX_STREAM_PENDING_RESPONSES = 256;

export class StreamSender<Response> {
  private closed = false;
  private readingPaused = false;
  private waiters: (() => void)[] = [];

  /**
   * pauseReading: false for a stream whose requests each wait for room before they are answered
   * (its buffer cannot pass the bound by more than one), and which paces its reading itself.
   */
  constructor(
    private readonly call: ServerDuplexStream<unknown, Response>,
    private readonly options: { readonly maxPending?: number; readonly pauseReading?: boolean } = {},
  ) {
    this.maxPending = options.maxPending ?? MAX_STREAM_PENDING_RESPONSES;
    call.on('drain', () => this.onDrain());
  }

  private readonly maxPending: number;

  get isClosed(): boolean {
    return this.closed;
  }

  private get hasRoom(): boolean {
    return this.call.writableLength < this.maxPending;
  }

  /** Writes at once, so responses leave in the order of send() calls. A no-op once closed. */
  send(response: Response): void {
    if (this.closed) return;
    this.call.write(response);
    if (!this.hasRoom && !this.readingPaused && this.options.pauseReading !== false) {
      this.readingPaused = true;
      this.call.pause();
    }
  }

  /** Resolves when the buffer is below its bound again, or the stream is closed. */
  room(): Promise<void> {
    if (this.closed || this.hasRoom) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private onDrain(): void {
    if (this.readingPaused) {
      this.readingPaused = false;
      this.call.resume();
    }
    this.wake();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve();
  }

  /** No more writes; every waiter is released. */
  close(): void {
    this.closed = true;
    this.wake();
  }
}
