// Running the scheduler on a master: campaign for the Lease kube-system/flotilla-scheduler; while
// leading, run a fresh Scheduler (a new cache, listed from the API); on losing the lease, stop it
// at once and campaign again. One master schedules at a time; a standby takes over once the lease
// expires (leaseDuration, 15 s, by its own clock) or at once when the leader released it.

import { LeaderElector, type LeaderElectorOptions } from '../client/leader-election.js';
import type { ApiClient } from '../client/api-client.js';
import { ApiClientSchedulerApi } from './api-adapter.js';
import type { SchedulerApi } from './api.js';
import { Framework } from './framework/runtime.js';
import { Scheduler, type SchedulerOptions } from './scheduler.js';

export const SCHEDULER_LEASE_NAMESPACE = 'kube-system';
export const SCHEDULER_LEASE_NAME = 'flotilla-scheduler';

export interface RunSchedulerOptions {
  readonly api: SchedulerApi;
  /** Unique per process: the master's name plus a random suffix. */
  readonly identity: string;
  /** A profile file (JSON or YAML); absent: the default profile. */
  readonly profilePath?: string;
  /** Or a framework built already (tests). */
  readonly framework?: Framework;
  readonly election?: Partial<Pick<LeaderElectorOptions, 'leaseDurationMs' | 'renewDeadlineMs' | 'retryPeriodMs' | 'now' | 'deferWhile'>>;
  readonly scheduler?: Omit<SchedulerOptions, 'api' | 'framework' | 'identity'>;
  readonly logger?: { warn(msg: string, fields?: Record<string, unknown>): void };
  /** Told about each scheduler started while leading (tests, metrics). */
  readonly onSchedulerStarted?: (scheduler: Scheduler) => void;
}

export interface RunningScheduler {
  readonly elector: LeaderElector;
  /** The scheduler while leading, else undefined. */
  current(): Scheduler | undefined;
  /** Graceful: stops scheduling and releases the lease so a standby takes over at once. */
  stop(): Promise<void>;
  /** A crash, for tests: stops everything without releasing the lease. */
  crash(): Promise<void>;
}

export async function runScheduler(opts: RunSchedulerOptions): Promise<RunningScheduler> {
  const framework = opts.framework ?? (await Framework.load(opts.profilePath, { binder: opts.api }));
  let current: Scheduler | undefined;
  let stopping: Promise<void> = Promise.resolve();
  const elector = new LeaderElector({
    leases: opts.api.leases,
    namespace: SCHEDULER_LEASE_NAMESPACE,
    name: SCHEDULER_LEASE_NAME,
    identity: opts.identity,
    ...(opts.election ?? {}),
    ...(opts.logger !== undefined ? { logger: opts.logger } : {}),
    callbacks: {
      onStartedLeading: () => {
        const s = new Scheduler({
          ...(opts.scheduler ?? {}),
          api: opts.api,
          framework,
          identity: opts.identity,
          // A scheduler fenced off stops for good; the elector then resigns, so that a renewal
          // that succeeds late starts a fresh scheduler instead of leading a stopped one.
          fence: () => {
            if (elector.holdsLease()) return true;
            elector.resign();
            return false;
          },
          ...(opts.logger !== undefined ? { logger: opts.logger } : {}),
        });
        current = s;
        opts.onSchedulerStarted?.(s);
        // Start after the previous one (if any) has fully stopped.
        void stopping.then(() => (current === s ? s.start() : undefined)).catch((err: unknown) => opts.logger?.warn('scheduler failed to start', { error: (err as Error).message }));
      },
      onStoppedLeading: () => {
        const s = current;
        current = undefined;
        if (s !== undefined) stopping = s.stop();
      },
    },
  });
  void elector.run();
  return {
    elector,
    current: () => current,
    stop: async () => {
      await elector.stop({ release: true });
      await stopping;
    },
    crash: async () => {
      await elector.stop({ release: false });
      await stopping;
    },
  };
}

/** The scheduler of a master, against the cluster's API. */
export async function runSchedulerWithClient(client: ApiClient, opts: Omit<RunSchedulerOptions, 'api'>): Promise<RunningScheduler & { api: ApiClientSchedulerApi }> {
  const api = new ApiClientSchedulerApi(client, opts.logger !== undefined ? { logger: opts.logger } : {});
  const framework = opts.framework ?? (await Framework.load(opts.profilePath, { binder: api }));
  // The pod cache keeps only the fields the profile's plugins read.
  api.keepPodFields(framework.podFields);
  const running = await runScheduler({ ...opts, framework, api });
  return { ...running, api };
}
