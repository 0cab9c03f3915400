// The sending half of the peer transport: one link per peer, each with a bounded queue, a
// connection it dials (and redials: at once after losing an open one, then with backoff), a
// keepalive, and the snapshots it streams. A dial refused outright (ECONNREFUSED) is reported as
// the peer being down.
//
// Invariants per link:
// - queue.length <= maxQueuedMessagesPerPeer and queue.bytes <= maxQueuedBytesPerPeer;
//   snapshots.length <= maxQueuedSnapshotsPerPeer.
// - Messages leave in queue order; regular messages go before the next snapshot chunk.
// - Every snapshot accepted into `snapshots` is settled exactly once (see settleSnapshot).

import { WebSocket } from 'ws';
import { isLocalMessage, MessageType, type Message, type NodeId } from '../core/types.js';
import { peerHandshakeHeaders } from './transport-auth.js';
import {
  encodeMessagesFrame,
  encodeSnapshotBeginFrame,
  encodeSnapshotChunkFrame,
  estimateMessageBytes,
  type MessageWithSnapshot,
} from './transport-codec.js';
import { errorMessage, type TransportContext } from './transport-context.js';
import { TransportConfigError } from './transport-errors.js';
import { reconnectDelayMs } from './transport-limits.js';
import { zeroMask } from './ws-mask.js';

/** Largest frame accepted on a send-only connection: the acceptor never sends any. */
export const OUTBOUND_MAX_INCOMING_BYTES = 64 * 1024;

/** A point-in-time view of one outbound peer, for status pages and tests. */
export interface PeerLinkStats {
  readonly url: string;
  readonly connected: boolean;
  readonly queuedMessages: number;
  readonly queuedBytes: number;
  readonly queuedSnapshots: number;
  /** Messages dropped since addPeer (queue full, or too large for a frame). */
  readonly droppedMessages: number;
  readonly reconnectAttempt: number;
}

/** Where the outbound half reports; the facade defers these to a microtask. */
export interface OutboundReports {
  unreachable(peer: NodeId): void;
  /** A dial was refused: nothing listens on the peer's port, so its process is gone. */
  peerDown(peer: NodeId): void;
  snapshotStatus(peer: NodeId, ok: boolean): void;
}

export interface DialIdentity {
  readonly clusterId: string;
  readonly clusterToken: string | undefined;
}

interface QueuedMessage {
  readonly message: Message;
  readonly bytes: number;
}

/** FIFO of one peer's messages with byte accounting; taken slots are released at once. */
class OutboundQueue {
  private slots: (QueuedMessage | undefined)[] = [];
  private head = 0;
  bytes = 0;

  get length(): number {
    return this.slots.length - this.head;
  }

  push(message: Message, bytes: number): void {
    this.slots.push({ message, bytes });
    this.bytes += bytes;
  }

  /** Messages from the front whose estimated size stays within maxBytes; at least one. */
  take(maxBytes: number): Message[] {
    const out: Message[] = [];
    let size = 0;
    while (this.head < this.slots.length) {
      const q = this.slots[this.head]!;
      if (out.length > 0 && size + q.bytes > maxBytes) break;
      out.push(q.message);
      size += q.bytes;
      this.bytes -= q.bytes;
      this.slots[this.head++] = undefined;
    }
    if (this.head === this.slots.length) {
      this.slots = [];
      this.head = 0;
    } else if (this.head * 2 >= this.slots.length) {
      this.slots = this.slots.slice(this.head);
      this.head = 0;
    }
    return out;
  }

  clear(): void {
    this.slots = [];
    this.head = 0;
    this.bytes = 0;
  }
}

const SnapshotPhase = {
  /** Not started; waits for a connection and for the snapshot before it. */
  Waiting: 'waiting',
  Streaming: 'streaming',
  /** Last frame handed to the socket; waiting for its write callback. */
  Flushing: 'flushing',
  Settled: 'settled',
} as const;
type SnapshotPhase = (typeof SnapshotPhase)[keyof typeof SnapshotPhase];

interface OutgoingSnapshot {
  readonly message: MessageWithSnapshot;
  phase: SnapshotPhase;
  stream: number;
  /** Bytes of snapshot.data already handed to the socket. */
  offset: number;
}

interface OutboundConnection {
  readonly ws: WebSocket;
  open: boolean;
  /** Snapshot stream ids are per connection; the receiver forgets streams with the connection. */
  nextStream: number;
  dialTimer: unknown;
  keepaliveTimer: unknown;
  pingSentAt: number | undefined;
  lastError: string | undefined;
  /** clock.now() when the connection opened. */
  openedAt: number;
  /** The dial failed with ECONNREFUSED. */
  refused: boolean;
}

