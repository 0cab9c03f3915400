// Bounds on the commands of the Raft log: what validation and the wire codec both enforce.

/** etcd's default --max-request-bytes: 1.5 MiB. Bounds an encoded command in the log. */
export const MAX_REQUEST_BYTES = 1.5 * 1024 * 1024;

/**
 * The most txns in one batch command. A batch is applied in one go on every master, so this bounds
 * the time one log entry holds the apply loop (and the watch events one entry produces).
 */
export const MAX_BATCH_TXNS = 512;

/**
 * Bound on an encoded batch command. Larger than MAX_REQUEST_BYTES so that any single txn (itself
 * at most MAX_REQUEST_BYTES) always fits a batch with others, and below the Raft driver's 4 MiB
 * append and the peer transport's 4 MiB message batch, so one batch entry never exceeds what one
 * append or one message carries.
 */
export const MAX_BATCH_COMMAND_BYTES = 3 * 1024 * 1024;

/** etcd's default --max-txn-ops: the most compares, and the most ops in each branch, of one txn. */
export const MAX_TXN_OPS = 128;

/** How deeply txns may nest. etcd has no explicit bound; ours keeps validation's recursion shallow. */
export const MAX_TXN_DEPTH = 16;

/** etcd's MaxLeaseTTL (9,000,000,000 seconds). */
export const MAX_LEASE_TTL_SECONDS = 9_000_000_000;

/**
 * Lease ids are int64 in etcd. Ours are positive safe integers: ids are chosen by our own proposer,
 * and the gRPC face rejects a client-chosen id above this.
 */
export const MAX_LEASE_ID = Number.MAX_SAFE_INTEGER;

/** etcd's NoLease. */
export const NO_LEASE = 0;

/** Bounds on a published member: a name as --name allows, a few URLs of reasonable length. */
export const MAX_MEMBER_NAME_LENGTH = 63;
export const MAX_MEMBER_CLIENT_URLS = 16;
export const MAX_MEMBER_URL_LENGTH = 512;
