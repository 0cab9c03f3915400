// A fault layer over the peer network, for chaos tests (the master's --enable-fault-injection):
// messages to or from blocked members are dropped, so a test can cut any member off from any
// other, one way or both, without root or network namespaces.

import type { Message, NodeId } from '../raft/core/types.js';
import type { PeerNetwork, PeerNetworkFactory, PeerNetworkHandlers } from './server.js';

export class FaultLayer {
  /** Members this one neither sends to nor accepts messages from. */
  blocked = new Set<NodeId>();
  dropped = 0;

  wrap(factory: PeerNetworkFactory): PeerNetworkFactory {
    return (self: NodeId, handlers: PeerNetworkHandlers): PeerNetwork => {
      const inner = factory(self, {
        ...handlers,
        onMessage: (m: Message) => {
          if (this.blocked.has(m.from)) this.dropped++;
          else handlers.onMessage(m);
        },
        // A member cut off from a peer learns nothing of it, its death included: a dropped
        // packet is not a refused connection.
        onPeerDown: (peer: NodeId) => {
          if (!this.blocked.has(peer)) handlers.onPeerDown(peer);
        },
      });
      return {
        send: (ms: readonly Message[]) => {
          const pass = ms.filter((m) => !this.blocked.has(m.to));
          this.dropped += ms.length - pass.length;
          // A blocked snapshot must still be reported, or the leader waits for it forever.
          for (const m of ms) if (m.type === 'snap' && this.blocked.has(m.to)) queueMicrotask(() => handlers.onSnapshotStatus(m.to, false));
          if (pass.length > 0) inner.send(pass);
        },
        handleUpgrade: (req, socket, head) => inner.handleUpgrade(req, socket, head),
        addPeer: (id, url) => inner.addPeer(id, url),
        removePeer: (id) => inner.removePeer(id),
        setMembers: (ids) => inner.setMembers(ids),
        close: () => inner.close(),
      };
    };
  }
}
