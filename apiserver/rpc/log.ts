// Logging for events a remote party controls (bad frames, refused upgrades): the first occurrences
// and a count of the rest reach the log, a flood does not. The rate limiter is the peer transport's.

import type { TransportLogger } from '../../raft/driver/transport-log.js';

export { MAX_RATE_LIMITED_LOG_KEYS, RateLimitedLog } from '../../raft/driver/transport-log.js';

export type RpcLogger = TransportLogger;

export const silentRpcLogger: RpcLogger = { info: () => {}, warn: () => {}, error: () => {} };
