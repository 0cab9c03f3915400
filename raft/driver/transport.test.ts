// PeerTransport over real sockets on 127.0.0.1 (ephemeral ports). Waits are generous polls for a
// condition, never assertions about how long something took.

import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Packr } from 'msgpackr';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { EntryType, message, MessageType, type Message, type NodeId } from '../core/types.js';
import {
  encodeMessagesFrame,
  encodeSnapshotBeginFrame,
  encodeSnapshotChunkFrame,
  HandshakeRejectReason,
  isRaftPeerUpgrade,
  peerHandshakeHeaders,
  PeerTransport,
  RAFT_PEER_PATH,
  type TransportClock,
  type TransportLimits,
  type TransportLogger,
} from './transport.js';
import { isConnectionRefused } from './transport-outbound.js';

const CLUSTER = 'test-cluster';
const TOKEN = 'test-token';
const rawPackr = new Packr({ useRecords: false });

interface LogLine {
  readonly level: 'info' | 'warn' | 'error';
  readonly msg: string;
  readonly fields: Record<string, unknown>;
}

class TestLogger implements TransportLogger {
  readonly lines: LogLine[] = [];
  info(msg: string, fields: Record<string, unknown> = {}): void {
    this.lines.push({ level: 'info', msg, fields });
  }
  warn(msg: string, fields: Record<string, unknown> = {}): void {
    this.lines.push({ level: 'warn', msg, fields });
  }
  error(msg: string, fields: Record<string, unknown> = {}): void {
    this.lines.push({ level: 'error', msg, fields });
  }
  find(msg: string, fields: Record<string, unknown> = {}): LogLine[] {
    return this.lines.filter((l) => l.msg.includes(msg) && Object.entries(fields).every(([k, v]) => l.fields[k] === v));
  }
}

/** Small bounds so tests reconnect, time out and overflow quickly. */
const FAST: Partial<TransportLimits> = {
  reconnectBackoffMinMs: 10,
  reconnectBackoffMaxMs: 100,
  dialTimeoutMs: 2_000,
  keepaliveIntervalMs: 200,
  keepaliveTimeoutMs: 5_000,
};

interface TestNode {
  readonly id: NodeId;
  readonly transport: PeerTransport;
  readonly server: Server;
  readonly port: number;
  readonly url: string;
  readonly logger: TestLogger;
  readonly received: Message[];
  readonly unreachable: NodeId[];
  readonly peerDown: NodeId[];
  readonly snapshotStatus: [NodeId, boolean][];
  stop(): Promise<void>;
}

interface NodeOptions {
  readonly port?: number;
  readonly token?: string | undefined;
  readonly clusterId?: string;
  readonly members?: NodeId[];
  readonly limits?: Partial<TransportLimits>;
  readonly clock?: TransportClock;
  readonly random?: () => number;
}

const running: TestNode[] = [];

