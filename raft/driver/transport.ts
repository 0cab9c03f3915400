// The peer transport: carries Raft messages between masters over WebSockets, msgpack-encoded.
//   transport-codec.ts     frame format and validation        transport-auth.ts    handshake headers
//   transport-inbound.ts   accepting, reading, reassembling   transport-limits.ts  every bound
//   transport-outbound.ts  queues, dialing, sending           transport-log.ts     rate-limited log
//
// Shape (as etcd's rafthttp streams): every connection carries one direction only. A node dials
// each peer it sends to and writes on that connection; it reads only on the connections peers
// dialed to it. There is never a question of which of two simultaneous connections wins, and
// reconnecting is the dialer's job alone.
//
// The transport owns no listening socket. The master's HTTP server routes upgrade requests for
// RAFT_PEER_PATH to handleUpgrade(), so peers (and later the API) share one port:
//
//   server.on('upgrade', (req, socket, head) => {
//     if (isRaftPeerUpgrade(req)) transport.handleUpgrade(req, socket, head);
//     else socket.destroy(); // or the API's own upgrade handler
//   });
//
// Guarantees:
// - send() never blocks and never throws. Memory held for a peer is bounded (see
//   transport-limits.ts); past a bound, messages are dropped and the peer is reported
//   unreachable, and Raft retransmits.
// - Per peer, messages arrive in the order send() took them (within one connection; a message
//   lost with a connection is reported by onUnreachable). Snapshots stream beside them: messages
//   sent after a snapshot may arrive before it is complete, which Raft tolerates.
// - Every 'snap' message given to send() gets exactly one onSnapshotStatus: true once its last
//   chunk is written to the socket, false if it cannot be (connection lost or never made, peer
//   removed, over a bound). A leader waits in its Snapshot state until it hears.
// - A lost connection that had been open for a while (limits.immediateRedialMinOpenMs) is
//   redialled at once; later attempts back off. A dial refused outright (ECONNREFUSED: nothing
//   listens on the peer's port) is reported by onPeerDown, once per refused attempt.
// - onUnreachable, onPeerDown and onSnapshotStatus are called on a microtask, never synchronously from
//   inside a method of ours (the Raft node calls send() from its own loop). No handler is called
//   after close().

import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Message, NodeId } from '../core/types.js';
import { PeerAuthenticator, RAFT_PEER_PATH } from './transport-auth.js';
import { errorMessage, SocketRegistry, systemTransportClock, type TransportClock, type TransportContext } from './transport-context.js';
import { TransportClosedError, TransportConfigError } from './transport-errors.js';
import { InboundPeers } from './transport-inbound.js';
import { resolveTransportLimits, type TransportLimits } from './transport-limits.js';
import { RateLimitedLog, type TransportLogger } from './transport-log.js';
import { OutboundPeers, type PeerLinkStats } from './transport-outbound.js';

export * from './transport-auth.js';
export * from './transport-codec.js';
export { systemTransportClock, type TransportClock } from './transport-context.js';
export * from './transport-errors.js';
export { InboundCloseCode } from './transport-inbound.js';
export * from './transport-limits.js';
export * from './transport-log.js';
export { OUTBOUND_MAX_INCOMING_BYTES, type PeerLinkStats } from './transport-outbound.js';

/** What the transport reports to the Raft node. Exceptions thrown by a handler are logged and swallowed. */
export interface TransportHandlers {
  /** A validated message from a peer (a 'snap' message arrives whole, after its last chunk). */
  onMessage(m: Message): void;
  /** Messages to `peer` were (or may have been) lost: Raft should probe rather than pipeline. */
  onUnreachable(peer: NodeId): void;
  /**
   * A dial to `peer` was refused (ECONNREFUSED): its process is gone, or a firewall REJECTs us.
   * A hint for Raft (RaftNode.reportPeerDown), never a fact to act on alone.
   */
  onPeerDown(peer: NodeId): void;
  /** The outcome of one 'snap' message given to send(). */
  onSnapshotStatus(peer: NodeId, ok: boolean): void;
}

export interface PeerTransportOptions {
  readonly id: NodeId;
  readonly clusterId: string;
  /** Shared secret peers must present; undefined runs without peer authentication (logged loudly). */
  readonly clusterToken: string | undefined;
  readonly logger: TransportLogger;
  readonly handlers: TransportHandlers;
  /** Node ids allowed to connect to us; replace later with setMembers(). */
  readonly members?: Iterable<NodeId>;
  readonly clock?: TransportClock;
  /** Uniform in [0, 1); for reconnect jitter. */
  readonly random?: () => number;
  readonly limits?: Partial<TransportLimits>;
}

/** Whether an upgrade request is addressed to the peer transport (path RAFT_PEER_PATH, any query). */
export function isRaftPeerUpgrade(req: IncomingMessage): boolean {
  const url = req.url ?? '';
  const q = url.indexOf('?');
  return (q < 0 ? url : url.slice(0, q)) === RAFT_PEER_PATH;
}

