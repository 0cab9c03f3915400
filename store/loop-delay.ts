import { type IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks';

/** Event-loop delay percentiles, in milliseconds, beyond the sampling interval. */
export interface LoopDelayMs {
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

/**
 * Samples how late the event loop runs a timer. perf_hooks records the whole time between two
 * ticks of its sampling timer, so an idle loop sampled every 20 ms reads 20 ms; this subtracts
 * the interval, and an idle loop reads about 0.
 */
export class LoopDelay {
  private readonly histogram: IntervalHistogram;

  constructor(private readonly resolutionMs: number) {
    this.histogram = monitorEventLoopDelay({ resolution: resolutionMs });
    this.histogram.enable();
  }

  /** Forgets what was sampled so far. */
  reset(): void {
    this.histogram.reset();
  }

  stop(): void {
    this.histogram.disable();
  }

  read(): LoopDelayMs {
    // Clamped at 0: timer jitter can put a tick a little early, and an empty histogram reads 0.
    const late = (ns: number): number => Math.max(0, ns / 1e6 - this.resolutionMs);
    const h = this.histogram;
    return { p50: late(h.percentile(50)), p99: late(h.percentile(99)), max: late(h.max) };
  }
}
