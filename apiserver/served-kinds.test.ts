// The watch caches decode each change with decodeSelectable, a projection of the kind's labels and
// selectable fields: for every kind, with every selectable field and unrelated fields set, it must
// give the selectors exactly what the full decode gives.

import { describe, expect, it } from 'vitest';
import { benchNode, benchPod } from '../bench/codec-objects.js';
import { encodeObject } from '../proto/api/codec.js';
import type { ApiObject } from '../proto/api/object.js';
import { ALL_KINDS, API_VERSION_OF_KIND } from '../proto/api/types.js';
import { servedKinds } from './served-kinds.js';

type Json = Record<string, unknown>;

/** Sets `path` to the first of a few values the kind's message accepts there. */
function withField(obj: Json, path: string): Json {
  for (const value of ['x-value', 3, true]) {
    const copy = structuredClone(obj);
    let at: Json = copy;
    const parts = path.split('.');
    for (const part of parts.slice(0, -1)) at = (at[part] ??= {}) as Json;
    at[parts[parts.length - 1]!] = value;
    try {
      encodeObject(copy as unknown as ApiObject);
      return copy;
    } catch {
      // not this type: try the next
    }
  }
  throw new Error(`no value encodes at ${path}`);
}

describe('decodeSelectable', () => {
  it('gives every kind the same labels and selectable fields as the full decode', () => {
    for (const k of servedKinds()) {
      let obj: Json = {
        apiVersion: API_VERSION_OF_KIND[k.kind as (typeof ALL_KINDS)[number]],
        kind: k.kind,
        metadata: { name: 'n1', namespace: 'ns1', labels: { app: 'web', tier: 'front' }, annotations: { note: 'skipped' }, uid: 'u-1' },
      };
      for (const path of k.selectableFieldNames) obj = withField(obj, path);
      const bytes = encodeObject(obj as unknown as ApiObject);
      const full = k.decode(bytes);
      const projected = k.decodeSelectable!(bytes);
      expect(k.selectableFields(projected), k.kind).toEqual(k.selectableFields(full));
      expect(projected.metadata.labels, k.kind).toEqual(full.metadata.labels);
      expect(projected.metadata.annotations, k.kind).toBeUndefined();
    }
  });

  it('reads a realistic pod and node as the full decode does, skipping the rest', () => {
    const kinds = new Map(servedKinds().map((k) => [k.kind, k]));
    for (const obj of [benchPod, benchNode]) {
      const k = kinds.get(obj.kind)!;
      const bytes = encodeObject(obj);
      const projected = k.decodeSelectable!(bytes);
      expect(k.selectableFields(projected)).toEqual(k.selectableFields(k.decode(bytes)));
      expect(projected.metadata.labels).toEqual(obj.metadata.labels);
      expect(Object.keys(projected)).toEqual(expect.arrayContaining(['apiVersion', 'kind', 'metadata']));
    }
  });
});
