// Logging for events a remote party controls (refused dialers, bad frames, failing dials): one
// misbehaving peer must not be able to flood the log, yet the first occurrences and a count of
// the rest must reach it.

/** The logger the master injects; same shape as the Raft node's. */
export interface TransportLogger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

/** Distinct keys tracked at once; past it the table is reset (keys are few: reason × peer). */
export const MAX_RATE_LIMITED_LOG_KEYS = 1024;

type Level = keyof TransportLogger;

interface KeyWindow {
  startedAt: number;
  logged: number;
  suppressed: number;
}

export class RateLimitedLog {
  private readonly windows = new Map<string, KeyWindow>();

  constructor(
    private readonly logger: TransportLogger,
    private readonly now: () => number,
    private readonly windowMs: number,
    private readonly maxPerWindow: number,
  ) {}

  /**
   * Logs unless `key` already logged maxPerWindow times in the current window. The first line of
   * a new window carries `suppressed`: how many lines the previous window swallowed.
   */
  log(level: Level, key: string, msg: string, fields: Record<string, unknown> = {}): void {
    const now = this.now();
    let w = this.windows.get(key);
    if (w === undefined || now - w.startedAt >= this.windowMs) {
      const suppressed = w?.suppressed ?? 0;
      if (w === undefined && this.windows.size >= MAX_RATE_LIMITED_LOG_KEYS) this.windows.clear();
      w = { startedAt: now, logged: 0, suppressed: 0 };
      this.windows.set(key, w);
      if (suppressed > 0) fields = { ...fields, suppressed };
    }
    if (w.logged >= this.maxPerWindow) {
      w.suppressed++;
      return;
    }
    w.logged++;
    this.logger[level](msg, fields);
  }
}
