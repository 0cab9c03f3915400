import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CodecError, DecodeError, UnknownKindError, apiProtoDir, decodeObject, encodeObject, findMessageType } from './codec.js';
import { samples } from './samples.suite.js';
import { ALL_KINDS, type ConfigMap, type Deployment, type Pod } from './types.js';

describe('codec round trips', () => {
  for (const kind of ALL_KINDS) {
    it(`${kind}: JSON form → bytes → JSON form is the identity`, () => {
      const obj = samples[kind];
      const bytes = encodeObject(obj);
      expect(bytes.length).toBeGreaterThan(0);
      expect(decodeObject(kind, bytes)).toEqual(obj);
    });
  }

  it('every kind has a message', () => {
    for (const kind of ALL_KINDS) expect(findMessageType(kind), kind).toBeDefined();
    expect(findMessageType('PodSpec')).toBeUndefined();
    expect(findMessageType('Nope')).toBeUndefined();
  });

  it('IntOrString keeps both a 0 and a string', () => {
    const d = samples.Deployment as Deployment;
    const back = decodeObject('Deployment', encodeObject(d)) as Deployment;
    expect(back.spec?.strategy?.rollingUpdate).toEqual({ maxSurge: '25%', maxUnavailable: 0 });
  });

  it('omits zero values of fields without presence, keeps those with presence', () => {
    const pod: Pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p', labels: {} },
      spec: { containers: [{ name: 'c', image: '', ports: [] }], nodeName: '', priority: 0, terminationGracePeriodSeconds: 0 },
      status: {},
    };
    expect(decodeObject('Pod', encodeObject(pod))).toEqual({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p' },
      spec: { containers: [{ name: 'c' }], priority: 0, terminationGracePeriodSeconds: 0 },
    });
  });

  it('int64 fields come back as numbers', () => {
    const back = decodeObject('ReplicaSet', encodeObject(samples.ReplicaSet));
    expect(typeof (back as Deployment).status?.observedGeneration).toBe('number');
  });

  it('bytes travel as the bytes, not the base64 text', () => {
    const cm: ConfigMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, binaryData: { b: 'AAEC/w==' } };
    const bytes = encodeObject(cm);
    // The four raw bytes 00 01 02 ff appear in the encoding; the 8 characters of base64 do not.
    expect(Buffer.from(bytes).includes(Buffer.from([0, 1, 2, 255]))).toBe(true);
    expect(Buffer.from(bytes).includes(Buffer.from('AAEC/w=='))).toBe(false);
  });
});

describe('codec errors', () => {
  it('an unknown kind is a typed error', () => {
    expect(() => encodeObject({ apiVersion: 'v1', kind: 'Widget', metadata: {} })).toThrow(UnknownKindError);
    expect(() => decodeObject('Widget', new Uint8Array())).toThrow(UnknownKindError);
  });

  it('bytes that do not decode are a DecodeError', () => {
    const garbage = new Uint8Array([0x0a, 0xff, 0xff, 0xff, 0x0f]);
    expect(() => decodeObject('Pod', garbage)).toThrow(DecodeError);
    try {
      decodeObject('Pod', garbage);
    } catch (err) {
      expect(err).toBeInstanceOf(CodecError);
      expect((err as DecodeError).name).toBe('DecodeError');
      expect((err as DecodeError).kind).toBe('Pod');
    }
  });

  it('empty bytes are an empty object of the kind asked for', () => {
    expect(decodeObject('Deployment', new Uint8Array())).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: {} });
  });

  it('write-only Secret.stringData is not stored', () => {
    const secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, stringData: { a: 'b' } } as const;
    expect(decodeObject('Secret', encodeObject(secret))).toEqual({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' } });
  });

  it('bytes of another kind are a DecodeError', () => {
    expect(() => decodeObject('Lease', encodeObject(samples.Namespace))).toThrow(/bytes hold a "Namespace"/);
  });

  it('finds the .proto files from the sources and from dist/', () => {
    const fromSources = apiProtoDir();
    expect(fromSources).toMatch(/proto[/\\]api$/);
    const packageRoot = dirname(dirname(fromSources));
    expect(apiProtoDir(join(packageRoot, 'dist', 'proto', 'api'))).toBe(fromSources);
    expect(() => apiProtoDir('/')).toThrow(CodecError);
  });
});
