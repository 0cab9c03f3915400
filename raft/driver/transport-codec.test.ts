// The pure parts of the peer transport: frame codec and validation, the handshake check, the log
// rate limiter and the bounds. No sockets here; transport.test.ts drives real connections.

import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { EntryType, message, MessageType, type Message } from '../core/types.js';
import { PeerAuthenticator, peerHandshakeHeaders, PeerHeader, PEER_PROTOCOL_VERSION } from './transport-auth.js';
import {
  decodePeerFrame,
  encodeMessagesFrame,
  encodeSnapshotBeginFrame,
  encodeSnapshotChunkFrame,
  estimateMessageBytes,
  FrameKind,
  type FrameContext,
} from './transport-codec.js';
import { HandshakeRejectReason, PeerHandshakeError, TransportConfigError } from './transport-errors.js';
import { DEFAULT_TRANSPORT_LIMITS, reconnectDelayMs, resolveTransportLimits } from './transport-limits.js';
import { RateLimitedLog, type TransportLogger } from './transport-log.js';

const ctx: FrameContext = { self: 2, peer: 1, isMember: (id) => id >= 1 && id <= 3, maxSnapshotBytes: 1 << 20 };
const rawPackr = new Packr({ useRecords: false });

function app(index: number): Message {
  return message({
    type: MessageType.App,
    from: 1,
    to: 2,
    term: 3,
    logTerm: 2,
    index,
    commit: index,
    entries: [
      { term: 3, index: index + 1, type: EntryType.Normal, data: new Uint8Array([1, 2, 3]) },
      { term: 3, index: index + 2, type: EntryType.ConfChange, data: new Uint8Array(0) },
    ],
    context: new Uint8Array([9]),
  });
}

/** A wire message as the encoder writes it, for tests that corrupt one field. */
function wire(m: Message): Record<string, unknown> {
  return {
    type: m.type,
    from: m.from,
    to: m.to,
    term: m.term,
    logTerm: m.logTerm,
    index: m.index,
    entries: m.entries.map((e) => ({ ...e })),
    commit: m.commit,
    reject: m.reject,
    rejectHint: m.rejectHint,
    context: m.context,
  };
}

function rejectedField(frame: unknown): string {
  const r = decodePeerFrame(rawPackr.pack(frame), ctx);
  if (r.ok) throw new Error('frame was accepted');
  return r.error.field;
}

