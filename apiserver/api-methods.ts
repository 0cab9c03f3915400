// The API's methods (proto/api/service.proto), declared once for the server (apiserver/service.ts)
// and the client (client/), so request and response shapes cannot drift apart.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { apiProtoDir } from '../proto/api/codec.js';
import { serverStreamMethod, unaryMethod } from './rpc/typed.js';
import { watchEventCodec } from './watch-event-codec.js';

export const API_SERVICE = 'flotilla.api.v1.Resources';

const root = protobuf.parse(readFileSync(join(apiProtoDir(), 'service.proto'), 'utf8'), { keepCase: false }).root;
const type = (name: string): protobuf.Type => root.lookupType(`flotilla.api.v1.${name}`);

/** uint64s travel as decimal strings (PROTOBUF_CONVERSION), bytes as Uint8Array. */
export interface StoredObjectMsg {
  raw: Uint8Array;
  resourceVersion: string;
}
export interface CreateRequestMsg {
  kind: string;
  object: Uint8Array;
}
export interface ObjectResponseMsg {
  object?: StoredObjectMsg;
}
export interface GetRequestMsg {
  kind: string;
  namespace: string;
  name: string;
  serializable: boolean;
}
export interface ListRequestMsg {
  kind: string;
  namespace: string;
  labelSelector: string;
  fieldSelector: string;
  limit: number;
  continue: string;
  resourceVersion: string;
}
export interface ListResponseMsg {
  items: StoredObjectMsg[];
  resourceVersion: string;
  continue: string;
}
export interface UpdateRequestMsg {
  kind: string;
  object: Uint8Array;
  status: boolean;
}
export interface PatchRequestMsg {
  kind: string;
  namespace: string;
  name: string;
  mergePatch: string;
  status: boolean;
}
export interface DeleteRequestMsg {
  kind: string;
  namespace: string;
  name: string;
  /** A decimal string when present. */
  gracePeriodSeconds?: string | number | null;
  preconditionUid: string;
  preconditionResourceVersion: string;
}
export interface DeleteResponseMsg {
  object?: StoredObjectMsg;
  deleted: boolean;
}
export interface BindRequestMsg {
  namespace: string;
  name: string;
  nodeName: string;
  uid: string;
}
export interface WatchRequestMsg {
  kind: string;
  namespace: string;
  labelSelector: string;
  fieldSelector: string;
  resourceVersion: string;
  allowBookmarks: boolean;
}
export interface WatchEventMsg {
  type: string;
  object?: StoredObjectMsg;
}
export interface ItemErrorMsg {
  code: number;
  reason: string;
  message: string;
  violations: { field: string; description: string }[];
}
export interface BulkResultMsg {
  object?: StoredObjectMsg | null;
  error?: ItemErrorMsg | null;
}
export interface BulkCreateRequestMsg {
  kind: string;
  objects: Uint8Array[];
}
export interface BulkUpdateRequestMsg {
  kind: string;
  objects: Uint8Array[];
  status: boolean;
}
export interface BulkBindRequestMsg {
  bindings: BindRequestMsg[];
}
export interface BulkResponseMsg {
  results: BulkResultMsg[];
}
export interface LogsRequestMsg {
  namespace: string;
  pod: string;
  container: string;
  follow: boolean;
  previous: boolean;
}
export interface LogChunkMsg {
  data: Uint8Array;
}
export interface WhoAmIResponseMsg {
  user: string;
  master: string;
}

const m = (name: string): string => `${API_SERVICE}/${name}`;

export const ApiMethods = {
  create: unaryMethod<CreateRequestMsg, ObjectResponseMsg>(m('Create'), type('CreateRequest'), type('ObjectResponse')),
  get: unaryMethod<GetRequestMsg, ObjectResponseMsg>(m('Get'), type('GetRequest'), type('ObjectResponse')),
  list: unaryMethod<ListRequestMsg, ListResponseMsg>(m('List'), type('ListRequest'), type('ListResponse')),
  update: unaryMethod<UpdateRequestMsg, ObjectResponseMsg>(m('Update'), type('UpdateRequest'), type('ObjectResponse')),
  patch: unaryMethod<PatchRequestMsg, ObjectResponseMsg>(m('Patch'), type('PatchRequest'), type('ObjectResponse')),
  delete: unaryMethod<DeleteRequestMsg, DeleteResponseMsg>(m('Delete'), type('DeleteRequest'), type('DeleteResponse')),
  bind: unaryMethod<BindRequestMsg, ObjectResponseMsg>(m('Bind'), type('BindRequest'), type('ObjectResponse')),
  watch: serverStreamMethod<WatchRequestMsg, WatchEventMsg>(m('Watch'), type('WatchRequest'), type('WatchEvent'), watchEventCodec),
  bulkCreate: unaryMethod<BulkCreateRequestMsg, BulkResponseMsg>(m('BulkCreate'), type('BulkCreateRequest'), type('BulkResponse')),
  bulkUpdate: unaryMethod<BulkUpdateRequestMsg, BulkResponseMsg>(m('BulkUpdate'), type('BulkUpdateRequest'), type('BulkResponse')),
  bulkBind: unaryMethod<BulkBindRequestMsg, BulkResponseMsg>(m('BulkBind'), type('BulkBindRequest'), type('BulkResponse')),
  logs: serverStreamMethod<LogsRequestMsg, LogChunkMsg>(m('Logs'), type('LogsRequest'), type('LogChunk')),
  whoAmI: unaryMethod<Record<string, never>, WhoAmIResponseMsg>(m('WhoAmI'), type('WhoAmIRequest'), type('WhoAmIResponse')),
} as const;

/** Items one bulk request may carry; a larger request is INVALID_ARGUMENT (split it). */
export const MAX_BULK_ITEMS = 1_000;
