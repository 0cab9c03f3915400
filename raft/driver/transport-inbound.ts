// The receiving half of the peer transport: authenticates upgrade requests, reads frames from the
// connections peers dialed to us, validates them, reassembles snapshot streams, and hands whole
// messages to the Raft node. Nothing a peer sends can throw out of here or grow memory beyond
// one frame plus one snapshot (of at most maxSnapshotBytes) per member.

import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { Message, NodeId, SnapshotMetadata } from '../core/types.js';
import type { PeerAuthenticator } from './transport-auth.js';
import { decodePeerFrame, FrameKind, type DecodedFrame, type FrameContext } from './transport-codec.js';
import { errorMessage, type TransportContext } from './transport-context.js';
import { HandshakeRejectReason, PeerHandshakeError } from './transport-errors.js';

/** WebSocket close codes the acceptor sends. */
export const InboundCloseCode = {
  PolicyViolation: 1008,
  Replaced: 4000,
  NotMember: 4001,
} as const;

interface SnapshotAssembly {
  readonly stream: number;
  readonly message: Message;
  readonly metadata: SnapshotMetadata;
  /** Allocated at the announced size (bounded by maxSnapshotBytes), filled in order. */
  readonly data: Uint8Array;
  received: number;
  idleTimer: unknown;
}

interface InboundConnection {
  readonly ws: WebSocket;
  readonly peer: NodeId;
  readonly remoteAddress: string;
  readonly frameContext: FrameContext;
  /** False once replaced, closed or retired: late events from its socket are ignored. */
  current: boolean;
  badFrames: number;
  lastActivityAt: number;
  watchdog: unknown;
  /** At most one stream per connection: the dialer sends snapshots one after another. */
  assembly: SnapshotAssembly | undefined;
}

type BeginFrame = Extract<DecodedFrame, { kind: typeof FrameKind.SnapshotBegin }>;
type ChunkFrame = Extract<DecodedFrame, { kind: typeof FrameKind.SnapshotChunk }>;

function rawBytes(data: RawData): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return data;
}

