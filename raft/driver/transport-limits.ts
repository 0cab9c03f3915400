// Every bound of the peer transport, named. The defaults suit three masters on a LAN; tests (and an
// operator with unusual links) override single fields through PeerTransportOptions.limits.

import { constants as bufferConstants } from 'node:buffer';
import { TransportConfigError } from './transport-errors.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

/**
 * Largest WebSocket message accepted (the `ws` maxPayload on both ends). A larger one closes the
 * connection with 1009. Raft appends are capped near 1 MiB by the core (maxSizePerMsg), batches by
 * MAX_BATCH_BYTES and snapshot chunks by SNAPSHOT_CHUNK_BYTES, all far below this.
 */
export const MAX_FRAME_BYTES = 16 * MiB;
/** Room left in a frame for its envelope (kind, stream id, offset, field names) around a payload. */
export const FRAME_ENVELOPE_BYTES = 4 * KiB;
/** Messages waiting for one peer; past it new messages are dropped and the peer reported unreachable. */
export const MAX_QUEUED_MESSAGES_PER_PEER = 4096;
/** Estimated bytes waiting for one peer (see estimateMessageBytes); same overflow rule. */
export const MAX_QUEUED_BYTES_PER_PEER = 64 * MiB;
/** Snapshots waiting or streaming to one peer; Raft has one in flight per follower, so 2 is slack. */
export const MAX_QUEUED_SNAPSHOTS_PER_PEER = 2;
/** Estimated bytes of regular messages packed into one frame. */
export const MAX_BATCH_BYTES = 4 * MiB;
/**
 * Bytes the socket may hold unsent (ws bufferedAmount) before we stop handing it frames. Above it,
 * messages wait in the bounded queue instead; a slow peer shows up as a full queue, and a heartbeat
 * queued behind a snapshot waits for at most this much (plus one chunk) to drain.
 */
export const SEND_HIGH_WATER_BYTES = 2 * MiB;
/** Snapshot data per chunk frame. */
export const SNAPSHOT_CHUNK_BYTES = 1 * MiB;
/** Largest snapshot sent or reassembled; the receiver holds one whole snapshot per peer in memory. */
export const MAX_SNAPSHOT_BYTES = 1 * GiB;
/** An incomplete inbound snapshot stream with no chunk for this long is dropped. */
export const SNAPSHOT_STREAM_IDLE_TIMEOUT_MS = 30_000;
/** Invalid frames tolerated on one inbound connection before it is closed (1008). */
export const MAX_BAD_FRAMES_PER_CONNECTION = 16;
/** First reconnect delay; doubles per failed attempt up to the max, with jitter. */
export const RECONNECT_BACKOFF_MIN_MS = 100;
export const RECONNECT_BACKOFF_MAX_MS = 5_000;
/**
 * A lost connection that had been open at least this long is redialled at once, without backoff
 * (the peer was there a moment ago; a refused redial tells Raft the peer's process is gone).
 * Shorter-lived ones back off, so a peer that accepts and then drops us is not dialed in a loop.
 */
export const IMMEDIATE_REDIAL_MIN_OPEN_MS = 1_000;
/** A dial (TCP connect + upgrade) not finished within this is abandoned and retried. */
export const DIAL_TIMEOUT_MS = 5_000;
/** The dialer pings this often; the acceptor checks its idle clock this often. */
export const KEEPALIVE_INTERVAL_MS = 2_000;
/**
 * A ping unanswered for this long means the connection is dead (a half-open TCP connection would
 * otherwise only fail after the kernel's retransmission timeout, many minutes).
 */
export const KEEPALIVE_TIMEOUT_MS = 10_000;
/** An inbound connection with no frame and no ping for this long is closed. */
export const INBOUND_IDLE_TIMEOUT_MS = 30_000;
/** Rate limit of the logs a misbehaving peer or dialer can cause: per key, per window. */
export const LOG_RATE_WINDOW_MS = 10_000;
export const LOG_RATE_MAX_PER_WINDOW = 5;

export interface TransportLimits {
  readonly maxFrameBytes: number;
  readonly maxQueuedMessagesPerPeer: number;
  readonly maxQueuedBytesPerPeer: number;
  readonly maxQueuedSnapshotsPerPeer: number;
  readonly maxBatchBytes: number;
  readonly sendHighWaterBytes: number;
  readonly snapshotChunkBytes: number;
  readonly maxSnapshotBytes: number;
  readonly snapshotStreamIdleTimeoutMs: number;
  readonly maxBadFramesPerConnection: number;
  readonly reconnectBackoffMinMs: number;
  readonly reconnectBackoffMaxMs: number;
  readonly immediateRedialMinOpenMs: number;
  readonly dialTimeoutMs: number;
  readonly keepaliveIntervalMs: number;
  readonly keepaliveTimeoutMs: number;
  readonly inboundIdleTimeoutMs: number;
  readonly logRateWindowMs: number;
  readonly logRateMaxPerWindow: number;
}

