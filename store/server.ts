// A store master process: one HTTP server on --listen for peers (WebSocket upgrades on /raft),
// native store clients (upgrades on /store/v1, store/native/) and status (GET /status), the Raft
// member over LMDB, and the etcd v3 gRPC endpoint on --etcd-listen.

import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ConfChange } from '../raft/core/confchange.js';
import { type ConfState, type Message, NONE, type NodeId, Role } from '../raft/core/types.js';
import type { PeerSender, RaftNodeStats } from '../raft/driver/raft-node.js';
import type { TxnBatcherStats } from './txn-batcher.js';
import { isRaftPeerUpgrade, RAFT_PEER_PATH } from '../raft/driver/transport.js';
import type { Logger } from './logger.js';
import { GcPauses, type GcPausesMs } from './gc-pauses.js';
import { LoopDelay, type LoopDelayMs } from './loop-delay.js';
import { StoreMember } from './member.js';
import { decodeMemberContext, encodeMemberContext, memberIdFromAddress, parseHostPort, type MemberContext, type PeerSpec } from './members.js';
import { FaultLayer } from './fault-network.js';
import { LEASE_KEEPALIVE_PATH, LEASE_TTL_PATH, httpLeaderForwarder, internalRequestAuthorized } from './leader-forwarder.js';
import { RaftBackend } from './raft-backend.js';
import { NoLeaderError, NotLeaderError } from './backend.js';
import { LeaseNotFoundError } from './mvcc/errors.js';
import { NativeStoreFace, isNativeStoreUpgrade } from './native/face.js';

/** The peer network a master needs (the WebSocket PeerTransport, or a test double). */
export interface PeerNetwork extends PeerSender {
  /** Takes over an HTTP upgrade request for the peer path. */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void;
  addPeer(id: NodeId, url: string): void;
  removePeer(id: NodeId): void;
  setMembers(ids: readonly NodeId[]): void;
  close(): Promise<void>;
}

export interface PeerNetworkHandlers {
  onMessage(m: Message): void;
  onUnreachable(peer: NodeId): void;
  /** A dial to `peer` was refused: its process is gone (a hint for a faster election). */
  onPeerDown(peer: NodeId): void;
  onSnapshotStatus(peer: NodeId, ok: boolean): void;
}

export type PeerNetworkFactory = (self: NodeId, handlers: PeerNetworkHandlers) => PeerNetwork;

export const RAFT_PATH = RAFT_PEER_PATH;

export interface MasterConfig {
  readonly name: string;
  readonly dataDir: string;
  /** host:port for peers and status. */
  readonly listen: string;
  readonly peers: readonly PeerSpec[];
  /** host:port for the etcd v3 gRPC endpoint; none when undefined. */
  readonly etcdListen?: string;
  /** Join an existing cluster (the member was added with MemberAdd) instead of founding one. */
  readonly join?: boolean;
  readonly tickMs?: number;
  readonly snapshotEvery?: number;
  /** Serve PUT /debug/partition?block=NAME,... (chaos tests only). */
  readonly faultInjection?: boolean;
  /** The cluster token: peers present it, and so do forwarded internal requests. */
  readonly token?: string;
}

export interface MasterStatusReport {
  readonly name: string;
  readonly id: string;
  readonly address: string;
  readonly role: string;
  readonly term: number;
  readonly leader: string;
  readonly leaderName: string;
  readonly commit: number;
  readonly applied: number;
  readonly lastIndex: number;
  readonly revision: number;
  readonly voters: readonly string[];
  readonly learners: readonly string[];
  readonly etcdEndpoint: string;
  readonly raftStats: RaftNodeStats;
  /** How this master's txn batcher coalesced writes (entries proposed, txns in them, the largest). */
  readonly txnBatches: TxnBatcherStats;
  /** process.memoryUsage() of the master, in bytes. */
  readonly memory: { readonly rss: number; readonly heapUsed: number };
  /** How late the event loop ran timers since the master started (stalls show here first). */
  readonly eventLoopDelayMs: LoopDelayMs;
  /** The garbage collector's pauses since the master started (every write and event waits them out). */
  readonly gcPausesMs: GcPausesMs;
  /** The PID of this master's scheduler process, while one runs (benchmarks add its CPU to the master's). */
  readonly schedulerPid?: number;
}

