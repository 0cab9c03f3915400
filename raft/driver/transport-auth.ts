// The peer handshake: HTTP headers on the WebSocket upgrade request. Checking them before the
// upgrade means a stranger is refused with a plain HTTP status and never gets a WebSocket, so no
// frame of theirs is ever parsed.
//
// The cluster token is a shared secret sent as a bearer token; on ws:// it travels in clear, so a
// network that is not trusted needs wss:// (TLS) in front of the peer port as well.

import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { NodeId } from '../core/types.js';
import { HandshakeRejectReason, PeerHandshakeError, TransportConfigError } from './transport-errors.js';

/** The URL path the master routes to PeerTransport.handleUpgrade. */
export const RAFT_PEER_PATH = '/raft';
/** Bumped when the frame format changes incompatibly; a mismatch is refused at the handshake. */
export const PEER_PROTOCOL_VERSION = '1';
/** Longest cluster id accepted (it travels in a header). */
export const MAX_CLUSTER_ID_LENGTH = 256;
/** Longest cluster token accepted (it travels in a header). */
export const MAX_CLUSTER_TOKEN_LENGTH = 4096;

export const PeerHeader = {
  Protocol: 'x-flotilla-raft-protocol',
  /** The dialer's node id. */
  From: 'x-flotilla-raft-from',
  /** The node id the dialer believes it reached: catches a peer URL that points at the wrong master. */
  To: 'x-flotilla-raft-to',
  ClusterId: 'x-flotilla-cluster-id',
  Authorization: 'authorization',
} as const;

const BEARER = 'Bearer ';
// Visible ASCII only: anything else cannot travel in an HTTP header unchanged.
const HEADER_SAFE = /^[\x21-\x7e]+$/;
const NODE_ID = /^[1-9][0-9]{0,15}$/;

export function checkClusterId(clusterId: string): void {
  if (clusterId.length === 0 || clusterId.length > MAX_CLUSTER_ID_LENGTH || !HEADER_SAFE.test(clusterId)) {
    throw new TransportConfigError('clusterId', `must be 1..${MAX_CLUSTER_ID_LENGTH} visible ASCII characters`);
  }
}

export function checkClusterToken(token: string | undefined): void {
  if (token === undefined) return;
  if (token.length === 0 || token.length > MAX_CLUSTER_TOKEN_LENGTH || !HEADER_SAFE.test(token)) {
    // An empty token is refused rather than read as "no token": an operator who set an empty
    // variable by mistake would otherwise silently run without authentication.
    throw new TransportConfigError('clusterToken', `must be 1..${MAX_CLUSTER_TOKEN_LENGTH} visible ASCII characters, or undefined to disable peer authentication`);
  }
}

export interface HandshakeIdentity {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly clusterId: string;
  readonly clusterToken: string | undefined;
}

/** The headers a dialer sends on its upgrade request. */
export function peerHandshakeHeaders(id: HandshakeIdentity): Record<string, string> {
  const headers: Record<string, string> = {
    [PeerHeader.Protocol]: PEER_PROTOCOL_VERSION,
    [PeerHeader.From]: String(id.from),
    [PeerHeader.To]: String(id.to),
    [PeerHeader.ClusterId]: id.clusterId,
  };
  if (id.clusterToken !== undefined) headers[PeerHeader.Authorization] = `${BEARER}${id.clusterToken}`;
  return headers;
}

function digest(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

function parseNodeId(value: string | undefined): NodeId | undefined {
  if (value === undefined || !NODE_ID.test(value)) return undefined;
  const id = Number(value);
  return Number.isSafeInteger(id) ? id : undefined;
}

function single(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return typeof v === 'string' ? v : undefined;
}

/** Checks upgrade requests against our identity, cluster and (if configured) token. */
export class PeerAuthenticator {
  // Compared as SHA-256 digests: equal lengths for timingSafeEqual, so neither the token's
  // content nor its length leaks through timing.
  private readonly tokenDigest: Buffer | undefined;

  constructor(
    private readonly self: NodeId,
    private readonly clusterId: string,
    clusterToken: string | undefined,
  ) {
    checkClusterId(clusterId);
    checkClusterToken(clusterToken);
    this.tokenDigest = clusterToken === undefined ? undefined : digest(clusterToken);
  }

  get authenticationEnabled(): boolean {
    return this.tokenDigest !== undefined;
  }

  /** The authenticated peer id, or why the dialer is refused. */
  verify(headers: IncomingHttpHeaders, isMember: (id: NodeId) => boolean): NodeId | PeerHandshakeError {
    const claimed = parseNodeId(single(headers, PeerHeader.From));
    const refuse = (reason: HandshakeRejectReason, status: number, detail?: string): PeerHandshakeError =>
      new PeerHandshakeError(reason, status, claimed, detail);

    const protocol = single(headers, PeerHeader.Protocol);
    if (protocol === undefined) return refuse(HandshakeRejectReason.Malformed, 400, `missing ${PeerHeader.Protocol}`);
    if (protocol !== PEER_PROTOCOL_VERSION) return refuse(HandshakeRejectReason.Protocol, 400, `version ${protocol.slice(0, 16)}, we speak ${PEER_PROTOCOL_VERSION}`);

    // The token comes first: a dialer without it learns nothing about our cluster or membership.
    if (this.tokenDigest !== undefined) {
      const auth = single(headers, PeerHeader.Authorization);
      if (auth === undefined || !auth.startsWith(BEARER)) return refuse(HandshakeRejectReason.Token, 401, 'no bearer token');
      if (!timingSafeEqual(digest(auth.slice(BEARER.length)), this.tokenDigest)) return refuse(HandshakeRejectReason.Token, 401, 'token mismatch');
    }

    if (claimed === undefined) return refuse(HandshakeRejectReason.Malformed, 400, `${PeerHeader.From} is not a node id`);
    const target = parseNodeId(single(headers, PeerHeader.To));
    if (target === undefined) return refuse(HandshakeRejectReason.Malformed, 400, `${PeerHeader.To} is not a node id`);
    const clusterId = single(headers, PeerHeader.ClusterId);
    if (clusterId === undefined) return refuse(HandshakeRejectReason.Malformed, 400, `missing ${PeerHeader.ClusterId}`);

    if (clusterId !== this.clusterId) return refuse(HandshakeRejectReason.Cluster, 403, `cluster ${JSON.stringify(clusterId.slice(0, 64))}`);
    if (target !== this.self) return refuse(HandshakeRejectReason.Target, 421, `dialed node ${target}, this is node ${this.self}`);
    if (claimed === this.self) return refuse(HandshakeRejectReason.Self, 403);
    if (!isMember(claimed)) return refuse(HandshakeRejectReason.NotMember, 403);
    return claimed;
  }
}