export const DEFAULT_TRANSPORT_LIMITS: TransportLimits = {
  maxFrameBytes: MAX_FRAME_BYTES,
  maxQueuedMessagesPerPeer: MAX_QUEUED_MESSAGES_PER_PEER,
  maxQueuedBytesPerPeer: MAX_QUEUED_BYTES_PER_PEER,
  maxQueuedSnapshotsPerPeer: MAX_QUEUED_SNAPSHOTS_PER_PEER,
  maxBatchBytes: MAX_BATCH_BYTES,
  sendHighWaterBytes: SEND_HIGH_WATER_BYTES,
  snapshotChunkBytes: SNAPSHOT_CHUNK_BYTES,
  maxSnapshotBytes: MAX_SNAPSHOT_BYTES,
  snapshotStreamIdleTimeoutMs: SNAPSHOT_STREAM_IDLE_TIMEOUT_MS,
  maxBadFramesPerConnection: MAX_BAD_FRAMES_PER_CONNECTION,
  reconnectBackoffMinMs: RECONNECT_BACKOFF_MIN_MS,
  reconnectBackoffMaxMs: RECONNECT_BACKOFF_MAX_MS,
  immediateRedialMinOpenMs: IMMEDIATE_REDIAL_MIN_OPEN_MS,
  dialTimeoutMs: DIAL_TIMEOUT_MS,
  keepaliveIntervalMs: KEEPALIVE_INTERVAL_MS,
  keepaliveTimeoutMs: KEEPALIVE_TIMEOUT_MS,
  inboundIdleTimeoutMs: INBOUND_IDLE_TIMEOUT_MS,
  logRateWindowMs: LOG_RATE_WINDOW_MS,
  logRateMaxPerWindow: LOG_RATE_MAX_PER_WINDOW,
};

/** The defaults with `overrides` applied, checked for consistency. Throws TransportConfigError. */
export function resolveTransportLimits(overrides: Partial<TransportLimits> = {}): TransportLimits {
  const limits: TransportLimits = { ...DEFAULT_TRANSPORT_LIMITS, ...overrides };
  for (const [name, value] of Object.entries(limits)) {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
      throw new TransportConfigError(`limits.${name}`, `must be a positive integer, got ${String(value)}`);
    }
  }
  const require = (ok: boolean, option: string, reason: string): void => {
    if (!ok) throw new TransportConfigError(`limits.${option}`, reason);
  };
  require(limits.maxFrameBytes > FRAME_ENVELOPE_BYTES, 'maxFrameBytes', `must exceed the frame envelope (${FRAME_ENVELOPE_BYTES} bytes)`);
  require(limits.snapshotChunkBytes <= limits.maxFrameBytes - FRAME_ENVELOPE_BYTES, 'snapshotChunkBytes', 'must fit in a frame with its envelope');
  require(limits.maxBatchBytes <= limits.maxFrameBytes - FRAME_ENVELOPE_BYTES, 'maxBatchBytes', 'must fit in a frame with its envelope');
  require(limits.maxSnapshotBytes <= bufferConstants.MAX_LENGTH, 'maxSnapshotBytes', `must not exceed the largest buffer (${bufferConstants.MAX_LENGTH} bytes)`);
  require(limits.reconnectBackoffMinMs <= limits.reconnectBackoffMaxMs, 'reconnectBackoffMinMs', 'must not exceed reconnectBackoffMaxMs');
  return limits;
}

/**
 * The delay before reconnect attempt `attempt` (0-based): uniformly in [d/2, d] where
 * d = min(max, min·2^attempt). The fixed half keeps a flapping peer from being hammered; the random
 * half keeps the masters of a restarted cluster from dialing in lockstep.
 */
export function reconnectDelayMs(attempt: number, limits: Pick<TransportLimits, 'reconnectBackoffMinMs' | 'reconnectBackoffMaxMs'>, random: () => number): number {
  const ceiling = Math.min(limits.reconnectBackoffMaxMs, limits.reconnectBackoffMinMs * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