/** The event loop's delay, sampled every 20 ms for the master's whole life. */
const loopDelay = new LoopDelay(20);
/** The garbage collector's pauses, for the master's whole life. */
const gcPauses = new GcPauses();

/** The stall watch looks at the event loop this often. */
export const STALL_CHECK_MS = 100;
/**
 * How long a stopping leader waits for a follower to take over. A transfer takes a round trip or
 * two; when the whole cluster stops at once the target is stopping too, and this is what it costs.
 */
export const LEADERSHIP_HANDOFF_TIMEOUT_MS = 500;
/** How often the stopping leader looks whether the transfer is done. */
const HANDOFF_POLL_MS = 5;
/** A timer this late is logged as a stall: past half an election timeout, leadership is at risk. */
export const STALL_LOG_MS = 500;

/**
 * Logs each event-loop stall of STALL_LOG_MS or more with its length, so a leader change or a
 * timed-out write can be matched with what held the loop. Returns the stop function.
 */
function watchStalls(logger: Logger): () => void {
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    const late = now - last - STALL_CHECK_MS;
    last = now;
    if (late >= STALL_LOG_MS) logger.warn('event loop stalled', { ms: Math.round(late) });
  }, STALL_CHECK_MS);
  timer.unref();
  return () => clearInterval(timer);
}

export interface EtcdFace {
  close(): Promise<void>;
}

/**
 * What the layer above the store (the API server) plugs into a master: WebSocket upgrades on its own
 * paths of --listen, and a clean stop. The store knows nothing else of it.
 */
export interface ApiFace {
  handlesUpgrade(request: IncomingMessage): boolean;
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void;
  close(): Promise<void>;
}
export type ApiFaceFactory = (backend: RaftBackend, master: { readonly name: string; readonly logger: Logger }) => Promise<ApiFace>;
export type EtcdFaceFactory = (backend: RaftBackend, host: string, port: number) => Promise<EtcdFace>;

export class Master {
  private handOffTried = false;
  /** Where status() finds the PID of the master's scheduler process (cli/scheduler-process.ts). */
  schedulerPid: () => number | undefined = () => undefined;

  private constructor(
    readonly config: MasterConfig,
    readonly id: NodeId,
    readonly member: StoreMember,
    readonly backend: RaftBackend,
    private readonly http: Server,
    private readonly network: PeerNetwork,
    private readonly etcd: EtcdFace | undefined,
    private readonly native: NativeStoreFace,
    private readonly api: ApiFace | undefined,
    private readonly unsubscribeRestores: () => void,
    private readonly logger: Logger,
  ) {
    this.stopStallWatch = watchStalls(logger);
  }

  private readonly stopStallWatch: () => void;

