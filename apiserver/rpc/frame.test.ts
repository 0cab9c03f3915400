// The frame codec without a network: what we encode decodes back, and what a peer cannot be trusted with is refused.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeClientFrame, decodeServerFrame, encodeCall, encodeCancel, encodeEnd, encodeMessage, packageRoot, RPC_PROTO_FILE } from './frame.js';
import { StatusCode } from './status.js';

describe('frame codec', () => {
  it('round-trips client frames, including the largest stream id', () => {
    const d = decodeClientFrame(encodeCall(0xffff_ffff, 'flotilla.api.v1.Resources/Create', new Uint8Array([1, 2, 3]), 1500));
    expect(d.ok && d.frame.kind === 'call' && { ...d.frame, payload: [...d.frame.payload] }).toEqual({
      kind: 'call',
      streamId: 0xffff_ffff,
      method: 'flotilla.api.v1.Resources/Create',
      payload: [1, 2, 3],
      timeoutMs: 1500,
    });
    expect(decodeClientFrame(encodeCancel(9))).toEqual({ ok: true, frame: { kind: 'cancel', streamId: 9 } });
  });

  it('round-trips server frames', () => {
    const m = decodeServerFrame(encodeMessage(4, new Uint8Array([7])));
    expect(m.ok && m.frame.kind === 'message' && [...m.frame.payload]).toEqual([7]);
    const status = { code: StatusCode.ABORTED, message: 'conflict', reason: 'Conflict', violations: [{ field: 'a.b', description: 'bad' }], metadata: { resourceVersion: '12' } };
    expect(decodeServerFrame(encodeEnd(4, status))).toEqual({ ok: true, frame: { kind: 'end', streamId: 4, status } });
  });

  it('refuses stream id 0, a missing kind, an empty method, and bytes that do not decode', () => {
    const field = (bytes: Uint8Array): string | undefined => {
      const d = decodeClientFrame(bytes);
      return d.ok ? undefined : d.error.field;
    };
    expect(field(encodeCall(0, 'm', new Uint8Array(), 0))).toBe('stream_id');
    expect(field(new Uint8Array([0x08, 0x01]))).toBe('kind');
    expect(field(encodeCall(1, '', new Uint8Array(), 0))).toBe('call.method');
    expect(field(encodeCall(1, 'x'.repeat(300), new Uint8Array(), 0))).toBe('call.method');
    expect(field(new Uint8Array([0xde, 0xad, 0xbe, 0xef]))).toBe('frame');
    expect(decodeServerFrame(new Uint8Array([0x0a, 0xff])).ok).toBe(false);
  });

  it('finds the package root (where proto/ lives) from this module', () => {
    expect(existsSync(join(packageRoot(), RPC_PROTO_FILE))).toBe(true);
  });
});
