// A real RpcServer on an HTTP server bound to 127.0.0.1 port 0, for tests and the bench.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { RpcServerLimits } from './limits.js';
import type { RpcLogger } from './log.js';
import { isRpcUpgrade, RpcServer, type Principal } from './server.js';

export interface LoopbackRpcServer {
  readonly rpc: RpcServer;
  readonly http: Server;
  /** "127.0.0.1:port". */
  readonly endpoint: string;
  /** Destroys every upgraded TCP socket without a closing handshake, as a crashed server would. */
  killConnections(): void;
  stop(): Promise<void>;
}

export interface LoopbackOptions {
  readonly authenticate?: (token: string | undefined) => Principal | undefined;
  readonly logger?: RpcLogger;
  readonly limits?: Partial<RpcServerLimits>;
  /** Reuse a port (to restart a server where a client expects it). */
  readonly port?: number;
}

export async function startLoopbackRpcServer(opts: LoopbackOptions = {}): Promise<LoopbackRpcServer> {
  const rpc = new RpcServer({
    authenticate: opts.authenticate ?? (() => ({ name: 'anonymous' })),
    logger: opts.logger ?? { info: () => {}, warn: () => {}, error: () => {} },
    ...(opts.limits === undefined ? {} : { limits: opts.limits }),
  });
  const http = createServer((_req, res) => {
    res.statusCode = 404;
    res.end();
  });
  const upgraded = new Set<Duplex>();
  http.on('upgrade', (req, socket, head) => {
    upgraded.add(socket);
    socket.once('close', () => upgraded.delete(socket));
    if (isRpcUpgrade(req)) rpc.handleUpgrade(req, socket, head);
    else socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = http.address() as AddressInfo;
  let stopping: Promise<void> | undefined;
  return {
    rpc,
    http,
    endpoint: `127.0.0.1:${port}`,
    killConnections: () => {
      for (const socket of upgraded) socket.destroy();
    },
    stop: () => {
      stopping ??= (async () => {
        const closedHttp = new Promise<void>((resolve) => http.close(() => resolve()));
        await rpc.close();
        http.closeAllConnections();
        await closedHttp;
      })();
      return stopping;
    },
  };
}
