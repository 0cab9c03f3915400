// The master's side of the native store protocol (protocol.ts): WebSocket upgrades on
// NATIVE_STORE_PATH of --listen, authenticated with the cluster token, each request served by the
// Backend the etcd face uses (writes through the txn batcher, reads linearizable unless asked).

import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { RateLimitedLog } from '../../raft/driver/transport-log.js';
import type { Backend } from '../backend.js';
import { statusOf } from '../etcd/errors.js';
import { internalRequestAuthorized } from '../leader-forwarder.js';
import type { Logger } from '../logger.js';
import { validateCommand, validateRangeRequest } from '../mvcc/commands.js';
import { singleOpResponse, type ResponseOp } from '../mvcc/responses.js';
import {
  ANSWER_OK,
  MAX_NATIVE_FRAME_BYTES,
  MAX_PENDING_PER_CONNECTION,
  MAX_REQUESTS_PER_FRAME,
  NATIVE_STORE_PATH,
  NativeProtocolError,
  RequestKind,
  decodeRequestFrame,
  encodeFrame,
  frameBytes,
  type WireRequest,
} from './protocol.js';

/** Bound on native clients connected to one master at once; past it, upgrades get 503. */
export const MAX_NATIVE_CONNECTIONS = 1_024;
/** A client that leaves this many answer bytes unread is disconnected (it can reconnect). */
export const MAX_NATIVE_BUFFERED_BYTES = 64 * 1024 * 1024;

/** WebSocket close codes this face uses. */
export const NativeCloseCode = { BadFrame: 1007, TooSlow: 1013, GoingAway: 1001 } as const;

export function isNativeStoreUpgrade(req: IncomingMessage): boolean {
  const url = req.url ?? '';
  const q = url.indexOf('?');
  return (q < 0 ? url : url.slice(0, q)) === NATIVE_STORE_PATH;
}

type Answer = readonly [number, number, unknown];

class Connection {
  private pending = 0;
  private out: Answer[] = [];
  private flushScheduled = false;
  private closed = false;

  constructor(
    private readonly ws: WebSocket,
    private readonly backend: Backend,
    private readonly rateLog: RateLimitedLog,
    private readonly remote: string,
  ) {
    ws.on('message', (data, isBinary) => this.onFrame(data, isBinary));
    ws.on('close', () => {
      this.closed = true;
      this.out = [];
    });
    ws.on('error', () => {});
  }

  private onFrame(data: RawData, isBinary: boolean): void {
    let requests: WireRequest[];
    try {
      if (!isBinary) throw new NativeProtocolError('frames must be binary');
      requests = decodeRequestFrame(frameBytes(data));
    } catch (err) {
      this.rateLog.log('warn', `native-bad-frame:${this.remote}`, 'native store client sent a bad frame; closing', { remote: this.remote, error: (err as Error).message });
      this.ws.close(NativeCloseCode.BadFrame, (err as Error).message.slice(0, 120));
      return;
    }
    for (const r of requests) this.serve(r);
  }

  private serve(r: WireRequest): void {
    if (this.pending >= MAX_PENDING_PER_CONNECTION) {
      this.answer([r.id, GrpcStatus.RESOURCE_EXHAUSTED, `more than ${MAX_PENDING_PER_CONNECTION} requests pending on this connection`]);
      return;
    }
    let work: Promise<unknown>;
    try {
      work = r.kind === RequestKind.Txn ? this.write(r.body) : this.read(r.body);
    } catch (err) {
      this.fail(r.id, err);
      return;
    }
    this.pending++;
    work.then(
      (response) => {
        this.pending--;
        this.answer([r.id, ANSWER_OK, response]);
      },
      (err: unknown) => {
        this.pending--;
        this.fail(r.id, err);
      },
    );
  }

  /** Validates the body as the log would; throws InvalidCommandError naming the field. */
  private write(body: unknown): Promise<ResponseOp> {
    const command = validateCommand(body);
    switch (command.type) {
      case 'txn':
        return this.backend.proposeTxn(command);
      case 'put':
      case 'deleteRange':
        return this.backend.proposeTxn({ compare: [], success: [command], failure: [] }).then((txn) => singleOpResponse(txn, command.type));
      default:
        throw new NativeProtocolError(`a '${RequestKind.Txn}' request carries a txn, put or deleteRange command, not ${command.type}`);
    }
  }

