// Starts the etcd v3 gRPC endpoint for a master over its RaftBackend.

import type { RaftBackend } from './raft-backend.js';
import type { EtcdFace } from './server.js';
import { startEtcdServer } from './etcd/server.js';

export async function startEtcdFace(backend: RaftBackend, host: string, port: number): Promise<EtcdFace> {
  const server = await startEtcdServer({ backend, host, port });
  return { close: () => server.close() };
}
