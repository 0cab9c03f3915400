// The RPC server: gRPC-style unary and server-streaming calls multiplexed over one WebSocket per
// client (frames in proto/rpc.proto). Payloads are opaque bytes here; typed.ts adds protobufjs types.
//
// The server owns no listening socket. The master's HTTP server routes upgrades for RPC_PATH here:
//
//   server.on('upgrade', (req, socket, head) => {
//     if (isRpcUpgrade(req)) rpc.handleUpgrade(req, socket, head);
//     else if (isRaftPeerUpgrade(req)) transport.handleUpgrade(req, socket, head);
//     else socket.destroy();
//   });
//
// Guarantees:
// - Nothing a client sends can throw out of here or crash the process. A frame that does not
//   decode, names stream id 0 or a stream id already open, or exceeds maxFrameBytes closes that
//   client's connection (1002, 1009); other clients are unaffected.
// - Every call gets exactly one end status. A handler that throws an RpcError ends its call with
//   that status; anything else it throws is logged and reported as INTERNAL "internal error".
// - Memory per connection is bounded (limits.ts): open calls, pending unary calls, and the outbound
//   buffer, past which streams' send() refuses and the connection's frames are not read.

import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { RPC_PATH } from './frame.js';
import { resolveServerLimits, type RpcServerLimits } from './limits.js';
import { RateLimitedLog, type RpcLogger } from './log.js';
import {
  ServerConnection,
  type CallContext,
  type MethodHandler,
  type Principal,
  type ServerStreamHandler,
  type ServerStreamSink,
  type UnaryHandler,
} from './server-connection.js';
import { errorMessage, OK_STATUS, RpcError, StatusCode } from './status.js';
import type { ServerStreamMethod, UnaryMethod } from './typed.js';

export { RpcCloseCode, type CallContext, type MethodHandler, type Principal, type ServerStreamHandler, type ServerStreamSink, type UnaryHandler } from './server-connection.js';

export { RPC_PATH } from './frame.js';

/** Whether an upgrade request is addressed to the RPC server (path RPC_PATH, any query). */
export function isRpcUpgrade(req: IncomingMessage): boolean {
  const url = req.url ?? '';
  const q = url.indexOf('?');
  return (q < 0 ? url : url.slice(0, q)) === RPC_PATH;
}

