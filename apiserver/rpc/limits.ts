// Every bound of the RPC layer, named. Servers and clients take overrides of single fields.

const KiB = 1024;
const MiB = 1024 * KiB;

/** Largest WebSocket message either side accepts (ws maxPayload); a larger one closes the connection with 1009. */
export const MAX_FRAME_BYTES = 4 * MiB;
/** Room reserved in a frame for the envelope (stream id, field tags, status) around a payload. */
export const FRAME_ENVELOPE_BYTES = 1 * KiB;
/** Open calls (unary and streams) on one connection; past it a new call is answered RESOURCE_EXHAUSTED. */
export const MAX_CONCURRENT_STREAMS_PER_CONNECTION = 1_000;
/**
 * Unary calls whose handler is still running, per connection. Lower than the stream bound because
 * each one holds server work in flight, where a watch mostly waits.
 */
export const MAX_PENDING_UNARY_PER_CONNECTION = 500;
/**
 * Bytes written to a connection and not yet flushed (ws bufferedAmount). Past it a stream's send()
 * refuses, and the server stops reading new frames from that client until the buffer drains, so
 * a client that does not read cannot make the server hold more than this plus one frame per
 * open call. While paused the client's pongs are not read either, so a client that reads nothing
 * for a whole keepalive interval is disconnected as dead.
 */
export const MAX_CONNECTION_BUFFERED_BYTES = 8 * MiB;
/** The buffer counts as drained again below this fraction of the bound (hysteresis against flapping). */
export const BUFFER_LOW_WATER_FRACTION = 0.5;
/** Open client connections per server; past it an upgrade is refused with HTTP 503. */
export const MAX_CONNECTIONS = 10_000;
/** The server pings every connection this often; one that has not answered the previous ping is terminated. */
export const SERVER_KEEPALIVE_INTERVAL_MS = 15_000;
/** Same for the client, so a half-open connection to a dead server fails the calls on it. */
export const CLIENT_KEEPALIVE_INTERVAL_MS = 15_000;
/** Rate limit of the log lines a misbehaving client can cause, per key. */
export const LOG_RATE_WINDOW_MS = 10_000;
export const LOG_RATE_MAX_PER_WINDOW = 5;

/** Messages a client holds for one stream its consumer has not yet taken; past it the stream is cancelled. */
export const MAX_BUFFERED_MESSAGES_PER_STREAM = 4_096;
/** Same, in payload bytes. */
export const MAX_BUFFERED_BYTES_PER_STREAM = 16 * MiB;
/** First reconnect delay; doubles per consecutive failed attempt up to the max, with jitter. */
export const RECONNECT_BACKOFF_MIN_MS = 100;
export const RECONNECT_BACKOFF_MAX_MS = 5_000;
/** A TCP connect plus upgrade not finished within this counts as a failed attempt. */
export const CONNECT_TIMEOUT_MS = 5_000;

export interface RpcServerLimits {
  readonly maxFrameBytes: number;
  readonly maxConcurrentStreamsPerConnection: number;
  readonly maxPendingUnaryPerConnection: number;
  readonly maxConnectionBufferedBytes: number;
  readonly maxConnections: number;
  readonly keepaliveIntervalMs: number;
  readonly logRateWindowMs: number;
  readonly logRateMaxPerWindow: number;
}

export const DEFAULT_RPC_SERVER_LIMITS: RpcServerLimits = {
  maxFrameBytes: MAX_FRAME_BYTES,
  maxConcurrentStreamsPerConnection: MAX_CONCURRENT_STREAMS_PER_CONNECTION,
  maxPendingUnaryPerConnection: MAX_PENDING_UNARY_PER_CONNECTION,
  maxConnectionBufferedBytes: MAX_CONNECTION_BUFFERED_BYTES,
  maxConnections: MAX_CONNECTIONS,
  keepaliveIntervalMs: SERVER_KEEPALIVE_INTERVAL_MS,
  logRateWindowMs: LOG_RATE_WINDOW_MS,
  logRateMaxPerWindow: LOG_RATE_MAX_PER_WINDOW,
};

export interface RpcClientLimits {
  readonly maxFrameBytes: number;
  readonly maxBufferedMessagesPerStream: number;
  readonly maxBufferedBytesPerStream: number;
  readonly reconnectBackoffMinMs: number;
  readonly reconnectBackoffMaxMs: number;
  readonly connectTimeoutMs: number;
  readonly keepaliveIntervalMs: number;
}

export const DEFAULT_RPC_CLIENT_LIMITS: RpcClientLimits = {
  maxFrameBytes: MAX_FRAME_BYTES,
  maxBufferedMessagesPerStream: MAX_BUFFERED_MESSAGES_PER_STREAM,
  maxBufferedBytesPerStream: MAX_BUFFERED_BYTES_PER_STREAM,
  reconnectBackoffMinMs: RECONNECT_BACKOFF_MIN_MS,
  reconnectBackoffMaxMs: RECONNECT_BACKOFF_MAX_MS,
  connectTimeoutMs: CONNECT_TIMEOUT_MS,
  keepaliveIntervalMs: CLIENT_KEEPALIVE_INTERVAL_MS,
};

export class RpcConfigError extends Error {
  override readonly name = 'RpcConfigError';
  constructor(
    readonly option: string,
    reason: string,
  ) {
    super(`invalid RPC option ${option}: ${reason}`);
  }
}

function resolve<L extends object>(defaults: L, overrides: Partial<L>): L {
  const limits: L = { ...defaults, ...overrides };
  for (const [name, value] of Object.entries(limits)) {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
      throw new RpcConfigError(`limits.${name}`, `must be a positive integer, got ${String(value)}`);
    }
  }
  return limits;
}

export function resolveServerLimits(overrides: Partial<RpcServerLimits> = {}): RpcServerLimits {
  const limits = resolve(DEFAULT_RPC_SERVER_LIMITS, overrides);
  if (limits.maxFrameBytes <= FRAME_ENVELOPE_BYTES) throw new RpcConfigError('limits.maxFrameBytes', `must exceed ${FRAME_ENVELOPE_BYTES}`);
  return limits;
}

export function resolveClientLimits(overrides: Partial<RpcClientLimits> = {}): RpcClientLimits {
  const limits = resolve(DEFAULT_RPC_CLIENT_LIMITS, overrides);
  if (limits.maxFrameBytes <= FRAME_ENVELOPE_BYTES) throw new RpcConfigError('limits.maxFrameBytes', `must exceed ${FRAME_ENVELOPE_BYTES}`);
  if (limits.reconnectBackoffMinMs > limits.reconnectBackoffMaxMs) {
    throw new RpcConfigError('limits.reconnectBackoffMinMs', 'must not exceed reconnectBackoffMaxMs');
  }
  return limits;
}

/** Largest payload that fits in a frame under `maxFrameBytes`. */
export function maxPayloadBytes(maxFrameBytes: number): number {
  return maxFrameBytes - FRAME_ENVELOPE_BYTES;
}

/**
 * The delay before reconnect attempt `attempt` (0-based count of consecutive failures): uniformly in
 * [d/2, d] where d = min(max, min·2^attempt). The fixed half bounds how hard a failing server is
 * hit; the random half keeps many clients of a restarted master from reconnecting in lockstep.
 */
export function reconnectDelayMs(attempt: number, limits: Pick<RpcClientLimits, 'reconnectBackoffMinMs' | 'reconnectBackoffMaxMs'>, random: () => number): number {
  const ceiling = Math.min(limits.reconnectBackoffMaxMs, limits.reconnectBackoffMinMs * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
