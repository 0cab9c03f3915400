// Logging for events a remote party controls (bad frames, refused upgrades): the first occurrences
// and a count of the rest reach the log, a flood does not.

export interface RpcLogger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export const silentRpcLogger: RpcLogger = { info: () => {}, warn: () => {}, error: () => {} };

/** Distinct keys tracked at once; past it the table is reset. */
export const MAX_RATE_LIMITED_LOG_KEYS = 1024;

interface KeyWindow {
  startedAt: number;
  logged: number;
  suppressed: number;
}

export class RateLimitedLog {
  private readonly windows = new Map<string, KeyWindow>();

  constructor(
    private readonly logger: RpcLogger,
    private readonly now: () => number,
    private readonly windowMs: number,
    private readonly maxPerWindow: number,
  ) {}

  /** Logs unless `key` already logged maxPerWindow times this window; a new window's first line carries `suppressed`. */
  log(level: keyof RpcLogger, key: string, msg: string, fields: Record<string, unknown> = {}): void {
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