  static async start(config: MasterConfig, deps: { logger: Logger; network: PeerNetworkFactory; etcd?: EtcdFaceFactory; api?: ApiFaceFactory }): Promise<Master> {
    const { logger } = deps;
    const listen = parseHostPort(config.listen, '--listen');
    const self = config.peers.find((p) => p.name === config.name);
    if (self === undefined) throw new Error(`--peers has no entry for this member's --name '${config.name}'`);
    if (self.address !== config.listen) {
      throw new Error(`--listen ${config.listen} differs from this member's --peers address ${self.address}; they must match`);
    }
    const id = memberIdFromAddress(config.listen);
    const names = new Map<NodeId, MemberContext>(config.peers.map((p) => [p.id, { name: p.name, address: p.address }]));

    let backend: RaftBackend | undefined;
    let network: PeerNetwork | undefined;
    const faults = config.faultInjection === true ? new FaultLayer() : undefined;
    const networkFactory = faults === undefined ? deps.network : faults.wrap(deps.network);
    // Storage opens first: a corrupt log must stop the master before it dials or serves anything.
    const member: StoreMember = StoreMember.open({
      id,
      dataDir: config.dataDir,
      initialMembers: config.peers.map((p) => ({ id: p.id, context: encodeMemberContext({ name: p.name, address: p.address }) })),
      join: config.join === true,
      transport: { send: (ms) => network?.send(ms) },
      logger,
      ...(config.tickMs !== undefined ? { tickMs: config.tickMs } : {}),
      ...(config.snapshotEvery !== undefined ? { snapshotEvery: config.snapshotEvery, compactionMargin: Math.min(5_000, Math.floor(config.snapshotEvery / 2)) } : {}),
      onConfChange: (cs: ConfState, cc: ConfChange) => {
        const members = [...cs.voters, ...cs.learners];
        network?.setMembers(members);
        if (cc.type === 'remove-node') {
          if (cc.nodeId !== id) network?.removePeer(cc.nodeId);
        } else if (cc.nodeId !== id) {
          // The state machine has recorded the change: the registry holds the member's address.
          const address = member.store.mvcc.member(cc.nodeId)?.peerAddress || names.get(cc.nodeId)?.address || decodeMemberContext(cc.context)?.address;
          if (address !== undefined && address.length > 0) network?.addPeer(cc.nodeId, `ws://${address}${RAFT_PATH}`);
        }
        backend?.confChanged(cs, cc);
      },
    });
    try {
      network = networkFactory(id, {
        onMessage: (m) => member.raft.step(m),
        onUnreachable: (peer) => member.raft.reportUnreachable(peer),
        onPeerDown: (peer) => member.raft.reportPeerDown(peer),
        onSnapshotStatus: (peer, ok) => member.raft.reportSnapshot(peer, ok),
      });
    } catch (err) {
      await member.close();
      throw err;
    }
    for (const p of config.peers) if (p.id !== id) network.addPeer(p.id, `ws://${p.address}${RAFT_PATH}`);
    network.setMembers(config.peers.map((p) => p.id));
    // Members the flags do not name are known from the registry (restored from a snapshot, now or
    // when one is installed later): dial them too. The registry's address wins over the flags'.
    const dialRegistered = (): void => {
      const cs = member.raft.status().confState;
      const current = new Set([...cs.voters, ...cs.learners]);
      for (const m of member.store.mvcc.members()) {
        if (m.id !== id && current.has(m.id) && m.peerAddress.length > 0) network?.addPeer(m.id, `ws://${m.peerAddress}${RAFT_PATH}`);
      }
      if (current.size > 0) network?.setMembers([...new Set([...current, ...config.peers.map((p) => p.id)])]);
    };
    dialRegistered();
    const unsubscribeRestores = member.store.mvcc.subscribe((change) => {
      if (change.type === 'restored') queueMicrotask(dialRegistered);
    });
    const etcdHostPort = config.etcdListen === undefined ? undefined : parseHostPort(config.etcdListen, '--etcd-listen');
    backend = new RaftBackend({
      member,
      clusterId: BigInt(config.peers.map((p) => p.id).sort((a, b) => a - b).reduce((h, i) => (h * 31 + i) % 2 ** 48, 7)),
      knownMembers: names,
      name: config.name,
      clientUrl: etcdHostPort === undefined ? '' : `http://${config.etcdListen}`,
      dbSizeBytes: () => lmdbFileBytes(member),
      forwarder: httpLeaderForwarder(config.token),
    });

    const http = createServer((req, res) => {
      if (req.method === 'GET' && (req.url === '/status' || req.url === '/status?gc=1')) {
        // ?gc=1 collects garbage first when node runs with --expose-gc, so benchmarks can read
        // the heap that is really held (memory per watcher).
        const gc = (globalThis as { gc?: () => void }).gc;
        if (req.url.endsWith('?gc=1') && gc !== undefined) gc();
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(master.status()));
        return;
      }
      if (req.method === 'POST' && (req.url?.startsWith(LEASE_KEEPALIVE_PATH) === true || req.url?.startsWith(LEASE_TTL_PATH) === true)) {
        void serveLeaseRequest(req.url, req.headers.authorization, config.token, backend!).then(({ status, body }) => {
          res.writeHead(status, { 'content-type': 'application/json' });
          res.end(body);
        });
        return;
      }
      if (faults !== undefined && req.method === 'PUT' && req.url?.startsWith('/debug/partition')) {
        const block = new URL(req.url, 'http://x').searchParams.get('block') ?? '';
        const ids = block.split(',').filter((n) => n.length > 0).map((n) => config.peers.find((p) => p.name === n)?.id);
        if (ids.some((i) => i === undefined)) {
          res.writeHead(400, { 'content-type': 'text/plain' });
          res.end(`unknown member in block=${block}\n`);
          return;
        }
        faults.blocked = new Set(ids as NodeId[]);
        logger.warn('fault injection: peer traffic blocked', { block });
        res.writeHead(204);
        res.end();
        return;
      }
      if (req.method === 'GET' && req.url === '/healthz') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('ok\n');
        return;
      }
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end(`no route for ${req.method ?? '?'} ${req.url ?? '?'}\n`);
    });
    let api: ApiFace | undefined;
    const native = new NativeStoreFace({ backend, logger, token: config.token });
    http.on('upgrade', (req, socket, head) => {
      if (isRaftPeerUpgrade(req)) network.handleUpgrade(req, socket, head);
      else if (isNativeStoreUpgrade(req)) native.handleUpgrade(req, socket, head);
      else if (api?.handlesUpgrade(req) === true) api.handleUpgrade(req, socket, head);
      else socket.destroy();
    });
    let etcd: EtcdFace | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        http.once('error', reject);
        http.listen(listen.port, listen.host, () => resolve());
      });
      etcd = etcdHostPort === undefined || deps.etcd === undefined ? undefined : await deps.etcd(backend, etcdHostPort.host, etcdHostPort.port);
      api = deps.api === undefined ? undefined : await deps.api(backend, { name: config.name, logger });
    } catch (err) {
      await etcd?.close();
      await native.close();
      http.close();
      backend.close();
      await network.close();
      await member.close();
      throw err;
    }
    const master: Master = new Master(config, id, member, backend, http, network, etcd, native, api, unsubscribeRestores, logger);
    member.start();
    void backend.publish();
    logger.info('master started', { name: config.name, id: id.toString(16), listen: config.listen, etcd: config.etcdListen ?? null });
    return master;
  }

  status(): MasterStatusReport {
    const st = this.member.raft.status();
    const nameOf = (id: NodeId): string => this.backend.memberContext(id)?.name || id.toString(16);
    const schedulerPid = this.schedulerPid();
    return {
      name: this.config.name,
      id: this.id.toString(16),
      address: this.config.listen,
      role: st.role,
      term: st.term,
      leader: st.lead === 0 ? '' : st.lead.toString(16),
      leaderName: st.lead === 0 ? '' : nameOf(st.lead),
      commit: st.commit,
      applied: st.appliedIndex,
      lastIndex: st.lastIndex,
      revision: this.member.store.mvcc.currentRevision,
      voters: st.confState.voters.map(nameOf),
      learners: st.confState.learners.map(nameOf),
      etcdEndpoint: this.config.etcdListen ?? '',
      raftStats: { ...this.member.raft.stats },
      txnBatches: this.member.store.batcher.stats,
      memory: { rss: process.memoryUsage().rss, heapUsed: process.memoryUsage().heapUsed },
      eventLoopDelayMs: loopDelay.read(),
      gcPausesMs: gcPauses.read(),
      ...(schedulerPid !== undefined ? { schedulerPid } : {}),
    };
  }

  /**
   * When this master leads: hands leadership to the most caught-up voter (Raft's leadership
   * transfer: it is sent what it lacks, then told to campaign at once) and waits, at most
   * `timeoutMs`, until another member leads, so a graceful stop costs the cluster
   * no election timeout (etcd does the same on shutdown). Resolves true if leadership moved. Only
   * the first call of a master does anything: it is meant for stopping.
   */
  async handOffLeadership(timeoutMs: number = LEADERSHIP_HANDOFF_TIMEOUT_MS): Promise<boolean> {
    // Once per stop: close() asks again after a caller that already did.
    if (this.handOffTried) return false;
    this.handOffTried = true;
    const raft = this.member.raft;
    const before = raft.status();
    if (before.role !== Role.Leader) return false;
    let target: NodeId | undefined;
    let targetMatch = -1;
    for (const [id, progress] of before.progress) {
      if (id === before.id || progress.isLearner || progress.match <= targetMatch) continue;
      target = id;
      targetMatch = progress.match;
    }
    if (target === undefined) return false;
    raft.transferLeadership(target);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, HANDOFF_POLL_MS));
      const now = raft.status();
      // Done once another member leads and this one has heard from it (not merely stepped down:
      // the new leader's election may still need this member's vote).
      if (now.role !== Role.Leader && now.lead !== NONE && now.lead !== before.id) {
        this.logger.info('leadership handed off', { to: now.lead.toString(16), term: now.term });
        return true;
      }
      // The core gives a transfer up after an election timeout; so does this wait, at its bound.
      if ((now.role === Role.Leader && now.leadTransferee === NONE) || Date.now() >= deadline) {
        this.logger.warn('leadership hand-off did not complete; stopping anyway', { to: target.toString(16) });
        return false;
      }
    }
  }

  async close(): Promise<void> {
    // A master that cannot hand over (its Raft node failed, say) still closes everything else.
    await this.handOffLeadership().catch((error: unknown) => this.logger.warn('leadership hand-off failed', { error: (error as Error).message }));
    this.logger.info('master stopping', { name: this.config.name });
    this.stopStallWatch();
    await this.api?.close();
    await this.etcd?.close();
    await this.native.close();
    this.unsubscribeRestores();
    this.backend.close();
    await this.network.close();
    await new Promise<void>((resolve) => {
      this.http.close(() => resolve());
      this.http.closeAllConnections();
    });
    await this.member.close();
  }
}

