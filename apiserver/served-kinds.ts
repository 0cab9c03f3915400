// The kinds every master serves: the resource registry (apiserver/resources) and the protobuf codec
// (proto/api) as the registry's KindHandlers.

import { decodeObject, encodeObject, projectedDecoder } from '../proto/api/codec.js';
import type { ApiObject } from '../proto/api/object.js';
import { ALL_KINDS, type AnyObject } from '../proto/api/types.js';
import { applyDefaults, kindInfo, selectableFields, validateObject } from './resources/kinds.js';
import type { ServedKind } from './service.js';

export function servedKinds(): ServedKind[] {
  return ALL_KINDS.map((kind): ServedKind => {
    const info = kindInfo(kind);
    // Field selector names are the fields' JSON paths (as in Kubernetes); with the labels, they are
    // all a watch cache reads of each change (served-kinds.test.ts checks it for every kind).
    const decodeSelectable = projectedDecoder(kind, [...info.selectableFieldNames, 'metadata.labels']);
    return {
      kind,
      apiVersion: info.apiVersion,
      plural: info.plural,
      namespaced: info.namespaced,
      hasStatus: info.hasStatus,
      selectableFieldNames: info.selectableFieldNames,
      encode: (obj: ApiObject) => encodeObject(obj),
      decode: (raw: Uint8Array) => decodeObject(kind, raw),
      decodeSelectable,
      defaults: (obj: ApiObject) => applyDefaults(obj as AnyObject),
      validate: (obj: ApiObject, old?: ApiObject) => validateObject(obj as AnyObject, old as AnyObject | undefined),
      selectableFields: (obj: ApiObject) => selectableFields(obj as AnyObject),
    };
  });
}
