import { PerformanceObserver, constants, createHistogram, type PerformanceEntry, type RecordableHistogram } from 'node:perf_hooks';

/** The garbage collector's pauses of one kind since the process started, in milliseconds. */
export interface GcPauseKindMs {
  readonly count: number;
  /** All pauses of this kind added up: difference two reads for the share of a time window. */
  readonly totalMs: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

/**
 * Young-generation collections (scavenges) and full ones (mark-compact; incremental marking's
 * steps and weak callbacks count with them). A master's writes and watch events wait out every
 * pause, so these explain latency tails that CPU figures do not.
 */
export interface GcPausesMs {
  readonly minor: GcPauseKindMs;
  readonly major: GcPauseKindMs;
}

/** Pauses are recorded in microseconds; one longer than this (a minute) is recorded as this. */
const MAX_RECORDED_PAUSE_US = 60_000_000;

class PauseKind {
  // perf_hooks' histogram: fixed memory however many pauses it records.
  private readonly histogram: RecordableHistogram = createHistogram({ lowest: 1, highest: MAX_RECORDED_PAUSE_US, figures: 2 });
  private totalMs = 0;

  record(ms: number): void {
    this.totalMs += ms;
    this.histogram.record(Math.min(MAX_RECORDED_PAUSE_US, Math.max(1, Math.round(ms * 1000))));
  }

  read(): GcPauseKindMs {
    const h = this.histogram;
    // An empty histogram reads 0 for its percentiles and its max.
    const ms = (us: number): number => us / 1000;
    return { count: h.count, totalMs: this.totalMs, p50: ms(h.percentile(50)), p99: ms(h.percentile(99)), max: ms(h.max) };
  }
}

/** Listens to the garbage collector's performance entries until stopped. */
export class GcPauses {
  private readonly minor = new PauseKind();
  private readonly major = new PauseKind();
  private readonly observer: PerformanceObserver;

  constructor() {
    this.observer = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) this.record(entry);
    });
    this.observer.observe({ entryTypes: ['gc'] });
  }

  private record(entry: PerformanceEntry): void {
    // Node puts the kind in detail (entry.kind, its old place, is deprecated).
    const { detail } = entry as PerformanceEntry & { readonly detail?: { readonly kind?: number } | null };
    (detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR ? this.minor : this.major).record(entry.duration);
  }

  read(): GcPausesMs {
    return { minor: this.minor.read(), major: this.major.read() };
  }

  stop(): void {
    this.observer.disconnect();
  }
}
