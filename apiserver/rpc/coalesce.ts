// Frames sent on one WebSocket in the same tick leave in one write to the kernel. ws writes each
// frame to its net.Socket as its own write (a writev of header and payload), and on this project's
// machines a write to a loopback socket costs 20-80 µs of CPU, most of it the kernel delivering it
// to the peer: a unary answer (a message frame, then an end frame) was two, a watch cache's batch of
// changes one per event per connection. Corking the socket for the rest of the tick (Node counts
// corks, so ws's own cork and uncork around a frame nest inside) turns them into one writev.
// process.nextTick, not setImmediate: the frames leave when the code that wrote them returns, not
// after whatever else the event loop runs in this turn, so batching adds no latency.

import type { WebSocket } from 'ws';

interface Corkable {
  cork(): void;
  uncork(): void;
}

function isCorkable(value: unknown): value is Corkable {
  return typeof value === 'object' && value !== null && typeof Reflect.get(value, 'cork') === 'function' && typeof Reflect.get(value, 'uncork') === 'function';
}

export class WriteCoalescer {
  /** The socket corked for this tick, if any. */
  private corked: Corkable | undefined;
  private readonly release = (): void => {
    const socket = this.corked;
    this.corked = undefined;
    socket?.uncork();
  };

  constructor(private readonly ws: WebSocket) {}

  /** Call before sending: what is sent until the current tick ends is written to the kernel at once. */
  hold(): void {
    if (this.corked !== undefined) return;
    // ws keeps the socket in `_socket` once connected; without one that can be corked, frames go out one by one.
    const socket: unknown = Reflect.get(this.ws, '_socket');
    if (!isCorkable(socket)) return;
    this.corked = socket;
    socket.cork();
    process.nextTick(this.release);
  }
}