describe('frame codec', () => {
  it('round-trips a batch of messages into fresh plain values', () => {
    const batch = [app(5), app(7), message({ type: MessageType.Heartbeat, from: 1, to: 2, term: 3, commit: 4 })];
    const r = decodePeerFrame(encodeMessagesFrame(batch), ctx);
    expect(r.ok).toBe(true);
    if (!r.ok || r.frame.kind !== FrameKind.Messages) throw new Error('unexpected');
    expect(r.frame.messages).toEqual(batch);
    const data = r.frame.messages[0]!.entries[0]!.data;
    // A plain Uint8Array of its own: Buffer.slice semantics and the frame's memory stay out of the core.
    expect(Object.getPrototypeOf(data)).toBe(Uint8Array.prototype);
    expect(data.byteLength).toBe(data.buffer.byteLength);
  });

  it('round-trips snapshot begin and chunk frames', () => {
    const m = message({
      type: MessageType.Snap,
      from: 1,
      to: 2,
      term: 4,
      snapshot: { metadata: { index: 10, term: 3, confState: { voters: [1, 2, 3], learners: [4] } }, data: new Uint8Array(100) },
    });
    const begin = decodePeerFrame(encodeSnapshotBeginFrame(7, { ...m, snapshot: m.snapshot! }), { ...ctx, isMember: () => true });
    expect(begin).toMatchObject({ ok: true, frame: { kind: FrameKind.SnapshotBegin, stream: 7, totalBytes: 100, metadata: m.snapshot!.metadata } });
    if (begin.ok && begin.frame.kind === FrameKind.SnapshotBegin) expect(begin.frame.message.snapshot).toBeUndefined();
    const chunk = decodePeerFrame(encodeSnapshotChunkFrame(7, 50, new Uint8Array([1, 2])), ctx);
    expect(chunk).toMatchObject({ ok: true, frame: { kind: FrameKind.SnapshotChunk, stream: 7, offset: 50 } });
    if (chunk.ok && chunk.frame.kind === FrameKind.SnapshotChunk) expect([...chunk.frame.data]).toEqual([1, 2]);
  });

  it('refuses bytes that are not one msgpack value', () => {
    // Empty, truncated (an array announcing 2^32-1 items), and two values instead of one.
    for (const bytes of [new Uint8Array(0), new Uint8Array([0xdd, 0xff, 0xff, 0xff, 0xff, 1]), new Uint8Array([0x90, 0x90])]) {
      const r = decodePeerFrame(bytes, ctx);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error.field).toBe('frame');
    }
    // msgpackr decodes the reserved byte 0xc1 into an object of its own; validation still refuses it.
    expect(decodePeerFrame(new Uint8Array([0xc1]), ctx).ok).toBe(false);
  });

  it('names the field of every malformed message', () => {
    const base = wire(app(5));
    const cases: [Record<string, unknown>, string][] = [
      [{ ...base, type: 'bogus' }, 'messages[0].type'],
      [{ ...base, type: MessageType.Hup }, 'messages[0].type'],
      [{ ...base, type: MessageType.Snap }, 'messages[0].type'],
      [{ ...base, type: 7 }, 'messages[0].type'],
      [{ ...base, from: 0 }, 'messages[0].from'],
      [{ ...base, from: 3 }, 'messages[0].from'],
      [{ ...base, from: 1.5 }, 'messages[0].from'],
      [{ ...base, to: 3 }, 'messages[0].to'],
      [{ ...base, to: -2 }, 'messages[0].to'],
      [{ ...base, term: -1 }, 'messages[0].term'],
      [{ ...base, term: 2 ** 60 }, 'messages[0].term'],
      [{ ...base, term: '3' }, 'messages[0].term'],
      [{ ...base, logTerm: null }, 'messages[0].logTerm'],
      [{ ...base, index: 0.5 }, 'messages[0].index'],
      [{ ...base, commit: -3 }, 'messages[0].commit'],
      [{ ...base, rejectHint: -1 }, 'messages[0].rejectHint'],
      [{ ...base, reject: 0 }, 'messages[0].reject'],
      [{ ...base, context: 'ctx' }, 'messages[0].context'],
      [{ ...base, context: undefined }, 'messages[0].context'],
      [{ ...base, entries: {} }, 'messages[0].entries'],
      [{ ...base, entries: [{ term: 1, index: 1, type: 0, data: 'text' }] }, 'messages[0].entries[0].data'],
      [{ ...base, entries: [{ term: 1, index: 1, type: 2, data: new Uint8Array(0) }] }, 'messages[0].entries[0].type'],
      [{ ...base, entries: [{ term: -1, index: 1, type: 0, data: new Uint8Array(0) }] }, 'messages[0].entries[0].term'],
      [{ ...base, entries: [null] }, 'messages[0].entries[0]'],
      [{ ...base, snapshot: { metadata: {}, data: new Uint8Array(1) } }, 'messages[0].snapshot'],
    ];
    for (const [bad, field] of cases) {
      expect(rejectedField({ kind: 'msgs', messages: [bad] }), JSON.stringify(field)).toBe(field);
    }
    // A bad message anywhere rejects the whole frame, so the receiver never sees a gap in a batch.
    expect(rejectedField({ kind: 'msgs', messages: [base, base, { ...base, term: -1 }] })).toBe('messages[2].term');
  });

  it('names the field of a malformed frame envelope', () => {
    expect(rejectedField([1, 2])).toBe('frame');
    expect(rejectedField('hello')).toBe('frame');
    expect(rejectedField({ kind: 'nope' })).toBe('kind');
    expect(rejectedField({ messages: [] })).toBe('kind');
    expect(rejectedField({ kind: 'msgs', messages: [] })).toBe('messages');
    expect(rejectedField({ kind: 'snap-chunk', stream: 0, offset: 0, data: new Uint8Array(1) })).toBe('stream');
    expect(rejectedField({ kind: 'snap-chunk', stream: 1, offset: -1, data: new Uint8Array(1) })).toBe('offset');
    expect(rejectedField({ kind: 'snap-chunk', stream: 1, offset: 0, data: new Uint8Array(0) })).toBe('data');
    expect(rejectedField({ kind: 'snap-chunk', stream: 1, offset: 0, data: [1, 2] })).toBe('data');
    const snapMsg = { ...wire(message({ type: MessageType.Snap, from: 1, to: 2, term: 1 })) };
    const md = { index: 5, term: 1, confState: { voters: [1, 2], learners: [] } };
    const begin = (over: Record<string, unknown>): Record<string, unknown> => ({ kind: 'snap-begin', stream: 1, message: snapMsg, snapshot: { metadata: md, totalBytes: 10 }, ...over });
    expect(rejectedField(begin({ message: { ...snapMsg, type: MessageType.App } }))).toBe('message.type');
    expect(rejectedField(begin({ snapshot: { metadata: md, totalBytes: (1 << 20) + 1 } }))).toBe('snapshot.totalBytes');
    expect(rejectedField(begin({ snapshot: { metadata: { ...md, index: -1 }, totalBytes: 1 } }))).toBe('snapshot.metadata.index');
    expect(rejectedField(begin({ snapshot: { metadata: { ...md, confState: { voters: [1, 0], learners: [] } }, totalBytes: 1 } }))).toBe('snapshot.metadata.confState.voters[1]');
    expect(rejectedField(begin({ snapshot: { metadata: { ...md, confState: { voters: [1, 2], learners: [2] } }, totalBytes: 1 } }))).toBe('snapshot.metadata.confState');
  });

  it('reads 64-bit integers as out of range, not as rounded numbers', () => {
    const frame = rawPackr.pack({ kind: 'msgs', messages: [{ ...wire(app(1)), term: 2n ** 60n }] });
    const r = decodePeerFrame(frame, ctx);
    expect(r.ok ? '' : r.error.field).toBe('messages[0].term');
  });

  it('takes only own fields and ignores unknown extra keys', () => {
    const r = decodePeerFrame(rawPackr.pack({ kind: 'msgs', messages: [{ ...wire(app(1)), extra: 'x', __proto__: { polluted: true } }] }), ctx);
    expect(r.ok).toBe(true);
    if (r.ok && r.frame.kind === FrameKind.Messages) expect(Object.keys(r.frame.messages[0]!)).not.toContain('extra');
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('accepts a forwarded TransferLeader whose from is another member, not a stranger', () => {
    const forwarded = { ...wire(message({ type: MessageType.TransferLeader, from: 3, to: 2 })) };
    expect(decodePeerFrame(rawPackr.pack({ kind: 'msgs', messages: [forwarded] }), ctx).ok).toBe(true);
    expect(rejectedField({ kind: 'msgs', messages: [{ ...forwarded, from: 9 }] })).toBe('messages[0].from');
  });

  it('estimates at least the encoded size', () => {
    for (const m of [app(1), message({ type: MessageType.Heartbeat, from: 1, to: 2, term: 2 ** 40, commit: 2 ** 40 })]) {
      expect(estimateMessageBytes(m)).toBeGreaterThanOrEqual(encodeMessagesFrame([m]).byteLength);
    }
  });
});

describe('peer handshake', () => {
  const auth = new PeerAuthenticator(2, 'c1', 'secret');
  const member = (id: number): boolean => id === 1 || id === 3;
  const headers = (over: Record<string, string | undefined> = {}): Record<string, string | undefined> => ({
    ...peerHandshakeHeaders({ from: 1, to: 2, clusterId: 'c1', clusterToken: 'secret' }),
    ...over,
  });
  const reason = (h: Record<string, string | undefined>): string => {
    const v = auth.verify(h, member);
    return v instanceof PeerHandshakeError ? v.reason : `accepted ${v}`;
  };

  it('accepts a member with the right token, cluster and target', () => {
    expect(auth.verify(headers(), member)).toBe(1);
  });

  it('refuses everything else with a reason and an HTTP status', () => {
    expect(reason(headers({ [PeerHeader.Authorization]: 'Bearer wrong' }))).toBe(HandshakeRejectReason.Token);
    expect(reason(headers({ [PeerHeader.Authorization]: 'Bearer secret2' }))).toBe(HandshakeRejectReason.Token);
    expect(reason(headers({ [PeerHeader.Authorization]: undefined }))).toBe(HandshakeRejectReason.Token);
    expect(reason(headers({ [PeerHeader.Authorization]: 'secret' }))).toBe(HandshakeRejectReason.Token);
    expect(reason(headers({ [PeerHeader.ClusterId]: 'c2' }))).toBe(HandshakeRejectReason.Cluster);
    expect(reason(headers({ [PeerHeader.From]: '4' }))).toBe(HandshakeRejectReason.NotMember);
    expect(reason(headers({ [PeerHeader.From]: '2' }))).toBe(HandshakeRejectReason.Self);
    expect(reason(headers({ [PeerHeader.From]: '01' }))).toBe(HandshakeRejectReason.Malformed);
    expect(reason(headers({ [PeerHeader.From]: '99999999999999999' }))).toBe(HandshakeRejectReason.Malformed);
    expect(reason(headers({ [PeerHeader.To]: '3' }))).toBe(HandshakeRejectReason.Target);
    expect(reason(headers({ [PeerHeader.Protocol]: '0' }))).toBe(HandshakeRejectReason.Protocol);
    expect(reason({})).toBe(HandshakeRejectReason.Malformed);
    const refused = auth.verify(headers({ [PeerHeader.Authorization]: 'Bearer wrong' }), member);
    expect(refused).toBeInstanceOf(PeerHandshakeError);
    if (refused instanceof PeerHandshakeError) expect([refused.status, refused.claimedPeer]).toEqual([401, 1]);
  });

  it('checks the token before revealing anything about cluster or membership', () => {
    expect(reason(headers({ [PeerHeader.Authorization]: 'Bearer wrong', [PeerHeader.ClusterId]: 'other', [PeerHeader.From]: '9' }))).toBe(HandshakeRejectReason.Token);
  });

  it('without a token, accepts any member of the right cluster', () => {
    const open = new PeerAuthenticator(2, 'c1', undefined);
    expect(open.authenticationEnabled).toBe(false);
    expect(open.verify({ ...headers(), [PeerHeader.Authorization]: undefined }, member)).toBe(1);
    expect(open.verify({ ...headers(), [PeerHeader.ClusterId]: 'c2' }, member)).toBeInstanceOf(PeerHandshakeError);
    expect(headers()[PeerHeader.Protocol]).toBe(PEER_PROTOCOL_VERSION);
  });

  it('refuses unusable cluster ids and tokens at construction', () => {
    expect(() => new PeerAuthenticator(2, '', undefined)).toThrow(TransportConfigError);
    expect(() => new PeerAuthenticator(2, 'c1', '')).toThrow(TransportConfigError);
    expect(() => new PeerAuthenticator(2, 'c1', 'two words')).toThrow(TransportConfigError);
    expect(() => new PeerAuthenticator(2, 'c1\r\nx: y', undefined)).toThrow(TransportConfigError);
  });
});

describe('rate-limited log', () => {
  it('logs the first lines of a window per key, then counts the rest', () => {
    const lines: [string, Record<string, unknown> | undefined][] = [];
    const logger: TransportLogger = { info: (m, f) => lines.push([m, f]), warn: (m, f) => lines.push([m, f]), error: (m, f) => lines.push([m, f]) };
    let now = 0;
    const log = new RateLimitedLog(logger, () => now, 1000, 2);
    for (let i = 0; i < 10; i++) log.log('warn', 'a', 'A');
    log.log('warn', 'b', 'B');
    expect(lines.map(([m]) => m)).toEqual(['A', 'A', 'B']);
    now = 1000;
    log.log('warn', 'a', 'A', { x: 1 });
    expect(lines.at(-1)).toEqual(['A', { x: 1, suppressed: 8 }]);
  });
});

describe('transport limits', () => {
  it('backs off exponentially with jitter between half and all of the step, up to the max', () => {
    const limits = { reconnectBackoffMinMs: 100, reconnectBackoffMaxMs: 1000 };
    expect([0, 1, 2, 3, 4, 50].map((a) => reconnectDelayMs(a, limits, () => 1))).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect([0, 1, 2, 3, 4].map((a) => reconnectDelayMs(a, limits, () => 0))).toEqual([50, 100, 200, 400, 500]);
  });

  it('refuses inconsistent limits', () => {
    expect(resolveTransportLimits()).toEqual(DEFAULT_TRANSPORT_LIMITS);
    expect(() => resolveTransportLimits({ maxQueuedMessagesPerPeer: 0 })).toThrow(TransportConfigError);
    expect(() => resolveTransportLimits({ snapshotChunkBytes: DEFAULT_TRANSPORT_LIMITS.maxFrameBytes })).toThrow(/snapshotChunkBytes/);
    expect(() => resolveTransportLimits({ reconnectBackoffMinMs: 10, reconnectBackoffMaxMs: 5 })).toThrow(/reconnectBackoffMinMs/);
  });
});
