// Typed errors of the peer transport. A frame or handshake that a peer got wrong is never thrown
// across the transport's boundary (the process must keep running whatever a peer sends): these
// values are returned by the codec and the authenticator, logged with their fields, and counted.
// Only a caller's own mistakes (a bad URL, an invalid option, use after close) are thrown.

import { RaftError } from '../core/errors.js';

export class TransportError extends RaftError {
  override readonly name: string = 'TransportError';
}

/** An option or argument given to the transport is unusable; the message names which one. */
export class TransportConfigError extends TransportError {
  override readonly name = 'TransportConfigError';
  constructor(
    readonly option: string,
    readonly reason: string,
  ) {
    super(`peer transport option '${option}' ${reason}`);
  }
}

/** addPeer (or another mutating call) after close(). */
export class TransportClosedError extends TransportError {
  override readonly name = 'TransportClosedError';
  constructor(readonly operation: string) {
    super(`${operation} on a closed peer transport`);
  }
}

/**
 * A frame from a peer that does not decode or fails validation. `field` is the path of the
 * offending value inside the frame (for example `messages[2].entries[0].data`), so the person
 * reading the log knows which side of which message is wrong.
 */
export class InvalidFrameError extends TransportError {
  override readonly name = 'InvalidFrameError';
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(`invalid peer frame: ${field} ${reason}`);
  }
}

export const HandshakeRejectReason = {
  Protocol: 'unsupported peer protocol version',
  Malformed: 'malformed handshake headers',
  Token: 'missing or wrong cluster token',
  Cluster: 'wrong cluster id',
  Target: 'addressed to another node id',
  Self: 'the dialer claims our own node id',
  NotMember: 'the dialer is not a cluster member',
  Closed: 'the transport is closed',
} as const;
export type HandshakeRejectReason = (typeof HandshakeRejectReason)[keyof typeof HandshakeRejectReason];

/** A peer's connection attempt that was refused before the WebSocket was established. */
export class PeerHandshakeError extends TransportError {
  override readonly name = 'PeerHandshakeError';
  constructor(
    readonly reason: HandshakeRejectReason,
    /** The HTTP status the dialer receives; the reason itself is only logged on our side. */
    readonly status: number,
    /** The node id the dialer claimed, when it sent a well-formed one. */
    readonly claimedPeer: number | undefined,
    readonly detail?: string,
  ) {
    super(`peer handshake refused: ${reason}${detail === undefined ? '' : ` (${detail})`}`);
  }
}
