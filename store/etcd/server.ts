// An etcd v3 gRPC endpoint over a Backend, so etcd's own tools (etcdctl, clientv3 programs) work
// against Flotilla's store unchanged. Services: KV, Watch, Lease, Cluster and Maintenance (Status,
// and Alarm's GET, which `etcdctl endpoint health` asks; every other Maintenance method, MemberUpdate
// and the whole Auth service answer UNIMPLEMENTED).
//
// The endpoint has no TLS and no authentication yet, so it listens on loopback addresses only.

import {
  status as GrpcStatus,
  type ServerDuplexStream,
  type ServerUnaryCall,
  Server,
  ServerCredentials,
  type UntypedServiceImplementation,
  type sendUnaryData,
} from '@grpc/grpc-js';
import { type Backend, ReadConsistency } from '../backend.js';
import { finishCompaction } from '../compaction-driver.js';
import { MAX_REQUEST_BYTES } from '../mvcc/commands.js';
import { singleOpResponse } from '../mvcc/responses.js';
import { EtcdRpcError, EtcdStatus, type RpcStatus, serviceError, statusOf } from './errors.js';
import { KeepAliveStream, type WireLeaseKeepAliveResponse } from './keepalive-stream.js';
import { etcdServices } from './proto.js';
import {
  readAlarmAction,
  readCompactionRequest,
  readDeleteRangeRequest,
  readLeaseGrantRequest,
  readLeaseId,
  readLeaseTimeToLiveRequest,
  readMemberAddRequest,
  readMemberId,
  readPutRequest,
  readRangeRequest,
  readTxnRequest,
} from './requests.js';
import {
  type WireHeader,
  type WireWatchResponse,
  wireClusterHeader,
  wireDeleteRangeResponse,
  wireHeader,
  wireMember,
  wirePutResponse,
  wireRangeResponse,
  wireStatusResponse,
  wireTxnResponse,
} from './responses.js';
import { WatchStream } from './watch-stream.js';

/** etcd's grpcOverheadBytes: room for the envelope around a request of MAX_REQUEST_BYTES. */
export const GRPC_OVERHEAD_BYTES = 512 * 1024;

/** The largest message the server reads; grpc-js refuses a larger one with RESOURCE_EXHAUSTED, as grpc-go does for etcd. */
export const MAX_RECEIVE_MESSAGE_BYTES = MAX_REQUEST_BYTES + GRPC_OVERHEAD_BYTES;

/** Concurrent calls on one client connection. */
export const MAX_CONCURRENT_STREAMS_PER_CONNECTION = 1_000;

/** On close, calls still open this long after the server stopped listening are cancelled. */
export const SHUTDOWN_GRACE_MS = 1_000;
/** How long a Compact with physical=true waits for the removal of the history (then DEADLINE_EXCEEDED). */
export const PHYSICAL_COMPACTION_TIMEOUT_MS = 60_000;

export const DEFAULT_ETCD_HOST = '127.0.0.1';

const ALARM_CHANGE_UNIMPLEMENTED: RpcStatus = {
  code: GrpcStatus.UNIMPLEMENTED,
  details: 'etcdserver: alarms cannot be raised or cleared (Flotilla raises no alarms)',
};

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '::1', 'localhost']);

export interface EtcdServerOptions {
  readonly backend: Backend;
  /** A loopback address; defaults to 127.0.0.1. */
  readonly host?: string;
  /** 0 (the default) = an ephemeral port. */
  readonly port?: number;
}

export interface EtcdServer {
  /** The port bound (the ephemeral one when 0 was asked for). */
  readonly port: number;
  /** Stops listening, cancels open calls after SHUTDOWN_GRACE_MS, and resolves once the server is down. */
  close(): Promise<void>;
}