export class PeerTransport {
  readonly id: NodeId;
  private readonly logger: TransportLogger;
  private readonly handlers: TransportHandlers;
  private readonly sockets = new SocketRegistry();
  private readonly inbound: InboundPeers;
  private readonly outbound: OutboundPeers;
  private members: ReadonlySet<NodeId>;
  private deferred: (() => void)[] = [];
  private closed = false;
  private closing: Promise<void> | undefined = undefined;

  constructor(opts: PeerTransportOptions) {
    if (!Number.isSafeInteger(opts.id) || opts.id <= 0) throw new TransportConfigError('id', `must be a positive safe integer, got ${opts.id}`);
    this.id = opts.id;
    this.logger = opts.logger;
    this.handlers = opts.handlers;
    this.members = new Set(opts.members ?? []);
    const limits = resolveTransportLimits(opts.limits);
    const clock = opts.clock ?? systemTransportClock;
    const auth = new PeerAuthenticator(opts.id, opts.clusterId, opts.clusterToken);
    const ctx: TransportContext = {
      id: opts.id,
      limits,
      clock,
      logger: opts.logger,
      rateLog: new RateLimitedLog(opts.logger, () => clock.now(), limits.logRateWindowMs, limits.logRateMaxPerWindow),
      sockets: this.sockets,
      isMember: (id) => this.members.has(id),
      isClosed: () => this.closed,
    };
    this.inbound = new InboundPeers(ctx, auth, (m) => this.deliver(m));
    this.outbound = new OutboundPeers(ctx, { clusterId: opts.clusterId, clusterToken: opts.clusterToken }, opts.random ?? Math.random, {
      unreachable: (peer) => this.later(() => this.handlers.onUnreachable(peer), 'onUnreachable', { peer }),
      peerDown: (peer) => this.later(() => this.handlers.onPeerDown(peer), 'onPeerDown', { peer }),
      snapshotStatus: (peer, ok) => this.later(() => this.handlers.onSnapshotStatus(peer, ok), 'onSnapshotStatus', { peer, ok }),
    });
    if (!auth.authenticationEnabled) {
      this.logger.warn(
        'PEER AUTHENTICATION IS OFF: no cluster token is configured, so anything that can reach the peer port ' +
          'and name a member id can inject Raft messages into this cluster. Set a cluster token on every master.',
        { node: this.id, clusterId: opts.clusterId },
      );
    }
  }

  /** Replaces the node ids allowed to connect to us; connections from removed ids are closed. */
  setMembers(ids: Iterable<NodeId>): void {
    this.members = new Set(ids);
    this.inbound.closeNonMembers();
  }

  /**
   * Takes an HTTP upgrade request the master routed to RAFT_PEER_PATH. The dialer is
   * authenticated from its headers; one refused gets a bare HTTP status and its socket is closed.
   * Never throws.
   */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.inbound.handleUpgrade(request, socket, head);
  }

  /** Starts (or re-aims) the connection to peer `id` at `url` (ws:// or wss://, path RAFT_PEER_PATH). */
  addPeer(id: NodeId, url: string): void {
    if (this.closed) throw new TransportClosedError('addPeer');
    this.outbound.addPeer(id, url);
  }

  /** Stops sending to `id`: its queue is dropped and its snapshots are reported failed. */
  removePeer(id: NodeId): void {
    this.outbound.removePeer(id);
  }

  /** Queues messages for their peers. Never blocks, never throws; overflow is dropped and reported. */
  send(messages: readonly Message[]): void {
    if (this.closed) return;
    this.outbound.send(messages);
  }

  peerStats(id: NodeId): PeerLinkStats | undefined {
    return this.outbound.stats(id);
  }

  /**
   * Closes every connection and cancels every timer. No handler is called once close() has been
   * called (snapshots in flight are not reported: the node is stopping). Resolves when every
   * socket has closed. Idempotent.
   */
  close(): Promise<void> {
    if (this.closing !== undefined) return this.closing;
    this.closed = true;
    this.deferred = [];
    this.outbound.close();
    this.inbound.close();
    this.closing = this.sockets.drained();
    return this.closing;
  }

  private deliver(m: Message): void {
    if (this.closed) return;
    try {
      this.handlers.onMessage(m);
    } catch (err) {
      this.logger.error('the onMessage handler threw; message dropped', { peer: m.from, type: m.type, error: errorMessage(err) });
    }
  }

  /** Runs a handler on a microtask, in order with the others, unless closed by then. */
  private later(call: () => void, handler: string, fields: Record<string, unknown>): void {
    if (this.closed) return;
    this.deferred.push(() => {
      try {
        call();
      } catch (err) {
        this.logger.error(`the ${handler} handler threw`, { ...fields, error: errorMessage(err) });
      }
    });
    if (this.deferred.length > 1) return;
    queueMicrotask(() => {
      const calls = this.deferred;
      this.deferred = [];
      for (const c of calls) if (!this.closed) c();
    });
  }
}
