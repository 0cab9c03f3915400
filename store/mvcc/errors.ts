// Typed errors of the MVCC store. Each carries what a caller needs to act on it: the key, the
// revision, the lease or the field at fault. Deterministic rejections (the same on every master)
// are MvccErrors; anything else thrown out of the store is an I/O failure and is fatal.

/** Renders a key for a message: printable ASCII as is, anything else as hex. */
export function formatKey(key: Uint8Array): string {
  for (const byte of key) {
    if (byte < 0x20 || byte > 0x7e) return `0x${Buffer.from(key).toString('hex')}`;
  }
  return JSON.stringify(Buffer.from(key).toString('latin1'));
}

export class MvccError extends Error {
  override readonly name: string = 'MvccError';
}

/** A command or request is malformed; `field` is its path, e.g. `success[2].put.lease`. */
export class InvalidCommandError extends MvccError {
  override readonly name = 'InvalidCommandError';
  constructor(
    readonly field: string,
    readonly reason: string,
    options?: ErrorOptions,
  ) {
    super(`invalid command: ${field}: ${reason}`, options);
  }
}

/** An encoded request exceeds MAX_REQUEST_BYTES (etcd's --max-request-bytes). */
export class RequestTooLargeError extends MvccError {
  override readonly name = 'RequestTooLargeError';
  constructor(
    readonly size: number,
    readonly limit: number,
  ) {
    super(`request is ${size} bytes, more than the limit of ${limit}`);
  }
}

/** The revision asked for has been compacted (etcd: "mvcc: required revision has been compacted"). */
export class CompactedError extends MvccError {
  override readonly name = 'CompactedError';
  constructor(
    readonly requested: number,
    readonly compactRevision: number,
  ) {
    super(`revision ${requested} is compacted; the store is compacted up to ${compactRevision}`);
  }
}

/** The revision asked for is past the current revision (etcd: "mvcc: required revision is a future revision"). */
export class FutureRevisionError extends MvccError {
  override readonly name = 'FutureRevisionError';
  constructor(
    readonly requested: number,
    readonly currentRevision: number,
  ) {
    super(`revision ${requested} is a future revision; the current revision is ${currentRevision}`);
  }
}

export class LeaseNotFoundError extends MvccError {
  override readonly name = 'LeaseNotFoundError';
  constructor(readonly leaseId: number) {
    super(`lease ${leaseId} not found`);
  }
}

export class LeaseExistsError extends MvccError {
  override readonly name = 'LeaseExistsError';
  constructor(readonly leaseId: number) {
    super(`lease ${leaseId} already exists`);
  }
}

/** A put with ignoreValue or ignoreLease names a key that does not exist (etcd: "key not found"). */
export class KeyNotFoundError extends MvccError {
  override readonly name = 'KeyNotFoundError';
  constructor(readonly key: Uint8Array) {
    super(`key ${formatKey(key)} not found`);
  }
}

/**
 * A watcher fell more than its pending-event bound behind and was cancelled. Every event before
 * resumeRevision was delivered; watch again from resumeRevision to continue without a gap.
 */
export class SlowWatcherError extends MvccError {
  override readonly name = 'SlowWatcherError';
  constructor(
    readonly watchId: number,
    readonly resumeRevision: number,
  ) {
    super(`slow watcher ${watchId} cancelled, resume from revision ${resumeRevision}`);
  }
}

/** Snapshot bytes that cannot be restored; the store is left as it was. */
export class SnapshotFormatError extends MvccError {
  override readonly name = 'SnapshotFormatError';
  constructor(
    readonly field: string,
    readonly reason: string,
    options?: ErrorOptions,
  ) {
    super(`invalid snapshot: ${field}: ${reason}`, options);
  }
}

/**
 * The store's own tables hold something it never writes: the environment is corrupt or was written
 * by something else. Not an MvccError: no master can continue from here, it must restore a snapshot.
 */
export class CorruptStoreError extends Error {
  override readonly name = 'CorruptStoreError';
}