/** The bearer token of an Authorization header, or undefined when there is none. */
export function bearerToken(req: IncomingMessage): string | undefined {
  const header = req.headers.authorization;
  if (header === undefined) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

export interface RpcServerOptions {
  /**
   * Decides who a connection speaks for, from the upgrade's `Authorization: Bearer <token>`
   * (undefined without one). Undefined refuses the upgrade with HTTP 401. To run without
   * authentication, pass one that accepts everything.
   */
  readonly authenticate: (token: string | undefined) => Principal | undefined;
  readonly logger: RpcLogger;
  readonly limits?: Partial<RpcServerLimits>;
}

export interface ConnectionStats {
  readonly peer: string;
  readonly principal: string;
  readonly openCalls: number;
  /** Outbound bytes not yet flushed; stays near maxConnectionBufferedBytes at most. */
  readonly bufferedBytes: number;
}

export class RpcServerError extends Error {
  override readonly name = 'RpcServerError';
}

/** Answers a refused upgrade with a bare HTTP status. */
function refuseUpgrade(socket: Duplex, status: number): void {
  socket.on('error', () => {}); // the client may already be gone; nothing is left to do
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const text = STATUS_CODES[status] ?? 'Refused';
  socket.once('finish', () => socket.destroy());
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`);
}

export class RpcServer {
  readonly limits: RpcServerLimits;
  private readonly authenticate: RpcServerOptions['authenticate'];
  private readonly logger: RpcLogger;
  private readonly rateLog: RateLimitedLog;
  private readonly wss: WebSocketServer;
  private readonly methods = new Map<string, MethodHandler>();
  private readonly connections = new Set<ServerConnection>();
  private readonly sockets = new Set<WebSocket>();
  private readonly keepaliveTimer: NodeJS.Timeout;
  /** Upgrades accepted by auth whose WebSocket handshake has not completed; they count against maxConnections. */
  private upgrading = 0;
  private closed = false;
  private closing: Promise<void> | undefined;

  constructor(opts: RpcServerOptions) {
    this.limits = resolveServerLimits(opts.limits);
    this.authenticate = opts.authenticate;
    this.logger = opts.logger;
    this.rateLog = new RateLimitedLog(opts.logger, () => performance.now(), this.limits.logRateWindowMs, this.limits.logRateMaxPerWindow);
    this.wss = new WebSocketServer({ noServer: true, clientTracking: false, perMessageDeflate: false, maxPayload: this.limits.maxFrameBytes });
    this.keepaliveTimer = setInterval(() => {
      for (const conn of this.connections) conn.keepalive();
    }, this.limits.keepaliveIntervalMs);
    this.keepaliveTimer.unref();
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** One row per open connection, for metrics and tests. */
  connectionStats(): ConnectionStats[] {
    return [...this.connections].map((c) => ({ peer: c.peer, principal: c.principal.name, openCalls: c.openCalls, bufferedBytes: c.bufferedBytes }));
  }

  unary(method: string, handler: UnaryHandler): this {
    return this.register(method, { kind: 'unary', handler });
  }

  serverStream(method: string, handler: ServerStreamHandler): this {
    return this.register(method, { kind: 'serverStream', handler });
  }

  /** A unary method with protobufjs-typed request and response. A request that does not decode is INVALID_ARGUMENT. */
  unaryTyped<Req, Res>(method: UnaryMethod<Req, Res>, handler: (request: Req, ctx: CallContext) => Promise<Res>): this {
    return this.unary(method.name, async (payload, ctx) => method.response.encode(await handler(decodeRequest(method.request, payload, method.name), ctx)));
  }

  serverStreamTyped<Req, Res>(
    method: ServerStreamMethod<Req, Res>,
    handler: (request: Req, ctx: CallContext, stream: TypedServerStreamSink<Res>) => Promise<void>,
  ): this {
    return this.serverStream(method.name, (payload, ctx, sink) =>
      handler(decodeRequest(method.request, payload, method.name), ctx, {
        send: (message) => sink.send(method.response.encode(message)),
        get writable() {
          return sink.writable;
        },
        drained: () => sink.drained(),
      }),
    );
  }

  /**
   * Takes an HTTP upgrade request routed to RPC_PATH. A refused one (bad token, too many
   * connections, shutting down) gets a bare HTTP status. Never throws.
   */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const peer = `${request.socket.remoteAddress ?? '?'}:${request.socket.remotePort ?? '?'}`;
    if (this.closed) {
      refuseUpgrade(socket, 503);
      return;
    }
    if (this.connections.size + this.upgrading >= this.limits.maxConnections) {
      this.rateLog.log('warn', 'upgrade:too-many', 'refused an RPC connection: too many connections', { peer, limit: this.limits.maxConnections });
      refuseUpgrade(socket, 503);
      return;
    }
    let principal: Principal | undefined;
    try {
      principal = this.authenticate(bearerToken(request));
    } catch (err) {
      this.logger.error('authenticate() threw; refusing the connection', { peer, error: errorMessage(err) });
      refuseUpgrade(socket, 500);
      return;
    }
    if (principal === undefined) {
      this.rateLog.log('warn', `upgrade:unauthenticated:${request.socket.remoteAddress ?? '?'}`, 'refused an RPC connection: not authenticated', { peer });
      refuseUpgrade(socket, 401);
      return;
    }
    const who = principal;
    this.upgrading++;
    let counted = true;
    const settle = (): void => {
      if (counted) this.upgrading--;
      counted = false;
    };
    socket.once('close', settle);
    try {
      this.wss.handleUpgrade(request, socket, head, (ws) => {
        settle();
        this.accept(ws, who, peer);
      });
    } catch (err) {
      settle();
      this.rateLog.log('warn', 'upgrade:failed', 'RPC upgrade failed', { peer, error: errorMessage(err) });
      socket.destroy();
    }
  }

  /** Ends every open call with UNAVAILABLE "server shutting down" and closes every connection. Resolves once all sockets are closed. Idempotent. */
  close(): Promise<void> {
    if (this.closing !== undefined) return this.closing;
    this.closed = true;
    clearInterval(this.keepaliveTimer);
    const status = { ...OK_STATUS, code: StatusCode.UNAVAILABLE, message: 'server shutting down' };
    const closedAll = Promise.all(
      [...this.sockets].map(
        (ws) =>
          new Promise<void>((resolve) => {
            if (ws.readyState === ws.CLOSED) resolve();
            else ws.once('close', () => resolve());
          }),
      ),
    );
    for (const conn of [...this.connections]) conn.shutdown(status);
    // A client that does not finish the closing handshake must not hold shutdown up.
    const force = setTimeout(() => {
      for (const ws of this.sockets) ws.terminate();
    }, CLOSE_HANDSHAKE_TIMEOUT_MS);
    this.closing = closedAll.then(() => {
      clearTimeout(force);
      this.wss.close();
    });
    return this.closing;
  }

  private register(method: string, entry: MethodHandler): this {
    if (this.methods.has(method)) throw new RpcServerError(`method ${method} is already registered`);
    this.methods.set(method, entry);
    return this;
  }

  private accept(ws: WebSocket, principal: Principal, peer: string): void {
    if (this.closed) {
      ws.terminate();
      return;
    }
    this.sockets.add(ws);
    ws.once('close', () => this.sockets.delete(ws));
    const conn = new ServerConnection(ws, principal, peer, {
      limits: this.limits,
      logger: this.logger,
      rateLog: this.rateLog,
      lookup: (method) => this.methods.get(method),
      onClosed: (c) => this.connections.delete(c),
    });
    this.connections.add(conn);
  }
}

/** How long close() waits for clients to complete the WebSocket closing handshake before terminating. */
export const CLOSE_HANDSHAKE_TIMEOUT_MS = 2_000;

export interface TypedServerStreamSink<T> {
  send(message: T): boolean;
  readonly writable: boolean;
  drained(): Promise<boolean>;
}

function decodeRequest<T>(codec: { decode(bytes: Uint8Array): T }, payload: Uint8Array, method: string): T {
  try {
    return codec.decode(payload);
  } catch (err) {
    throw new RpcError(StatusCode.INVALID_ARGUMENT, `request to ${method} does not decode: ${errorMessage(err)}`, { cause: err });
  }
}
