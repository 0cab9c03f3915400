// Why a cache watch ended or could not start. Each error carries the revision a client acts on:
// the one to resume from, or the oldest one it may ask for. The API maps them to Kubernetes
// statuses (ResourceExpired → 410 Expired, TooLargeResourceVersion → 504 with "Too large resource
// version", the others → the watch ends and the client re-watches from `lastRevision`).

export class WatchCacheError extends Error {
  override readonly name: string = 'WatchCacheError';
}

/**
 * The revision asked for is older than the cache's history reaches (or was compacted in the store):
 * the client must list again and watch from the list's revision. Kubernetes: 410 Gone, reason Expired.
 */
export class ResourceExpiredError extends WatchCacheError {
  override readonly name = 'ResourceExpiredError';
  constructor(
    readonly requested: number,
    /** The oldest revision a watch may start from now (events after it are all retained). */
    readonly oldestRevision: number,
  ) {
    super(`too old resource version: ${requested} (the watch cache reaches back to ${oldestRevision})`);
  }
}

/** The cache did not reach the revision asked for in time. Kubernetes: "Too large resource version". */
export class TooLargeResourceVersionError extends WatchCacheError {
  override readonly name = 'TooLargeResourceVersionError';
  constructor(
    readonly requested: number,
    readonly currentRevision: number,
    readonly timeoutMs: number,
  ) {
    super(
      `Too large resource version: ${requested}, current: ${currentRevision} (not reached within ${timeoutMs} ms)`,
    );
  }
}

/**
 * The watcher fell its buffer bound behind and was closed, so that it costs neither memory nor the
 * other watchers' time. Every matching event up to lastRevision was delivered before this error;
 * watching again from lastRevision continues without a gap or a repeat.
 */
export class WatcherTooSlowError extends WatchCacheError {
  override readonly name = 'WatcherTooSlowError';
  constructor(
    readonly lastRevision: number,
    readonly bufferLimit: number,
  ) {
    super(`watcher fell more than ${bufferLimit} events behind; resume from revision ${lastRevision}`);
  }
}

/**
 * The cache lost its store watch (the store called it slow, its history was compacted, or the
 * member stopped) and is listing again. Every matching event up to lastRevision was delivered;
 * watching again from lastRevision continues without a gap, here or on another master.
 */
export class CacheReinitializedError extends WatchCacheError {
  override readonly name = 'CacheReinitializedError';
  constructor(
    readonly lastRevision: number,
    readonly reason: string,
  ) {
    super(`watch cache is re-initializing (${reason}); resume from revision ${lastRevision}`);
  }
}

/** The cache has no complete state yet (starting, or listing again after losing its store watch). */
export class CacheNotReadyError extends WatchCacheError {
  override readonly name = 'CacheNotReadyError';
  constructor(readonly reason: string) {
    super(`watch cache not ready: ${reason}`);
  }
}

/** A filter names an index the cache was not configured with. */
export class UnknownIndexError extends WatchCacheError {
  override readonly name = 'UnknownIndexError';
  constructor(
    readonly index: string,
    readonly known: readonly string[],
  ) {
    super(`unknown index ${JSON.stringify(index)}; the cache indexes ${known.map((n) => JSON.stringify(n)).join(', ') || 'nothing'}`);
  }
}

/** The cache was stopped; its watchers end and it serves no reads. */
export class CacheStoppedError extends WatchCacheError {
  override readonly name = 'CacheStoppedError';
  constructor(readonly lastRevision: number) {
    super(`watch cache stopped; resume from revision ${lastRevision} elsewhere`);
  }
}
