// The master's peer network: the WebSocket PeerTransport of raft/driver.

import type { NodeId } from '../raft/core/types.js';
import { PeerTransport } from '../raft/driver/transport.js';
import type { Logger } from './logger.js';
import type { PeerNetwork, PeerNetworkHandlers } from './server.js';

export interface WebSocketPeerNetworkOptions {
  readonly self: NodeId;
  readonly handlers: PeerNetworkHandlers;
  readonly token: string | undefined;
  readonly clusterId: string;
  readonly logger: Logger;
}

export function webSocketPeerNetwork(opts: WebSocketPeerNetworkOptions): PeerNetwork {
  return new PeerTransport({
    id: opts.self,
    clusterId: opts.clusterId,
    clusterToken: opts.token,
    logger: opts.logger,
    handlers: opts.handlers,
  });
}
