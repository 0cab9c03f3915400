// A TypeScript client for the store over its etcd v3 gRPC face, used by tools, multi-process
// tests and benchmarks. It talks to one endpoint at a time and moves to the next when the current
// one is unreachable or has no leader. A failed read is safe to retry elsewhere; a write that timed
// out has an unknown outcome, so writes are never retried here — the caller decides.

import * as grpc from '@grpc/grpc-js';
import { etcdPackageDefinition } from './etcd/proto.js';

/** Default deadline of one call. */
export const DEFAULT_CALL_TIMEOUT_MS = 5_000;

export class StoreClientError extends Error {
  override readonly name = 'StoreClientError';
  constructor(
    message: string,
    readonly code: grpc.status,
    readonly endpoint: string,
  ) {
    super(message);
  }

  /** Whether the request may have taken effect (a write that timed out or lost its connection). */
  get outcomeUnknown(): boolean {
    return this.code === grpc.status.DEADLINE_EXCEEDED || this.code === grpc.status.UNAVAILABLE || this.code === grpc.status.CANCELLED;
  }
}

interface WireKv {
  key: Buffer;
  value: Buffer;
  create_revision: string;
  mod_revision: string;
  version: string;
}
interface WireHeader {
  revision: string;
}
interface RangeReply {
  header: WireHeader;
  kvs: WireKv[];
  count: string;
}
interface PutReply {
  header: WireHeader;
}
interface TxnReply {
  header: WireHeader;
  succeeded: boolean;
}

type Unary<Req, Res> = (req: Req, meta: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: Res) => void) => void;
interface KvClient extends grpc.Client {
  Range: Unary<Record<string, unknown>, RangeReply>;
  Put: Unary<Record<string, unknown>, PutReply>;
  DeleteRange: Unary<Record<string, unknown>, PutReply>;
  Txn: Unary<Record<string, unknown>, TxnReply>;
  Compact: Unary<Record<string, unknown>, { header: { revision: string | number } }>;
}
type KvClientConstructor = new (address: string, creds: grpc.ChannelCredentials) => KvClient;

function kvConstructor(): KvClientConstructor {
  const pkg = grpc.loadPackageDefinition(etcdPackageDefinition()) as unknown as { etcdserverpb: { KV: KvClientConstructor } };
  return pkg.etcdserverpb.KV;
}

export interface KeyValue {
  readonly value: Buffer;
  readonly modRevision: number;
  readonly version: number;
}

export class StoreClient {
  private readonly clients: KvClient[];
  private current = 0;

  constructor(
    readonly endpoints: readonly string[],
    private readonly timeoutMs = DEFAULT_CALL_TIMEOUT_MS,
  ) {
    if (endpoints.length === 0) throw new Error('StoreClient needs at least one endpoint');
    const Kv = kvConstructor();
    this.clients = endpoints.map((e) => new Kv(e, grpc.credentials.createInsecure()));
  }

  /** Sticks to one endpoint (tests that want a particular member). */
  useEndpoint(i: number): void {
    this.current = i % this.clients.length;
  }

  private call<Req extends Record<string, unknown>, Res>(method: 'Range' | 'Put' | 'DeleteRange' | 'Txn' | 'Compact', req: Req): Promise<Res> {
    const i = this.current;
    const client = this.clients[i]!;
    const endpoint = this.endpoints[i]!;
    return new Promise((resolve, reject) => {
      const fn = client[method] as unknown as Unary<Req, Res>;
      fn.call(client, req, new grpc.Metadata(), { deadline: Date.now() + this.timeoutMs }, (err, res) => {
        if (err !== null || res === undefined) {
          const code = err?.code ?? grpc.status.UNKNOWN;
          // Move on from a member that is down, cut off or without a leader.
          if (code === grpc.status.UNAVAILABLE || code === grpc.status.DEADLINE_EXCEEDED) this.current = (i + 1) % this.clients.length;
          reject(new StoreClientError(`${method} at ${endpoint}: ${err?.details ?? 'no response'}`, code, endpoint));
          return;
        }
        resolve(res);
      });
    });
  }

  async put(key: string, value: string): Promise<number> {
    const r = await this.call<Record<string, unknown>, PutReply>('Put', { key: Buffer.from(key), value: Buffer.from(value) });
    return Number(r.header.revision);
  }

  /** A linearizable read by default. */
  async get(key: string, opts: { serializable?: boolean } = {}): Promise<KeyValue | undefined> {
    const r = await this.call<Record<string, unknown>, RangeReply>('Range', { key: Buffer.from(key), serializable: opts.serializable === true });
    const kv = r.kvs[0];
    return kv === undefined ? undefined : { value: kv.value, modRevision: Number(kv.mod_revision), version: Number(kv.version) };
  }

  async delete(key: string): Promise<void> {
    await this.call('DeleteRange', { key: Buffer.from(key) });
  }

  /** Sets key to `next` if its value is `expected` (undefined: if it does not exist). */
  async compareAndSet(key: string, expected: string | undefined, next: string): Promise<boolean> {
    const compare =
      expected === undefined
        ? { result: 'EQUAL', target: 'CREATE', key: Buffer.from(key), create_revision: 0 }
        : { result: 'EQUAL', target: 'VALUE', key: Buffer.from(key), value: Buffer.from(expected) };
    const r = await this.call<Record<string, unknown>, TxnReply>('Txn', {
      compare: [compare],
      success: [{ request_put: { key: Buffer.from(key), value: Buffer.from(next) } }],
      failure: [],
    });
    return r.succeeded;
  }

  /**
   * Puts `next` at key if its mod revision is still `modRevision` (0: if it does not exist), as the
   * API's registry writes objects. Resolves with the key's new mod revision, or undefined when the
   * compare failed.
   */
  async compareAndPut(key: string, modRevision: number, next: string): Promise<number | undefined> {
    const r = await this.call<Record<string, unknown>, TxnReply>('Txn', {
      compare: [{ result: 'EQUAL', target: 'MOD', key: Buffer.from(key), mod_revision: modRevision }],
      success: [{ request_put: { key: Buffer.from(key), value: Buffer.from(next) } }],
      failure: [],
    });
    return r.succeeded ? Number(r.header.revision) : undefined;
  }

  /** Compacts the history up to `revision` (etcd's Compact; `physical` waits until it is removed). */
  async compact(revision: number, opts: { physical?: boolean } = {}): Promise<void> {
    await this.call<Record<string, unknown>, unknown>('Compact', { revision, physical: opts.physical === true });
  }

  close(): void {
    for (const c of this.clients) c.close();
  }
}