type UnaryHandler = (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => void;

/** A unary handler whose every failure, thrown or rejected, becomes the error's gRPC status. */
function unary<Response>(handle: (request: unknown) => Promise<Response>): UnaryHandler {
  return (call, callback) => {
    let answer: Promise<Response>;
    try {
      answer = handle(call.request);
    } catch (error) {
      answer = Promise.reject(error);
    }
    answer.then(
      (response) => callback(null, response),
      (error: unknown) => callback(serviceError(statusOf(error))),
    );
  };
}

function kvService(backend: Backend): UntypedServiceImplementation {
  const header = (revision: number): WireHeader => wireHeader(backend.header(), revision);
  return {
    Range: unary(async (request) => {
      const { request: range, serializable } = readRangeRequest(request);
      const consistency = serializable ? ReadConsistency.Serializable : ReadConsistency.Linearizable;
      const response = await backend.range(range, consistency);
      return wireRangeResponse(response, header(response.revision));
    }),
    // Put and DeleteRange go through the txn batcher as txns of one op (etcd applies them as
    // txns too): the same writes, revision, errors and watch events, coalesced with other writes.
    Put: unary(async (request) => {
      const response = singleOpResponse(await backend.proposeTxn({ compare: [], success: [readPutRequest(request)], failure: [] }), 'put');
      return wirePutResponse(response, header(response.revision));
    }),
    DeleteRange: unary(async (request) => {
      const txn = { compare: [], success: [readDeleteRangeRequest(request)], failure: [] };
      const response = singleOpResponse(await backend.proposeTxn(txn), 'deleteRange');
      return wireDeleteRangeResponse(response, header(response.revision));
    }),
    Txn: unary(async (request) => {
      // Through the txn batcher: coalesced with concurrent txns, answered as if proposed alone.
      const response = await backend.proposeTxn(readTxnRequest(request));
      return wireTxnResponse(response, header(response.revision));
    }),
    Compact: unary(async (request) => {
      const { revision, physical } = readCompactionRequest(request);
      const response = await backend.propose({ type: 'compact', revision });
      if (physical) await finishCompaction(backend, { timeoutMs: PHYSICAL_COMPACTION_TIMEOUT_MS });
      return { header: header(response.revision) };
    }),
  };
}

function watchService(backend: Backend): UntypedServiceImplementation {
  return {
    Watch: (call: ServerDuplexStream<unknown, WireWatchResponse>) => {
      new WatchStream(call, backend);
    },
  };
}

function leaseService(backend: Backend): UntypedServiceImplementation {
  const header = (): WireHeader => wireHeader(backend.header());
  return {
    LeaseGrant: unary(async (request) => {
      const response = await backend.leaseGrant(readLeaseGrantRequest(request));
      return { header: wireHeader(backend.header(), response.revision), ID: response.id, TTL: response.ttl, error: '' };
    }),
    LeaseRevoke: unary(async (request) => {
      const { id } = readLeaseId(request);
      if (id === undefined) throw new EtcdRpcError(EtcdStatus.LeaseNotFound);
      const response = await backend.propose({ type: 'leaseRevoke', id });
      return { header: wireHeader(backend.header(), response.revision) };
    }),
    LeaseKeepAlive: (call: ServerDuplexStream<unknown, WireLeaseKeepAliveResponse>) => {
      new KeepAliveStream(call, backend);
    },
    LeaseTimeToLive: unary(async (request) => {
      const { id, echo, keys } = readLeaseTimeToLiveRequest(request);
      const lease = id === undefined ? undefined : await backend.leaseTimeToLive(id, keys);
      // etcd answers a lease that does not exist with TTL -1 (etcdctl: "already expired"), not an error.
      if (lease === undefined) return { header: header(), ID: echo, TTL: -1, grantedTTL: 0, keys: [] };
      return { header: header(), ID: echo, TTL: lease.remainingSeconds, grantedTTL: lease.grantedTtl, keys: lease.keys };
    }),
    LeaseLeases: unary(async () => {
      const ids = await backend.leases();
      return { header: header(), leases: ids.map((id) => ({ ID: id })) };
    }),
  };
}

function clusterService(backend: Backend): UntypedServiceImplementation {
  const header = (): WireHeader => wireClusterHeader(backend.header());
  return {
    MemberList: unary(async () => ({ header: header(), members: (await backend.members()).map(wireMember) })),
    MemberAdd: unary(async (request) => {
      const { peerUrls, isLearner } = readMemberAddRequest(request);
      const { member, members } = await backend.addMember(peerUrls, isLearner);
      return { header: header(), member: wireMember(member), members: members.map(wireMember) };
    }),
    MemberRemove: unary(async (request) => {
      const members = await backend.removeMember(readMemberId(request));
      return { header: header(), members: members.map(wireMember) };
    }),
    MemberPromote: unary(async (request) => {
      const members = await backend.promoteMember(readMemberId(request));
      return { header: header(), members: members.map(wireMember) };
    }),
  };
}

function maintenanceService(backend: Backend): UntypedServiceImplementation {
  return {
    Status: unary(async () => {
      const status = await backend.status();
      return wireStatusResponse(status, wireHeader(backend.header()));
    }),
    // Flotilla raises no etcd alarms: a GET lists none (`etcdctl endpoint health` asks); raising or
    // clearing one is not supported.
    Alarm: unary(async (request) => {
      if (readAlarmAction(request) !== 'GET') throw new EtcdRpcError(ALARM_CHANGE_UNIMPLEMENTED);
      return { header: wireHeader(backend.header()), alarms: [] };
    }),
  };
}

/** Serves etcd's v3 API for `backend` until close(). Rejects when the address cannot be bound or is not loopback. */
export async function startEtcdServer(options: EtcdServerOptions): Promise<EtcdServer> {
  const host = options.host ?? DEFAULT_ETCD_HOST;
  if (!LOOPBACK_HOSTS.has(host)) {
    throw new Error(`the etcd endpoint has no TLS or authentication yet; it listens on loopback only, not ${host}`);
  }
  const port = options.port ?? 0;
  const services = etcdServices();
  const server = new Server({
    'grpc.max_receive_message_length': MAX_RECEIVE_MESSAGE_BYTES,
    'grpc.max_concurrent_streams': MAX_CONCURRENT_STREAMS_PER_CONNECTION,
    // Nothing reads grpc-js's channelz registry here, and keeping it costs every call a few
    // microseconds (call counters, timestamps) on the face's write path.
    'grpc.enable_channelz': 0,
  });
  server.addService(services.KV, kvService(options.backend));
  server.addService(services.Watch, watchService(options.backend));
  server.addService(services.Lease, leaseService(options.backend));
  server.addService(services.Cluster, clusterService(options.backend));
  server.addService(services.Maintenance, maintenanceService(options.backend));
  const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  const boundPort = await new Promise<number>((resolve, reject) => {
    server.bindAsync(address, ServerCredentials.createInsecure(), (error, bound) => {
      if (error === null) resolve(bound);
      else reject(error);
    });
  });
  let closing: Promise<void> | undefined;
  return {
    port: boundPort,
    close() {
      closing ??= new Promise<void>((resolve) => {
        const force = setTimeout(() => server.forceShutdown(), SHUTDOWN_GRACE_MS);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
      return closing;
    },
  };
}