  private read(body: unknown): Promise<ResponseOp> {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new NativeProtocolError(`a '${RequestKind.Range}' request's body must be { request, serializable }`);
    const { request, serializable } = body as Record<string, unknown>;
    if (serializable !== undefined && typeof serializable !== 'boolean') throw new NativeProtocolError('serializable must be a boolean');
    return this.backend.range(validateRangeRequest(request, 'request'), serializable === true ? 'serializable' : 'linearizable');
  }

  private fail(id: number, err: unknown): void {
    if (err instanceof NativeProtocolError) {
      this.answer([id, GrpcStatus.INVALID_ARGUMENT, err.message]);
      return;
    }
    const st = statusOf(err);
    this.answer([id, st.code, st.details]);
  }

  private answer(a: Answer): void {
    if (this.closed) return;
    this.out.push(a);
    if (this.out.length >= MAX_REQUESTS_PER_FRAME) this.flush();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => {
        this.flushScheduled = false;
        this.flush();
      });
    }
  }

  private flush(): void {
    if (this.closed || this.out.length === 0) return;
    const answers = this.out;
    this.out = [];
    if (this.ws.readyState !== WebSocket.OPEN) return;
    if (this.ws.bufferedAmount > MAX_NATIVE_BUFFERED_BYTES) {
      this.rateLog.log('warn', `native-slow:${this.remote}`, 'native store client does not read its answers; closing', { remote: this.remote, bufferedBytes: this.ws.bufferedAmount });
      this.ws.close(NativeCloseCode.TooSlow, 'client too slow: reconnect');
      return;
    }
    this.sendFrames(answers);
  }

  /** One frame, or halves of it when it would exceed the frame bound; a lone answer too large becomes an error. */
  private sendFrames(answers: readonly Answer[]): void {
    const frame = encodeFrame(answers);
    if (frame.byteLength <= MAX_NATIVE_FRAME_BYTES) {
      this.ws.send(frame, { binary: true });
      return;
    }
    if (answers.length === 1) {
      const [id] = answers[0]!;
      this.ws.send(encodeFrame([[id, GrpcStatus.RESOURCE_EXHAUSTED, `the answer is over ${MAX_NATIVE_FRAME_BYTES} bytes; read with a limit`]]), { binary: true });
      return;
    }
    const half = Math.ceil(answers.length / 2);
    this.sendFrames(answers.slice(0, half));
    this.sendFrames(answers.slice(half));
  }
}

export interface NativeStoreFaceOptions {
  readonly backend: Backend;
  readonly logger: Logger;
  /** The cluster token clients must present (Authorization: Bearer); none = no authentication. */
  readonly token: string | undefined;
}

export class NativeStoreFace {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: MAX_NATIVE_FRAME_BYTES, perMessageDeflate: false, clientTracking: true });
  private readonly rateLog: RateLimitedLog;

  constructor(private readonly options: NativeStoreFaceOptions) {
    this.rateLog = new RateLimitedLog(options.logger, () => performance.now(), 60_000, 5);
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const remote = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`;
    if (!internalRequestAuthorized(req.headers.authorization, this.options.token)) {
      this.rateLog.log('warn', `native-unauthorized:${req.socket.remoteAddress ?? '?'}`, 'native store client without the cluster token refused', { remote });
      refuse(socket, 401, 'Unauthorized', 'the cluster token is required (Authorization: Bearer TOKEN)');
      return;
    }
    if (this.wss.clients.size >= MAX_NATIVE_CONNECTIONS) {
      refuse(socket, 503, 'Service Unavailable', `more than ${MAX_NATIVE_CONNECTIONS} native store clients`);
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      new Connection(ws, this.options.backend, this.rateLog, remote);
    });
  }

  async close(): Promise<void> {
    for (const ws of this.wss.clients) ws.close(NativeCloseCode.GoingAway, 'master stopping');
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    for (const ws of this.wss.clients) ws.terminate();
  }
}

function refuse(socket: Duplex, status: number, reason: string, body: string): void {
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body) + 1}\r\nConnection: close\r\n\r\n${body}\n`);
}