async function startNode(id: NodeId, opts: NodeOptions = {}): Promise<TestNode> {
  const logger = new TestLogger();
  const received: Message[] = [];
  const unreachable: NodeId[] = [];
  const peerDown: NodeId[] = [];
  const snapshotStatus: [NodeId, boolean][] = [];
  const transport = new PeerTransport({
    id,
    clusterId: opts.clusterId ?? CLUSTER,
    clusterToken: 'token' in opts ? opts.token : TOKEN,
    logger,
    members: opts.members ?? [1, 2, 3],
    limits: { ...FAST, ...opts.limits },
    ...(opts.clock ? { clock: opts.clock } : {}),
    ...(opts.random ? { random: opts.random } : {}),
    handlers: {
      onMessage: (m) => received.push(m),
      onUnreachable: (peer) => unreachable.push(peer),
      onPeerDown: (peer) => peerDown.push(peer),
      onSnapshotStatus: (peer, ok) => snapshotStatus.push([peer, ok]),
    },
  });
  // How a master mounts the transport: its own HTTP server routes RAFT_PEER_PATH upgrades to it.
  const server = createServer((_req, res) => res.writeHead(404).end());
  server.on('upgrade', (req, socket, head) => {
    if (isRaftPeerUpgrade(req)) transport.handleUpgrade(req, socket, head);
    else socket.destroy();
  });
  server.listen(opts.port ?? 0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  let stopped = false;
  const node: TestNode = {
    id,
    transport,
    server,
    port,
    url: `ws://127.0.0.1:${port}${RAFT_PEER_PATH}`,
    logger,
    received,
    unreachable,
    peerDown,
    snapshotStatus,
    async stop() {
      if (stopped) return;
      stopped = true;
      await transport.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  running.push(node);
  return node;
}

afterEach(async () => {
  await Promise.all(running.splice(0).map((n) => n.stop()));
});

async function waitFor(what: string, cond: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function connect(a: TestNode, b: TestNode): void {
  a.transport.addPeer(b.id, b.url);
  b.transport.addPeer(a.id, a.url);
}

function app(from: NodeId, to: NodeId, index: number, payload = new Uint8Array([index & 0xff, 7])): Message {
  return message({
    type: MessageType.App,
    from,
    to,
    term: 1,
    logTerm: 1,
    index,
    commit: index,
    entries: [{ term: 1, index: index + 1, type: EntryType.Normal, data: payload }],
  });
}

function heartbeat(from: NodeId, to: NodeId, commit = 0): Message {
  return message({ type: MessageType.Heartbeat, from, to, term: 1, commit });
}

/** A free port nobody listens on (bound, then released). */
async function deadPort(): Promise<number> {
  const s = createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** A hand-driven WebSocket that has passed the handshake as `from`: it sends whatever frames a test writes. */
async function rawPeer(target: TestNode, from: NodeId, token: string | undefined = TOKEN): Promise<WebSocket> {
  const ws = new WebSocket(target.url, {
    headers: peerHandshakeHeaders({ from, to: target.id, clusterId: CLUSTER, clusterToken: token }),
    perMessageDeflate: false,
  });
  ws.on('error', () => {});
  await once(ws, 'open');
  return ws;
}

/** The collector, without a command-line flag: the queue bound is checked against retained memory. */
function exposeGc(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

function indexes(ms: readonly Message[], from: NodeId): number[] {
  return ms.filter((m) => m.from === from && m.type === MessageType.App).map((m) => m.index);
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i);
}

describe('PeerTransport', () => {
  it('delivers messages between two transports, in order per peer, intact', async () => {
    const a = await startNode(1);
    const b = await startNode(2);
    connect(a, b);
    for (let i = 0; i < 2000; i += 100) {
      a.transport.send(range(i, i + 100).map((n) => app(1, 2, n)));
      b.transport.send(range(i, i + 100).map((n) => app(2, 1, n)));
    }
    await waitFor('2000 messages each way', () => b.received.length === 2000 && a.received.length === 2000);
    expect(indexes(b.received, 1)).toEqual(range(0, 2000));
    expect(indexes(a.received, 2)).toEqual(range(0, 2000));
    expect(b.received[1234]).toEqual(app(1, 2, 1234));
    expect(a.unreachable).toEqual([]);
  });

  it('routes among three transports, each pair in order', async () => {
    const nodes = [await startNode(1), await startNode(2), await startNode(3)];
    for (const x of nodes) for (const y of nodes) if (x !== y) x.transport.addPeer(y.id, y.url);
    for (let round = 0; round < 300; round++) {
      for (const x of nodes) x.transport.send(nodes.filter((y) => y !== x).map((y) => app(x.id, y.id, round)));
    }
    for (const y of nodes) {
      await waitFor(`node ${y.id} receives 600`, () => y.received.length === 600);
      for (const x of nodes) if (x !== y) expect(indexes(y.received, x.id)).toEqual(range(0, 300));
      expect(y.received.every((m) => m.to === y.id)).toBe(true);
    }
  });

  it('streams a 40 MiB snapshot in chunks, reports it sent, and lets heartbeats pass meanwhile', async () => {
    const a = await startNode(1);
    const b = await startNode(2);
    a.transport.addPeer(2, b.url);
    a.transport.send([heartbeat(1, 2, 1)]);
    await waitFor('connection', () => b.received.length === 1);

    const data = new Uint8Array(40 * 1024 * 1024);
    for (let i = 0; i < data.length; i += 4096) data[i] = (i / 4096) & 0xff;
    data[data.length - 1] = 0xee;
    const snapshot = { metadata: { index: 500, term: 3, confState: { voters: [1, 2, 3], learners: [] } }, data };
    // 40 MiB cannot cross as one frame (MAX_FRAME_BYTES is 16 MiB): it must be chunked.
    a.transport.send([message({ type: MessageType.Snap, from: 1, to: 2, term: 3, snapshot })]);
    a.transport.send([heartbeat(1, 2, 2)]);

    await waitFor('snapshot', () => b.received.some((m) => m.type === MessageType.Snap));
    await waitFor('snapshot status', () => a.snapshotStatus.length === 1);
    expect(a.snapshotStatus).toEqual([[2, true]]);
    const snap = b.received.find((m) => m.type === MessageType.Snap)!;
    expect(snap.snapshot!.metadata).toEqual(snapshot.metadata);
    expect(Buffer.compare(snap.snapshot!.data, data)).toBe(0);
    // The heartbeat sent after the snapshot did not wait for its 40 chunks.
    expect(b.received.map((m) => (m.type === MessageType.Heartbeat ? `hb${m.commit}` : m.type))).toEqual(['hb1', 'hb2', 'snap']);
  });

  it('reports a snapshot failed when the connection drops mid-stream', async () => {
    const a = await startNode(1);
    const b = await startNode(2);
    a.transport.addPeer(2, b.url);
    a.transport.send([heartbeat(1, 2)]);
    await waitFor('connection', () => b.received.length === 1);
    const snapshot = { metadata: { index: 9, term: 1, confState: { voters: [1, 2], learners: [] } }, data: new Uint8Array(40 * 1024 * 1024) };
    a.transport.send([message({ type: MessageType.Snap, from: 1, to: 2, term: 1, snapshot })]);
    await b.stop();
    await waitFor('snapshot status', () => a.snapshotStatus.length === 1);
    expect(a.snapshotStatus).toEqual([[2, false]]);
    await waitFor('unreachable', () => a.unreachable.includes(2));
  });

  it('refuses a wrong token, no token, a non-member and a wrong cluster, logs why, and keeps serving', async () => {
    const b = await startNode(2, { members: [1, 2, 3] });
    const wrongToken = await startNode(1, { token: 'not-the-token' });
    const noToken = await startNode(1, { token: undefined });
    const stranger = await startNode(7, { members: [1, 2, 3, 7] });
    const otherCluster = await startNode(3, { clusterId: 'other-cluster' });
    for (const dialer of [wrongToken, noToken, stranger, otherCluster]) {
      dialer.transport.addPeer(2, b.url);
      dialer.transport.send([heartbeat(dialer.id, 2)]);
    }
    // A bare WebSocket client without any handshake headers.
    const bare = new WebSocket(b.url);
    let bareError = '';
    bare.on('error', (err) => (bareError = err.message));
    await new Promise((resolve) => bare.on('close', resolve)); // events.once would reject on 'error'
    expect(bareError).toMatch(/400/);

    const refused = (reason: string): number => b.logger.find('refused a peer connection', { reason }).length;
    await waitFor('four refusals', () =>
      refused(HandshakeRejectReason.Token) >= 2 && refused(HandshakeRejectReason.NotMember) >= 1 && refused(HandshakeRejectReason.Cluster) >= 1,
    );
    expect(refused(HandshakeRejectReason.Malformed)).toBeGreaterThanOrEqual(1);
    // The dialers see the HTTP status, and retry with backoff, logging rate-limited.
    await waitFor('dialer logs', () => wrongToken.logger.find('cannot connect to peer').some((l) => String(l.fields['error']).includes('401')));
    expect(stranger.logger.find('cannot connect to peer').some((l) => String(l.fields['error']).includes('403'))).toBe(true);
    expect(b.received).toEqual([]);

    // Still serving: the rightful node 1 gets through.
    const good = await startNode(1);
    good.transport.addPeer(2, b.url);
    good.transport.send([heartbeat(1, 2, 42)]);
    await waitFor('good message', () => b.received.length === 1);
    expect(b.received[0]).toEqual(heartbeat(1, 2, 42));
  });

  it('warns loudly, once, when peer authentication is off', async () => {
    const open = await startNode(2, { token: undefined });
    const dialer = await startNode(1, { token: undefined });
    dialer.transport.addPeer(2, open.url);
    dialer.transport.send([heartbeat(1, 2)]);
    await waitFor('delivery', () => open.received.length === 1);
    expect(open.logger.find('PEER AUTHENTICATION IS OFF')).toHaveLength(1);
    expect(open.logger.find('PEER AUTHENTICATION IS OFF')[0]!.level).toBe('warn');
  });

  it('closes the connection of a peer removed from the members, and refuses it afterwards', async () => {
    const a = await startNode(1);
    const b = await startNode(2);
    a.transport.addPeer(2, b.url);
    a.transport.send([heartbeat(1, 2)]);
    await waitFor('delivery', () => b.received.length === 1);
    b.transport.setMembers([2, 3]);
    await waitFor('disconnect seen by the dialer', () => a.unreachable.includes(2));
    await waitFor('refusal', () => b.logger.find('refused a peer connection', { reason: HandshakeRejectReason.NotMember }).length > 0);
    b.transport.setMembers([1, 2, 3]);
    a.transport.send([heartbeat(1, 2, 5)]);
    await waitFor('delivery after re-admission', () => b.received.some((m) => m.commit === 5));
  });

  it('drops garbage and malformed frames naming the field, and keeps the connection for valid ones', async () => {
    const b = await startNode(2, { limits: { logRateMaxPerWindow: 100 } });
    const ws = await rawPeer(b, 1);
    const valid = app(1, 2, 1);
    const wire = { ...valid, entries: valid.entries.map((e) => ({ ...e })) };
    const bad = (over: Record<string, unknown>): Uint8Array => rawPackr.pack({ kind: 'msgs', messages: [{ ...wire, ...over }] });
    ws.send(new Uint8Array([0xc1, 0xff, 0x00, 0x13]));
    ws.send('{"kind":"msgs"}');
    ws.send(bad({ type: 'bogus' }));
    ws.send(bad({ type: MessageType.Hup }));
    ws.send(bad({ term: -1 }));
    ws.send(bad({ to: 3 }));
    ws.send(bad({ from: 3 }));
    ws.send(bad({ entries: [{ term: 1, index: 2, type: 0, data: 'not binary' }] }));
    ws.send(bad({ context: [1, 2, 3] }));
    ws.send(encodeMessagesFrame([valid, app(1, 2, 2)]));
    await waitFor('valid messages', () => b.received.length === 2);
    expect(indexes(b.received, 1)).toEqual([1, 2]);
    const fields = b.logger.find('dropped an invalid frame').map((l) => l.fields['field']);
    expect(fields).toEqual([
      'frame', // not one msgpack value
      'frame', // text frame
      'messages[0].type',
      'messages[0].type',
      'messages[0].term',
      'messages[0].to',
      'messages[0].from',
      'messages[0].entries[0].data',
      'messages[0].context',
    ]);
    const local = b.logger.find('dropped an invalid frame')[3]!;
    expect(local.fields['reason']).toMatch(/local message type/);
    ws.close();
  });

  it('closes a connection after too many bad frames, and rate-limits the log of them', async () => {
    const b = await startNode(2, { limits: { maxBadFramesPerConnection: 50, logRateMaxPerWindow: 3, logRateWindowMs: 60_000 } });
    const ws = await rawPeer(b, 1);
    const closed = once(ws, 'close');
    for (let i = 0; i < 60; i++) ws.send(new Uint8Array([0x90 + (i % 3)]));
    const [code] = await closed;
    expect(code).toBe(1008);
    expect(b.logger.find('dropped an invalid frame')).toHaveLength(3);
    expect(b.logger.find('too many invalid frames')).toHaveLength(1);
    // The transport still serves the peer on a new connection.
    const again = await rawPeer(b, 1);
    again.send(encodeMessagesFrame([heartbeat(1, 2, 9)]));
    await waitFor('delivery', () => b.received.length === 1);
    again.close();
  });

  it('closes a connection whose frame is over the size limit', async () => {
    const limits = { maxFrameBytes: 64 * 1024, snapshotChunkBytes: 16 * 1024, maxBatchBytes: 16 * 1024 };
    const b = await startNode(2, { limits });
    const ws = await rawPeer(b, 1);
    const closed = once(ws, 'close');
    ws.send(new Uint8Array(100 * 1024));
    const [code] = await closed;
    expect(code).toBe(1009);
    await waitFor('log', () => b.logger.find('peer connection error').length === 1);
    const again = await rawPeer(b, 1);
    again.send(encodeMessagesFrame([heartbeat(1, 2)]));
    await waitFor('delivery', () => b.received.length === 1);
    again.close();
  });

  it('drops a snapshot stream that stalls, and refuses chunks that do not continue a stream', async () => {
    const b = await startNode(2, { limits: { snapshotStreamIdleTimeoutMs: 100, logRateMaxPerWindow: 100 } });
    const ws = await rawPeer(b, 1);
    const snapshot = { metadata: { index: 5, term: 1, confState: { voters: [1, 2], learners: [] } }, data: new Uint8Array(1000) };
    const snap = { ...message({ type: MessageType.Snap, from: 1, to: 2, term: 1, snapshot }), snapshot };
    ws.send(encodeSnapshotBeginFrame(1, snap));
    ws.send(encodeSnapshotChunkFrame(1, 0, new Uint8Array(100)));
    await waitFor('stall', () => b.logger.find('dropped a snapshot stream that stalled').length === 1);
    ws.send(encodeSnapshotChunkFrame(1, 100, new Uint8Array(100)));
    ws.send(encodeSnapshotBeginFrame(2, snap));
    ws.send(encodeSnapshotChunkFrame(2, 500, new Uint8Array(100))); // a gap
    ws.send(encodeSnapshotBeginFrame(3, snap));
    ws.send(encodeSnapshotChunkFrame(3, 0, new Uint8Array(999)));
    ws.send(encodeSnapshotChunkFrame(3, 999, new Uint8Array(2))); // past the announced size
    ws.send(encodeSnapshotBeginFrame(4, snap));
    ws.send(encodeSnapshotChunkFrame(4, 0, new Uint8Array(600).fill(1)));
    ws.send(encodeSnapshotChunkFrame(4, 600, new Uint8Array(400).fill(2)));
    await waitFor('the good stream', () => b.received.length === 1);
    expect(b.logger.find('dropped an invalid frame').map((l) => l.fields['field'])).toEqual(['stream', 'offset', 'data']);
    const data = b.received[0]!.snapshot!.data;
    expect([data[0], data[599], data[600], data[999], data.length]).toEqual([1, 1, 2, 2, 1000]);
    ws.close();
  });

  it('bounds the queue of a down peer: drops past the bound, reports unreachable, holds bounded memory', async () => {
    const limits = { maxQueuedMessagesPerPeer: 100, maxQueuedBytesPerPeer: 256 * 1024, maxQueuedSnapshotsPerPeer: 2 };
    const a = await startNode(1, { limits });
    const port = await deadPort();
    a.transport.addPeer(2, `ws://127.0.0.1:${port}${RAFT_PEER_PATH}`);
    const gc = exposeGc();
    gc();
    const before = process.memoryUsage().arrayBuffers;
    for (let i = 0; i < 100; i++) a.transport.send(range(i * 100, i * 100 + 100).map((n) => app(1, 2, n, new Uint8Array(16 * 1024))));
    const stats = a.transport.peerStats(2)!;
    expect(stats.connected).toBe(false);
    expect(stats.queuedMessages).toBeLessThanOrEqual(100);
    expect(stats.queuedBytes).toBeLessThanOrEqual(256 * 1024);
    expect(stats.queuedMessages + stats.droppedMessages).toBe(10_000);
    // 160 MiB of payload went into send(); once collected (backing stores are freed
    // asynchronously), about the byte bound is still held.
    await waitFor('payloads past the bound to be collectable', () => {
      gc();
      return process.memoryUsage().arrayBuffers - before < 2 * 1024 * 1024;
    }, 10_000);
    await waitFor('unreachable', () => a.unreachable.includes(2));

    const snap = (index: number): Message =>
      message({ type: MessageType.Snap, from: 1, to: 2, term: 1, snapshot: { metadata: { index, term: 1, confState: { voters: [1, 2], learners: [] } }, data: new Uint8Array(10) } });
    a.transport.send([snap(1), snap(2), snap(3)]);
    await waitFor('third snapshot refused', () => a.snapshotStatus.length >= 1);
    expect(a.snapshotStatus[0]).toEqual([2, false]);
    // The two queued ones fail with the next dial attempt.
    await waitFor('all snapshots reported', () => a.snapshotStatus.length === 3);
    expect(a.snapshotStatus.every(([, ok]) => !ok)).toBe(true);

    // When the peer comes up on that port, the queued prefix is delivered in order.
    const b = await startNode(2, { port });
    await waitFor('queued messages delivered', () => b.received.length === stats.queuedMessages);
    expect(indexes(b.received, 1)).toEqual(range(0, stats.queuedMessages));
  });

  it('reconnects after the peer restarts on the same port', async () => {
    const a = await startNode(1);
    let b = await startNode(2);
    const port = b.port;
    a.transport.addPeer(2, b.url);
    a.transport.send([app(1, 2, 1)]);
    await waitFor('first delivery', () => b.received.length === 1);
    await b.stop();
    await waitFor('loss reported', () => a.unreachable.includes(2));
    a.transport.send([app(1, 2, 2)]);
    b = await startNode(2, { port });
    a.transport.send([app(1, 2, 3)]);
    await waitFor('delivery after restart', () => indexes(b.received, 1).includes(3));
    expect(indexes(b.received, 1)).toEqual([2, 3]);
    expect(a.transport.peerStats(2)).toMatchObject({ connected: true, reconnectAttempt: 0 });
  });

  it('backs off exponentially with jitter on the injected clock', async () => {
    const timers = new Map<number, { fn: () => void; ms: number }>();
    let nextTimer = 1;
    const clock: TransportClock = {
      now: () => 0,
      setTimeout: (fn, ms) => {
        timers.set(nextTimer, { fn, ms });
        return nextTimer++;
      },
      clearTimeout: (h) => {
        timers.delete(h as number);
      },
    };
    const DIAL_TIMEOUT = 99_999;
    const a = await startNode(1, { clock, random: () => 1, limits: { reconnectBackoffMinMs: 100, reconnectBackoffMaxMs: 1000, dialTimeoutMs: DIAL_TIMEOUT } });
    a.transport.addPeer(2, `ws://127.0.0.1:${await deadPort()}${RAFT_PEER_PATH}`);
    const delays: number[] = [];
    for (let attempt = 0; attempt < 7; attempt++) {
      let reconnect: [number, { fn: () => void; ms: number }] | undefined;
      await waitFor('a reconnect timer', () => {
        reconnect = [...timers].find(([, t]) => t.ms !== DIAL_TIMEOUT);
        return reconnect !== undefined;
      });
      const [id, timer] = reconnect!;
      delays.push(timer.ms);
      timers.delete(id);
      timer.fn();
    }
    expect(delays).toEqual([100, 200, 400, 800, 1000, 1000, 1000]);
    expect(a.transport.peerStats(2)!.reconnectAttempt).toBe(7);
  });

  it('reports a refused dial as the peer being down, on every attempt, and keeps backing off', async () => {
    const a = await startNode(1);
    a.transport.addPeer(2, `ws://127.0.0.1:${await deadPort()}${RAFT_PEER_PATH}`);
    await waitFor('two refused dials reported', () => a.peerDown.filter((p) => p === 2).length >= 2);
    expect(a.logger.find('reporting it down', { peer: 2 }).length).toBeGreaterThan(0);
    expect(a.unreachable).toEqual([]); // nothing was lost: the queue waits for the peer
    expect(a.transport.peerStats(2)!.reconnectAttempt).toBeGreaterThanOrEqual(2);
  });

  it('recognises a refused connection, also as an AggregateError of every address, and nothing else', () => {
    const refused = (): Error => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    expect(isConnectionRefused(refused())).toBe(true);
    expect(isConnectionRefused(new AggregateError([refused(), refused()]))).toBe(true);
    expect(isConnectionRefused(new AggregateError([refused(), reset]))).toBe(false);
    expect(isConnectionRefused(reset)).toBe(false);
    expect(isConnectionRefused(new Error('Unexpected server response: 401'))).toBe(false);
  });

  /** A clock whose timers only fire when a test fires them. */
  function manualClock(): { clock: TransportClock; timers: Map<number, { fn: () => void; ms: number }>; setNow(ms: number): void } {
    const timers = new Map<number, { fn: () => void; ms: number }>();
    let nextTimer = 1;
    let now = 0;
    const clock: TransportClock = {
      now: () => now,
      setTimeout: (fn, ms) => {
        timers.set(nextTimer, { fn, ms });
        return nextTimer++;
      },
      clearTimeout: (h) => {
        timers.delete(h as number);
      },
    };
    return { clock, timers, setNow: (ms) => (now = ms) };
  }

  const DIAL_TIMEOUT = 99_999;
  const KEEPALIVE = 88_888;
  const manualLimits = { reconnectBackoffMinMs: 100, reconnectBackoffMaxMs: 1000, dialTimeoutMs: DIAL_TIMEOUT, keepaliveIntervalMs: KEEPALIVE, immediateRedialMinOpenMs: 1000 };

  /** Waits for a.transport's next reconnect timer, removes it and returns its delay and callback. */
  async function nextReconnect(timers: Map<number, { fn: () => void; ms: number }>): Promise<{ fn: () => void; ms: number }> {
    let found: [number, { fn: () => void; ms: number }] | undefined;
    await waitFor('a reconnect timer', () => {
      found = [...timers].find(([, t]) => t.ms !== DIAL_TIMEOUT && t.ms !== KEEPALIVE);
      return found !== undefined;
    });
    timers.delete(found![0]);
    return found![1];
  }

  it('redials a lost open connection at once; a refused redial reports the peer down and backs off', async () => {
    const { clock, timers, setNow } = manualClock();
    const a = await startNode(1, { clock, random: () => 1, limits: manualLimits });
    const b = await startNode(2);
    a.transport.addPeer(2, b.url);
    await waitFor('connected', () => a.transport.peerStats(2)?.connected === true);
    setNow(5_000); // open for longer than immediateRedialMinOpenMs
    await b.stop(); // the peer process is gone: its port refuses connections
    await waitFor('loss reported', () => a.unreachable.includes(2));
    const redial = await nextReconnect(timers);
    expect(redial.ms).toBe(0);
    expect(a.peerDown).toEqual([]);
    redial.fn();
    await waitFor('refused redial reported', () => a.peerDown.includes(2));
    // The immediate attempt did not count: the next one waits the first backoff step.
    expect((await nextReconnect(timers)).ms).toBe(100);
    expect(a.logger.find('lost the connection to peer', { peer: 2, redialAtOnce: true })).toHaveLength(1);
  });

  it('backs off, without an immediate redial, after losing a connection that had just opened', async () => {
    const { clock, timers } = manualClock();
    const a = await startNode(1, { clock, random: () => 1, limits: manualLimits });
    const b = await startNode(2);
    a.transport.addPeer(2, b.url);
    await waitFor('connected', () => a.transport.peerStats(2)?.connected === true);
    await b.stop();
    await waitFor('loss reported', () => a.unreachable.includes(2));
    expect((await nextReconnect(timers)).ms).toBe(100);
  });

  it('drops a connection whose peer stops answering pings, reports it, and redials', async () => {
    // A "peer" that completes the upgrade but never answers pings: a half-open connection.
    const mute = new WebSocketServer({ port: 0, host: '127.0.0.1', autoPong: false });
    await once(mute, 'listening');
    let connections = 0;
    mute.on('connection', () => connections++);
    const a = await startNode(1, { limits: { keepaliveIntervalMs: 20, keepaliveTimeoutMs: 100 } });
    a.transport.addPeer(2, `ws://127.0.0.1:${(mute.address() as AddressInfo).port}${RAFT_PEER_PATH}`);
    await waitFor('keepalive failure', () => a.unreachable.includes(2));
    expect(a.logger.find('lost the connection to peer')[0]!.fields['error']).toMatch(/no pong/);
    await waitFor('redial', () => connections >= 2);
    await a.stop();
    for (const c of mute.clients) c.terminate();
    await new Promise<void>((r) => mute.close(() => r()));
  });

  it('closes an inbound connection that stays silent', async () => {
    const b = await startNode(2, { limits: { keepaliveIntervalMs: 20, inboundIdleTimeoutMs: 100 } });
    const ws = await rawPeer(b, 1);
    await once(ws, 'close');
    expect(b.logger.find('closing a silent peer connection')).toHaveLength(1);
  });

  it('removePeer fails its snapshots and drops its queue; addPeer with a new URL re-aims', async () => {
    const a = await startNode(1);
    const port = await deadPort();
    a.transport.addPeer(2, `ws://127.0.0.1:${port}${RAFT_PEER_PATH}`);
    const snapshot = { metadata: { index: 1, term: 1, confState: { voters: [1, 2], learners: [] } }, data: new Uint8Array(10) };
    a.transport.send([app(1, 2, 1), message({ type: MessageType.Snap, from: 1, to: 2, term: 1, snapshot })]);
    a.transport.removePeer(2);
    expect(a.transport.peerStats(2)).toBeUndefined();
    expect(a.snapshotStatus).toEqual([]); // reported on a microtask, not inside removePeer
    await waitFor('snapshot failed', () => a.snapshotStatus.length === 1);
    expect(a.snapshotStatus).toEqual([[2, false]]);
    a.transport.send([app(1, 2, 2)]);
    await waitFor('unknown peer reported', () => a.unreachable.includes(2));

    const b = await startNode(2);
    a.transport.addPeer(2, `ws://127.0.0.1:${port}${RAFT_PEER_PATH}`);
    a.transport.send([app(1, 2, 3)]);
    a.transport.addPeer(2, b.url); // re-aimed at the live address; the queue is kept
    await waitFor('delivery at the new address', () => b.received.length === 1);
    expect(indexes(b.received, 1)).toEqual([3]);
  });

  it('survives a handler that throws', async () => {
    const a = await startNode(1);
    const b = await startNode(2);
    let calls = 0;
    const throwing = new PeerTransport({
      id: 3,
      clusterId: CLUSTER,
      clusterToken: TOKEN,
      logger: b.logger,
      members: [1],
      handlers: {
        onMessage: () => {
          calls++;
          throw new Error('handler bug');
        },
        onUnreachable: () => {},
        onPeerDown: () => {},
        onSnapshotStatus: () => {},
      },
    });
    b.server.removeAllListeners('upgrade');
    b.server.on('upgrade', (req, socket, head) => throwing.handleUpgrade(req, socket, head));
    a.transport.addPeer(3, b.url);
    a.transport.send([heartbeat(1, 3, 1), heartbeat(1, 3, 2)]);
    await waitFor('both delivered', () => calls === 2);
    expect(b.logger.find('the onMessage handler threw')).toHaveLength(2);
    await throwing.close();
  });

  it('close() releases every socket and timer', async () => {
    const resources = (): Record<string, number> => {
      const counts: Record<string, number> = {};
      for (const r of process.getActiveResourcesInfo()) counts[r] = (counts[r] ?? 0) + 1;
      return counts;
    };
    const before = resources();
    const nodes = [await startNode(1), await startNode(2), await startNode(3)];
    for (const x of nodes) for (const y of nodes) if (x !== y) x.transport.addPeer(y.id, y.url);
    nodes[0]!.transport.addPeer(4, `ws://127.0.0.1:${await deadPort()}${RAFT_PEER_PATH}`); // dialing and backing off
    for (const x of nodes) x.transport.send(nodes.filter((y) => y !== x).map((y) => heartbeat(x.id, y.id)));
    await waitFor('mesh up', () => nodes.every((n) => n.received.length === 2));
    const big = { metadata: { index: 1, term: 1, confState: { voters: [1, 2, 3], learners: [] } }, data: new Uint8Array(20 * 1024 * 1024) };
    nodes[0]!.transport.send([message({ type: MessageType.Snap, from: 1, to: 2, term: 1, snapshot: big })]);
    await new Promise((r) => setTimeout(r, 20)); // mid-stream
    await Promise.all(running.splice(0).map((n) => n.stop()));
    await waitFor('resources released', () => {
      const after = resources();
      return ['TCPSocketWrap', 'TCPServerWrap', 'Timeout'].every((k) => (after[k] ?? 0) <= (before[k] ?? 0));
    });
    // And nothing is reported once closed.
    const reports = nodes.map((n) => n.snapshotStatus.length + n.unreachable.length);
    await new Promise((r) => setTimeout(r, 50));
    expect(nodes.map((n) => n.snapshotStatus.length + n.unreachable.length)).toEqual(reports);
    expect(() => nodes[0]!.transport.addPeer(2, nodes[1]!.url)).toThrow(/closed/);
    nodes[0]!.transport.send([heartbeat(1, 2)]); // never throws
  });
});
