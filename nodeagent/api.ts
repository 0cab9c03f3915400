// The part of the API the node agent uses. ApiClient satisfies it structurally (cli/agent.ts
// passes one); FakeAgentApi implements it in memory for the agent's tests.

import type { DeleteOptions, ListOptions, ListResult, WatchEvent, WatchOptions } from '../client/api-client.js';
import { RpcError, StatusCode } from '../apiserver/rpc/status.js';
import type { ApiObject } from '../proto/api/object.js';

export interface AgentApi {
  create<T extends ApiObject>(obj: T): Promise<T>;
  get<T extends ApiObject>(kind: string, name: string, namespace?: string): Promise<T>;
  list<T extends ApiObject>(kind: string, opts?: ListOptions): Promise<ListResult<T>>;
  update<T extends ApiObject>(obj: T): Promise<T>;
  /** Writes only the status subresource; fails with Conflict on a stale resourceVersion. */
  updateStatus<T extends ApiObject>(obj: T): Promise<T>;
  /** A bound pod with a grace period is only marked (deletionTimestamp); grace 0 removes it. */
  delete<T extends ApiObject>(kind: string, name: string, namespace?: string, opts?: DeleteOptions): Promise<{ object: T; deleted: boolean }>;
  /** Ends when the server ends the stream; throws RpcError 'Expired' for a compacted resourceVersion. */
  watch<T extends ApiObject>(kind: string, opts?: WatchOptions): AsyncIterable<WatchEvent<T>>;
}

export function isNotFound(err: unknown): boolean {
  return err instanceof RpcError && err.code === StatusCode.NOT_FOUND;
}

export function isConflict(err: unknown): boolean {
  return err instanceof RpcError && (err.code === StatusCode.ABORTED || err.reason === 'Conflict');
}

export function isAlreadyExists(err: unknown): boolean {
  return err instanceof RpcError && err.code === StatusCode.ALREADY_EXISTS;
}

export function isExpired(err: unknown): boolean {
  return err instanceof RpcError && (err.reason === 'Expired' || err.code === StatusCode.OUT_OF_RANGE);
}