/**
 * Whether a dial error means nothing listens on the port. Node reports a refused connection to a
 * name with several addresses (localhost: ::1 and 127.0.0.1) as an AggregateError of them.
 */
export function isConnectionRefused(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err instanceof AggregateError && err.errors.length > 0) return err.errors.every(isConnectionRefused);
  return (err as NodeJS.ErrnoException).code === 'ECONNREFUSED';
}

class PeerLink {
  conn: OutboundConnection | undefined = undefined;
  reconnectTimer: unknown = undefined;
  reconnectAttempt = 0;
  readonly queue = new OutboundQueue();
  /** In order; only the first may be past Waiting. */
  snapshots: OutgoingSnapshot[] = [];
  droppedMessages = 0;
  pumpScheduled = false;
  removed = false;

  constructor(
    readonly id: NodeId,
    public url: string,
  ) {}
}

export class OutboundPeers {
  private readonly links = new Map<NodeId, PeerLink>();

  constructor(
    private readonly ctx: TransportContext,
    private readonly identity: DialIdentity,
    private readonly random: () => number,
    private readonly report: OutboundReports,
  ) {}

  // ---- peers ----------------------------------------------------------------------------------

  addPeer(id: NodeId, url: string): void {
    if (!Number.isSafeInteger(id) || id <= 0) throw new TransportConfigError('peer id', `must be a positive safe integer, got ${id}`);
    if (id === this.ctx.id) throw new TransportConfigError('peer id', `${id} is this node`);
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new TransportConfigError('peer url', `${JSON.stringify(url)} is not a URL`);
    }
    if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') throw new TransportConfigError('peer url', `${JSON.stringify(url)} must use ws: or wss:`);
    const existing = this.links.get(id);
    if (existing !== undefined) {
      if (existing.url === url) return;
      existing.url = url;
      existing.reconnectAttempt = 0;
      if (existing.conn !== undefined) {
        // The close handler fails its snapshots and schedules the dial to the new address.
        existing.conn.ws.terminate();
      } else {
        if (existing.reconnectTimer !== undefined) this.ctx.clock.clearTimeout(existing.reconnectTimer);
        this.dial(existing);
      }
      return;
    }
    const link = new PeerLink(id, url);
    this.links.set(id, link);
    this.dial(link);
  }

  removePeer(id: NodeId): void {
    const link = this.links.get(id);
    if (link === undefined) return;
    this.links.delete(id);
    this.shutDown(link);
  }

  /** Stops every link; snapshots are settled (the facade no longer reports once closed). */
  close(): void {
    for (const link of this.links.values()) this.shutDown(link);
    this.links.clear();
  }

  private shutDown(link: PeerLink): void {
    link.removed = true;
    if (link.reconnectTimer !== undefined) this.ctx.clock.clearTimeout(link.reconnectTimer);
    link.reconnectTimer = undefined;
    link.queue.clear();
    this.failSnapshots(link);
    const conn = link.conn;
    link.conn = undefined;
    if (conn !== undefined) {
      this.clearTimers(conn);
      conn.ws.terminate();
    }
  }

  stats(id: NodeId): PeerLinkStats | undefined {
    const link = this.links.get(id);
    if (link === undefined) return undefined;
    return {
      url: link.url,
      connected: link.conn?.open === true,
      queuedMessages: link.queue.length,
      queuedBytes: link.queue.bytes,
      queuedSnapshots: link.snapshots.length,
      droppedMessages: link.droppedMessages,
      reconnectAttempt: link.reconnectAttempt,
    };
  }

  // ---- connections ----------------------------------------------------------------------------

  private dial(link: PeerLink): void {
    link.reconnectTimer = undefined;
    const { ctx } = this;
    if (ctx.isClosed() || link.removed) return;
    let ws: WebSocket;
    try {
      ws = new WebSocket(link.url, {
        headers: peerHandshakeHeaders({ from: ctx.id, to: link.id, ...this.identity }),
        perMessageDeflate: false,
        followRedirects: false,
        maxPayload: OUTBOUND_MAX_INCOMING_BYTES,
        generateMask: zeroMask,
      });
    } catch (err) {
      ctx.rateLog.log('error', `dial:${link.id}`, 'cannot dial peer', { peer: link.id, url: link.url, error: errorMessage(err) });
      this.scheduleReconnect(link);
      return;
    }
    const conn: OutboundConnection = {
      ws, open: false, nextStream: 1, dialTimer: undefined, keepaliveTimer: undefined, pingSentAt: undefined, lastError: undefined, openedAt: 0, refused: false,
    };
    link.conn = conn;
    ctx.sockets.track(ws);
    conn.dialTimer = ctx.clock.setTimeout(() => {
      conn.dialTimer = undefined;
      if (conn.open) return;
      conn.lastError = `no connection within ${ctx.limits.dialTimeoutMs} ms`;
      ws.terminate();
    }, ctx.limits.dialTimeoutMs);
    ws.on('open', () => this.onOpen(link, conn));
    ws.on('error', (err) => {
      conn.lastError = err.message;
      if (!conn.open && isConnectionRefused(err)) conn.refused = true;
    });
    ws.on('pong', () => {
      conn.pingSentAt = undefined;
    });
    ws.on('message', () => {
      ctx.rateLog.log('warn', `outbound-frame:${link.id}`, 'peer sent a frame on a send-only connection; reconnecting', { peer: link.id });
      ws.terminate();
    });
    ws.on('close', (code, reason) => this.onClose(link, conn, code, reason.toString()));
  }

  private onOpen(link: PeerLink, conn: OutboundConnection): void {
    if (conn.dialTimer !== undefined) this.ctx.clock.clearTimeout(conn.dialTimer);
    conn.dialTimer = undefined;
    if (this.ctx.isClosed() || link.conn !== conn) {
      conn.ws.terminate();
      return;
    }
    conn.open = true;
    conn.openedAt = this.ctx.clock.now();
    link.reconnectAttempt = 0;
    this.ctx.rateLog.log('info', `connect:${link.id}`, 'connected to peer', { peer: link.id, url: link.url });
    this.scheduleKeepalive(link, conn);
    this.pump(link);
  }

  private scheduleKeepalive(link: PeerLink, conn: OutboundConnection): void {
    const { clock, limits } = this.ctx;
    conn.keepaliveTimer = clock.setTimeout(() => {
      conn.keepaliveTimer = undefined;
      if (link.conn !== conn || conn.ws.readyState !== WebSocket.OPEN) return;
      const now = clock.now();
      if (conn.pingSentAt !== undefined && now - conn.pingSentAt >= limits.keepaliveTimeoutMs) {
        conn.lastError = `no pong within ${limits.keepaliveTimeoutMs} ms`;
        conn.ws.terminate();
        return;
      }
      if (conn.pingSentAt === undefined) {
        conn.pingSentAt = now;
        conn.ws.ping();
      }
      this.scheduleKeepalive(link, conn);
    }, limits.keepaliveIntervalMs);
  }

  private clearTimers(conn: OutboundConnection): void {
    if (conn.dialTimer !== undefined) this.ctx.clock.clearTimeout(conn.dialTimer);
    if (conn.keepaliveTimer !== undefined) this.ctx.clock.clearTimeout(conn.keepaliveTimer);
    conn.dialTimer = undefined;
    conn.keepaliveTimer = undefined;
  }

  private onClose(link: PeerLink, conn: OutboundConnection, code: number, reason: string): void {
    this.clearTimers(conn);
    this.ctx.sockets.untrack(conn.ws);
    if (link.conn !== conn) return;
    link.conn = undefined;
    this.failSnapshots(link);
    if (this.ctx.isClosed() || link.removed) return;
    if (conn.open) {
      // The peer was there a moment ago: redial at once (no backoff for this first attempt), so
      // a peer whose process died is known within a round trip (the redial is refused).
      const immediate = this.ctx.clock.now() - conn.openedAt >= this.ctx.limits.immediateRedialMinOpenMs;
      this.ctx.rateLog.log('info', `disconnect:${link.id}`, 'lost the connection to peer', { peer: link.id, code, reason, error: conn.lastError, redialAtOnce: immediate });
      // Frames handed to the socket may be lost with it: Raft must stop assuming its pipeline.
      this.report.unreachable(link.id);
      this.scheduleReconnect(link, immediate);
      return;
    }
    this.ctx.rateLog.log('warn', `dial:${link.id}`, 'cannot connect to peer', { peer: link.id, url: link.url, error: conn.lastError, attempt: link.reconnectAttempt });
    if (conn.refused) {
      // Nothing listens on the peer's port. A timeout or a reset proves nothing (a partition, a
      // paused process); a refusal means the process is gone (or a REJECT rule: Raft decides).
      this.ctx.rateLog.log('warn', `peer-down:${link.id}`, 'peer refused the connection; reporting it down', { peer: link.id, url: link.url });
      this.report.peerDown(link.id);
    }
    this.scheduleReconnect(link, false);
  }

  /** An immediate attempt does not count towards the backoff: the next failure waits attempt 0's delay. */
  private scheduleReconnect(link: PeerLink, immediate = false): void {
    if (this.ctx.isClosed() || link.removed || link.reconnectTimer !== undefined) return;
    let delay = 0;
    if (!immediate) {
      delay = reconnectDelayMs(link.reconnectAttempt, this.ctx.limits, this.random);
      link.reconnectAttempt++;
    }
    link.reconnectTimer = this.ctx.clock.setTimeout(() => this.dial(link), delay);
  }

  // ---- messages -------------------------------------------------------------------------------

  send(messages: readonly Message[]): void {
    const { ctx } = this;
    const unreachable = new Set<NodeId>();
    for (const m of messages) {
      if (isLocalMessage(m.type) || m.to === ctx.id || (m.from !== ctx.id && m.type !== MessageType.TransferLeader)) {
        ctx.rateLog.log('error', `send-invalid:${m.type}`, 'refusing to send a message that no peer would accept', { type: m.type, from: m.from, to: m.to });
        continue;
      }
      const link = this.links.get(m.to);
      if (link === undefined) {
        ctx.rateLog.log('warn', `send-unknown:${m.to}`, 'no address for peer; message dropped', { peer: m.to, type: m.type });
        if (m.type === MessageType.Snap) this.report.snapshotStatus(m.to, false);
        unreachable.add(m.to);
        continue;
      }
      if (m.type === MessageType.Snap) this.enqueueSnapshot(link, m);
      else if (!this.enqueueMessage(link, m)) unreachable.add(m.to);
    }
    for (const peer of unreachable) this.report.unreachable(peer);
  }

  /** False when the message was dropped. */
  private enqueueMessage(link: PeerLink, m: Message): boolean {
    const { limits } = this.ctx;
    const bytes = estimateMessageBytes(m);
    if (link.queue.length >= limits.maxQueuedMessagesPerPeer || link.queue.bytes + bytes > limits.maxQueuedBytesPerPeer) {
      link.droppedMessages++;
      this.ctx.rateLog.log('warn', `queue-full:${link.id}`, 'send queue full; dropping messages for peer', {
        peer: link.id,
        connected: link.conn?.open === true,
        queuedMessages: link.queue.length,
        queuedBytes: link.queue.bytes,
        droppedMessages: link.droppedMessages,
      });
      return false;
    }
    link.queue.push(m, bytes);
    this.schedulePump(link);
    return true;
  }

  private enqueueSnapshot(link: PeerLink, m: Message): void {
    const { limits } = this.ctx;
    const refuse = (reason: string, fields: Record<string, unknown>): void => {
      this.ctx.rateLog.log('error', `snapshot-refused:${link.id}`, `snapshot not sent: ${reason}`, { peer: link.id, ...fields });
      this.report.snapshotStatus(link.id, false);
    };
    if (m.snapshot === undefined) return refuse('the snap message carries no snapshot', {});
    const bytes = m.snapshot.data.byteLength;
    if (bytes > limits.maxSnapshotBytes) return refuse('larger than maxSnapshotBytes', { bytes, maxSnapshotBytes: limits.maxSnapshotBytes });
    if (link.snapshots.length >= limits.maxQueuedSnapshotsPerPeer) return refuse('too many snapshots queued for this peer', { queued: link.snapshots.length });
    link.snapshots.push({ message: { ...m, snapshot: m.snapshot }, phase: SnapshotPhase.Waiting, stream: 0, offset: 0 });
    this.schedulePump(link);
  }

  /** Pumps on a microtask, so that messages of several send() calls in one turn share a frame. */
  private schedulePump(link: PeerLink): void {
    if (link.pumpScheduled) return;
    link.pumpScheduled = true;
    queueMicrotask(() => {
      link.pumpScheduled = false;
      this.pump(link);
    });
  }

  /**
   * Hands frames to the socket while it holds less than sendHighWaterBytes unsent (ws
   * bufferedAmount). Above it, messages wait in the bounded queue, so a slow peer shows as a full
   * queue rather than as unbounded socket buffers. Regular messages go before the next snapshot
   * chunk, so a heartbeat waits at most for the buffered bytes to drain. Re-entered from each
   * frame's write callback, so a draining socket is refilled.
   */
  private pump(link: PeerLink): void {
    const conn = link.conn;
    if (this.ctx.isClosed() || link.removed || conn === undefined || !conn.open) return;
    const ws = conn.ws;
    while (ws.readyState === WebSocket.OPEN && ws.bufferedAmount < this.ctx.limits.sendHighWaterBytes) {
      if (link.queue.length > 0) {
        this.writeMessages(link, conn, link.queue.take(this.ctx.limits.maxBatchBytes));
        continue;
      }
      const snap = link.snapshots[0];
      if (snap !== undefined && (snap.phase === SnapshotPhase.Waiting || snap.phase === SnapshotPhase.Streaming)) {
        this.writeSnapshotFrame(link, conn, snap);
        continue;
      }
      return;
    }
  }

  private writeMessages(link: PeerLink, conn: OutboundConnection, batch: readonly Message[]): void {
    const { limits } = this.ctx;
    const frame = encodeMessagesFrame(batch);
    if (frame.byteLength > limits.maxFrameBytes) {
      if (batch.length > 1) {
        // The size estimate was off: split, keeping the order.
        const half = Math.ceil(batch.length / 2);
        this.writeMessages(link, conn, batch.slice(0, half));
        this.writeMessages(link, conn, batch.slice(half));
        return;
      }
      link.droppedMessages++;
      this.ctx.logger.error('a message is larger than a frame may be; dropped', { peer: link.id, type: batch[0]?.type, bytes: frame.byteLength, maxFrameBytes: limits.maxFrameBytes });
      this.report.unreachable(link.id);
      return;
    }
    conn.ws.send(frame, (err) => this.onWritten(link, conn, err));
  }

  private writeSnapshotFrame(link: PeerLink, conn: OutboundConnection, snap: OutgoingSnapshot): void {
    const data = snap.message.snapshot.data;
    let frame: Uint8Array;
    if (snap.phase === SnapshotPhase.Waiting) {
      snap.phase = SnapshotPhase.Streaming;
      snap.stream = conn.nextStream++;
      frame = encodeSnapshotBeginFrame(snap.stream, snap.message);
      if (frame.byteLength > this.ctx.limits.maxFrameBytes) {
        this.ctx.logger.error('snapshot metadata does not fit in a frame', { peer: link.id, bytes: frame.byteLength });
        this.settleSnapshot(link, snap, false);
        return;
      }
    } else {
      const end = Math.min(snap.offset + this.ctx.limits.snapshotChunkBytes, data.byteLength);
      frame = encodeSnapshotChunkFrame(snap.stream, snap.offset, data.subarray(snap.offset, end));
      snap.offset = end;
    }
    if (snap.offset < data.byteLength) {
      conn.ws.send(frame, (err) => this.onWritten(link, conn, err));
      return;
    }
    snap.phase = SnapshotPhase.Flushing;
    conn.ws.send(frame, (err) => {
      // Success means the last byte reached the kernel. A failure is also seen by the close
      // handler; settling is idempotent.
      this.settleSnapshot(link, snap, err === undefined || err === null);
      this.onWritten(link, conn, err);
    });
  }

  private onWritten(link: PeerLink, conn: OutboundConnection, err: Error | undefined | null): void {
    if (err !== undefined && err !== null) return; // the close handler deals with a broken connection
    if (link.conn === conn) this.pump(link);
  }

  /** Reports a snapshot's outcome, once; removes it from the link. */
  private settleSnapshot(link: PeerLink, snap: OutgoingSnapshot, ok: boolean): void {
    if (snap.phase === SnapshotPhase.Settled) return;
    snap.phase = SnapshotPhase.Settled;
    link.snapshots = link.snapshots.filter((s) => s !== snap);
    const { metadata, data } = snap.message.snapshot;
    if (ok) this.ctx.logger.info('sent a snapshot', { peer: link.id, index: metadata.index, term: metadata.term, bytes: data.byteLength });
    else this.ctx.rateLog.log('warn', `snapshot-failed:${link.id}`, 'snapshot not delivered', { peer: link.id, index: metadata.index, sentBytes: snap.offset, bytes: data.byteLength });
    this.report.snapshotStatus(link.id, ok);
  }

  /**
   * Connection gone (dial failed, connection lost, peer removed): every snapshot for the peer
   * fails, waiting ones included, so a leader never waits on a peer it cannot reach; Raft sends a
   * fresh snapshot once the peer answers again.
   */
  private failSnapshots(link: PeerLink): void {
    for (const snap of [...link.snapshots]) this.settleSnapshot(link, snap, false);
  }
}
