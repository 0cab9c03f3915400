// One etcd LeaseKeepAlive stream. Requests are answered one at a time, in order, as etcd does: each
// resets its lease's deadline at the leader and is answered with the lease's TTL, or with TTL 0
// when the lease does not exist (clientv3 reads TTL <= 0 as ErrLeaseNotFound). Any other failure
// (no leader, the member stopping) ends the stream with its status; clientv3 then opens a new one.
// A half-close ends the stream with OK once the requests before it are answered.

import type { ServerDuplexStream } from '@grpc/grpc-js';
import type { Backend } from '../backend.js';
import { LeaseNotFoundError } from '../mvcc/errors.js';
import { serviceError, statusOf } from './errors.js';
import { readLeaseId } from './requests.js';
import { type WireHeader, wireHeader } from './responses.js';
import { StreamSender } from './stream-sender.js';

/** Requests read from one stream and not yet answered; past it the stream stops reading. */
export const MAX_PENDING_KEEPALIVES_PER_STREAM = 64;

export interface WireLeaseKeepAliveResponse {
  readonly header: WireHeader;
  readonly ID: string;
  readonly TTL: number;
}

export class KeepAliveStream {
  private readonly sender: StreamSender<WireLeaseKeepAliveResponse>;
  private readonly queue: unknown[] = [];
  private readingPaused = false;
  private running = false;
  private halfClosed = false;
  private closed = false;

  constructor(
    private readonly call: ServerDuplexStream<unknown, WireLeaseKeepAliveResponse>,
    private readonly backend: Backend,
  ) {
    // Each answer waits for room before the next request is taken, so this sender never pauses reading.
    this.sender = new StreamSender(call, { pauseReading: false });
    call.on('data', (message: unknown) => {
      this.queue.push(message);
      if (this.queue.length >= MAX_PENDING_KEEPALIVES_PER_STREAM && !this.readingPaused) {
        this.readingPaused = true;
        call.pause();
      }
      void this.run();
    });
    call.on('end', () => {
      this.halfClosed = true;
      void this.run();
    });
    call.on('cancelled', () => this.close());
    call.on('close', () => this.close());
    call.on('error', () => this.close());
  }

  private async run(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      for (let message = this.queue.shift(); message !== undefined && !this.closed; message = this.queue.shift()) {
        if (this.readingPaused && this.queue.length < MAX_PENDING_KEEPALIVES_PER_STREAM) {
          this.readingPaused = false;
          this.call.resume();
        }
        await this.answer(message);
      }
      if (this.halfClosed && !this.closed && this.queue.length === 0) {
        this.close();
        this.call.end();
      }
    } catch (error) {
      if (!this.closed) {
        this.close();
        this.call.emit('error', serviceError(statusOf(error)));
      }
    } finally {
      this.running = false;
    }
  }

  private async answer(message: unknown): Promise<void> {
    const { id, echo } = readLeaseId(message);
    let ttl = 0;
    if (id !== undefined) {
      try {
        ttl = await this.backend.leaseKeepAlive(id);
      } catch (error) {
        if (!(error instanceof LeaseNotFoundError)) throw error;
      }
    }
    if (this.closed) return;
    this.sender.send({ header: wireHeader(this.backend.header()), ID: echo, TTL: ttl });
    await this.sender.room();
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue.length = 0;
    this.sender.close();
  }
}