/** The LMDB file's used size: (last page number + 1) x page size. */
function lmdbFileBytes(member: StoreMember): number {
  const stats = member.root.getStats() as { pageSize?: number; lastPageNumber?: number };
  return (stats.pageSize ?? 4096) * ((stats.lastPageNumber ?? -1) + 1);
}

/** A lease request forwarded by a follower: answered only by the leader, with the cluster token. */
async function serveLeaseRequest(url: string, authorization: string | undefined, token: string | undefined, backend: RaftBackend): Promise<{ status: number; body: string }> {
  if (!internalRequestAuthorized(authorization, token)) return { status: 401, body: '{"error":"cluster token required"}' };
  const params = new URL(url, 'http://x').searchParams;
  const id = Number(params.get('id'));
  if (!Number.isSafeInteger(id) || id <= 0) return { status: 400, body: '{"error":"id must be a positive integer"}' };
  if (backend.isLeader() !== true) return { status: 421, body: '{"error":"not the leader"}' };
  try {
    if (url.startsWith(LEASE_KEEPALIVE_PATH)) return { status: 200, body: JSON.stringify({ ttl: await backend.leaseKeepAlive(id) }) };
    const ttl = await backend.leaseTimeToLive(id, params.get('keys') === '1');
    if (ttl === undefined) return { status: 404, body: '{"error":"lease not found"}' };
    return { status: 200, body: JSON.stringify({ remainingSeconds: ttl.remainingSeconds, grantedTtl: ttl.grantedTtl, keys: ttl.keys.map((k) => Buffer.from(k).toString('base64')) }) };
  } catch (err) {
    if (err instanceof LeaseNotFoundError) return { status: 404, body: '{"error":"lease not found"}' };
    if (err instanceof NotLeaderError) return { status: 421, body: '{"error":"not the leader"}' };
    if (err instanceof NoLeaderError) return { status: 503, body: '{"error":"no leader"}' };
    return { status: 500, body: JSON.stringify({ error: (err as Error).message }) };
  }
}