/** Answers a refused upgrade with a bare HTTP status; the reason stays in our log. */
function refuseUpgrade(socket: Duplex, status: number): void {
  socket.on('error', () => {}); // the dialer may already be gone; there is nothing left to do
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const text = STATUS_CODES[status] ?? 'Refused';
  socket.once('finish', () => socket.destroy());
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`);
}

export class InboundPeers {
  private readonly wss: WebSocketServer;
  /** Invariant: at most one current connection per peer; a newer one replaces it. */
  private readonly connections = new Map<NodeId, InboundConnection>();

  constructor(
    private readonly ctx: TransportContext,
    private readonly auth: PeerAuthenticator,
    private readonly deliver: (m: Message) => void,
  ) {
    this.wss = new WebSocketServer({ noServer: true, clientTracking: false, perMessageDeflate: false, maxPayload: ctx.limits.maxFrameBytes });
  }

  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const remoteAddress = `${request.socket.remoteAddress ?? '?'}:${request.socket.remotePort ?? '?'}`;
    const verdict = this.ctx.isClosed()
      ? new PeerHandshakeError(HandshakeRejectReason.Closed, 503, undefined)
      : this.auth.verify(request.headers, (id) => this.ctx.isMember(id));
    if (verdict instanceof PeerHandshakeError) {
      this.ctx.rateLog.log('warn', `handshake:${verdict.reason}`, 'refused a peer connection', {
        reason: verdict.reason,
        status: verdict.status,
        claimedPeer: verdict.claimedPeer,
        remoteAddress,
        ...(verdict.detail === undefined ? {} : { detail: verdict.detail }),
      });
      refuseUpgrade(socket, verdict.status);
      return;
    }
    try {
      this.wss.handleUpgrade(request, socket, head, (ws) => this.accept(ws, verdict, remoteAddress));
    } catch (err) {
      this.ctx.rateLog.log('warn', 'handshake:upgrade', 'peer upgrade failed', { peer: verdict, remoteAddress, error: errorMessage(err) });
      socket.destroy();
    }
  }

  /** Closes the connections of peers that are no longer members. */
  closeNonMembers(): void {
    for (const conn of [...this.connections.values()]) {
      if (this.ctx.isMember(conn.peer)) continue;
      this.ctx.logger.info('closing the connection of a peer that is no longer a member', { peer: conn.peer });
      this.retire(conn);
      conn.ws.close(InboundCloseCode.NotMember, 'not a member');
    }
  }

  close(): void {
    for (const conn of [...this.connections.values()]) {
      this.retire(conn);
      conn.ws.terminate();
    }
    this.wss.close();
  }

  private accept(ws: WebSocket, peer: NodeId, remoteAddress: string): void {
    if (this.ctx.isClosed()) {
      ws.terminate();
      return;
    }
    const { ctx } = this;
    ctx.sockets.track(ws);
    const previous = this.connections.get(peer);
    if (previous !== undefined) {
      // The peer dialed again, so it has given up on the old connection (restart, or its keepalive
      // expired): anything still arriving there is stale.
      this.retire(previous);
      previous.ws.close(InboundCloseCode.Replaced, 'replaced by a newer connection');
    }
    const conn: InboundConnection = {
      ws,
      peer,
      remoteAddress,
      frameContext: { self: ctx.id, peer, isMember: (id) => ctx.isMember(id), maxSnapshotBytes: ctx.limits.maxSnapshotBytes },
      current: true,
      badFrames: 0,
      lastActivityAt: ctx.clock.now(),
      watchdog: undefined,
      assembly: undefined,
    };
    this.connections.set(peer, conn);
    ws.on('message', (data, isBinary) => this.onFrame(conn, data, isBinary));
    ws.on('ping', () => {
      conn.lastActivityAt = ctx.clock.now();
    });
    ws.on('error', (err: Error & { code?: string }) => {
      // Protocol errors, including a frame over maxPayload (1009); ws closes the connection itself.
      ctx.rateLog.log('warn', `inbound-error:${peer}`, 'peer connection error', { peer, remoteAddress, error: err.message, code: err.code });
    });
    ws.on('close', (code, reason) => {
      if (conn.current) {
        ctx.rateLog.log('info', `inbound-close:${peer}`, 'peer disconnected', { peer, code, reason: reason.toString() });
        this.retire(conn);
      }
      ctx.sockets.untrack(ws);
    });
    this.scheduleWatchdog(conn);
    ctx.rateLog.log('info', `inbound-open:${peer}`, 'peer connected', { peer, remoteAddress });
  }

  private scheduleWatchdog(conn: InboundConnection): void {
    const { clock, limits } = this.ctx;
    conn.watchdog = clock.setTimeout(() => {
      conn.watchdog = undefined;
      if (!conn.current) return;
      const idleMs = clock.now() - conn.lastActivityAt;
      if (idleMs >= limits.inboundIdleTimeoutMs) {
        this.ctx.rateLog.log('warn', `inbound-idle:${conn.peer}`, 'closing a silent peer connection', { peer: conn.peer, idleMs });
        this.retire(conn);
        conn.ws.terminate();
        return;
      }
      this.scheduleWatchdog(conn);
    }, limits.keepaliveIntervalMs);
  }

  /** Forgets a connection and its timers (the caller closes its socket). Idempotent. */
  private retire(conn: InboundConnection): void {
    conn.current = false;
    if (conn.watchdog !== undefined) this.ctx.clock.clearTimeout(conn.watchdog);
    conn.watchdog = undefined;
    if (conn.assembly !== undefined) {
      this.ctx.logger.info('dropped an incomplete snapshot stream: its connection ended', {
        peer: conn.peer,
        stream: conn.assembly.stream,
        received: conn.assembly.received,
        totalBytes: conn.assembly.data.byteLength,
      });
      this.dropAssembly(conn);
    }
    if (this.connections.get(conn.peer) === conn) this.connections.delete(conn.peer);
  }

  private onFrame(conn: InboundConnection, data: RawData, isBinary: boolean): void {
    if (!conn.current) return;
    conn.lastActivityAt = this.ctx.clock.now();
    if (!isBinary) {
      this.badFrame(conn, 'frame', 'is a text frame; peers send binary frames only');
      return;
    }
    const decoded = decodePeerFrame(rawBytes(data), conn.frameContext);
    if (!decoded.ok) {
      this.badFrame(conn, decoded.error.field, decoded.error.reason);
      return;
    }
    const frame = decoded.frame;
    switch (frame.kind) {
      case FrameKind.Messages:
        for (const m of frame.messages) this.deliver(m);
        return;
      case FrameKind.SnapshotBegin:
        this.beginSnapshot(conn, frame);
        return;
      case FrameKind.SnapshotChunk:
        this.addChunk(conn, frame);
        return;
    }
  }

  private badFrame(conn: InboundConnection, field: string, reason: string): void {
    conn.badFrames++;
    this.ctx.rateLog.log('warn', `bad-frame:${conn.peer}`, 'dropped an invalid frame from a peer', { peer: conn.peer, field, reason, badFrames: conn.badFrames });
    if (conn.badFrames >= this.ctx.limits.maxBadFramesPerConnection) {
      this.ctx.logger.warn('closing a peer connection after too many invalid frames', { peer: conn.peer, badFrames: conn.badFrames });
      this.retire(conn);
      conn.ws.close(InboundCloseCode.PolicyViolation, 'too many invalid frames');
    }
  }

  private beginSnapshot(conn: InboundConnection, frame: BeginFrame): void {
    if (conn.assembly !== undefined) {
      this.ctx.logger.info('a new snapshot stream replaces an incomplete one', { peer: conn.peer, stream: conn.assembly.stream, next: frame.stream });
      this.dropAssembly(conn);
    }
    if (frame.totalBytes === 0) {
      this.deliver({ ...frame.message, snapshot: { metadata: frame.metadata, data: new Uint8Array(0) } });
      return;
    }
    let data: Uint8Array;
    try {
      data = new Uint8Array(frame.totalBytes);
    } catch (err) {
      this.ctx.logger.error('cannot allocate an inbound snapshot', { peer: conn.peer, totalBytes: frame.totalBytes, error: errorMessage(err) });
      return;
    }
    const assembly: SnapshotAssembly = { stream: frame.stream, message: frame.message, metadata: frame.metadata, data, received: 0, idleTimer: undefined };
    conn.assembly = assembly;
    this.armAssemblyTimer(conn, assembly);
  }

  private armAssemblyTimer(conn: InboundConnection, assembly: SnapshotAssembly): void {
    const { clock, limits } = this.ctx;
    if (assembly.idleTimer !== undefined) clock.clearTimeout(assembly.idleTimer);
    assembly.idleTimer = clock.setTimeout(() => {
      assembly.idleTimer = undefined;
      if (conn.assembly !== assembly) return;
      this.ctx.rateLog.log('warn', `snapshot-timeout:${conn.peer}`, 'dropped a snapshot stream that stalled', {
        peer: conn.peer,
        stream: assembly.stream,
        received: assembly.received,
        totalBytes: assembly.data.byteLength,
        idleTimeoutMs: limits.snapshotStreamIdleTimeoutMs,
      });
      this.dropAssembly(conn);
    }, limits.snapshotStreamIdleTimeoutMs);
  }

  private dropAssembly(conn: InboundConnection): void {
    const a = conn.assembly;
    if (a === undefined) return;
    if (a.idleTimer !== undefined) this.ctx.clock.clearTimeout(a.idleTimer);
    a.idleTimer = undefined;
    conn.assembly = undefined;
  }

  private addChunk(conn: InboundConnection, frame: ChunkFrame): void {
    const a = conn.assembly;
    if (a === undefined || a.stream !== frame.stream) {
      this.badFrame(conn, 'stream', `${frame.stream} is not an open snapshot stream`);
      return;
    }
    if (frame.offset !== a.received) {
      this.dropAssembly(conn);
      this.badFrame(conn, 'offset', `is ${frame.offset}, expected ${a.received}; snapshot stream ${a.stream} dropped`);
      return;
    }
    if (a.received + frame.data.byteLength > a.data.byteLength) {
      this.dropAssembly(conn);
      this.badFrame(conn, 'data', `overruns the announced ${a.data.byteLength} bytes; snapshot stream ${a.stream} dropped`);
      return;
    }
    a.data.set(frame.data, a.received);
    a.received += frame.data.byteLength;
    if (a.received < a.data.byteLength) {
      this.armAssemblyTimer(conn, a);
      return;
    }
    this.dropAssembly(conn);
    this.ctx.logger.info('received a snapshot', { peer: conn.peer, index: a.metadata.index, term: a.metadata.term, bytes: a.data.byteLength });
    this.deliver({ ...a.message, snapshot: { metadata: a.metadata, data: a.data } });
  }
}
