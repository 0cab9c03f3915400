// Liveness and readiness probes (exec and TCP), as Kubernetes runs them: the first after
// initialDelaySeconds, then every periodSeconds; a result counts after successThreshold successes
// or failureThreshold failures in a row.

import { Socket } from 'node:net';
import type { Container, Probe } from '../proto/api/types.js';
import type { Clock } from './clock.js';
import type { ContainerRuntime } from './runtime/runtime.js';

export const PROBE_DEFAULTS = { periodSeconds: 10, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 3 } as const;

export type ProbeResult = 'success' | 'failure';

/** How a TCP probe connects; injected so unit tests need no sockets. */
export type TcpDialer = (host: string, port: number, timeoutMs: number) => Promise<boolean>;

export const dialTcp: TcpDialer = (host, port, timeoutMs) =>
  new Promise((resolve) => {
    const socket = new Socket();
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.connect(port, host, () => done(true));
  });

export class ProbeConfigError extends Error {
  override readonly name = 'ProbeConfigError';
}

/** A named port ("http") resolved through the container's ports. */
export function probePort(container: Container, port: number | string): number {
  if (typeof port === 'number') return port;
  if (/^\d+$/.test(port)) return Number(port);
  const named = container.ports?.find((p) => p.name === port);
  if (named === undefined) throw new ProbeConfigError(`container ${container.name} has no port named ${port}`);
  return named.containerPort;
}

export interface ProbeTarget {
  readonly runtime: ContainerRuntime;
  readonly containerId: string;
  readonly container: Container;
  readonly dialTcp: TcpDialer;
  /** Containers use the host network: TCP probes dial this unless the probe names a host. */
  readonly defaultHost: string;
}

export async function runProbeOnce(probe: Probe, target: ProbeTarget, timeoutMs: number): Promise<ProbeResult> {
  try {
    if (probe.exec?.command !== undefined) {
      const r = await target.runtime.exec(target.containerId, probe.exec.command, timeoutMs);
      return r.exitCode === 0 ? 'success' : 'failure';
    }
    if (probe.tcpSocket !== undefined) {
      const ok = await target.dialTcp(probe.tcpSocket.host ?? target.defaultHost, probePort(target.container, probe.tcpSocket.port), timeoutMs);
      return ok ? 'success' : 'failure';
    }
  } catch {
    return 'failure';
  }
  // httpGet is not supported: count it as passing rather than kill a container for it.
  return 'success';
}

/**
 * Runs one probe on a timer until stopped. `onResult` hears each change of the thresholded
 * result (readiness: ready or not; liveness: alive or not).
 */
export class ProbeRunner {
  private cancelTimer: (() => void) | undefined;
  private stopped = false;
  private successes = 0;
  private failures = 0;
  result: ProbeResult | undefined;

  constructor(
    private readonly probe: Probe,
    private readonly target: ProbeTarget,
    private readonly clock: Clock,
    /** Milliseconds per pod-spec second (1000; tests shrink it). */
    private readonly secondMs: number,
    private readonly onResult: (result: ProbeResult) => void,
  ) {}

  start(): void {
    this.schedule((this.probe.initialDelaySeconds ?? 0) * this.secondMs);
  }

  stop(): void {
    this.stopped = true;
    this.cancelTimer?.();
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.cancelTimer = this.clock.after(ms, () => void this.tick());
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    const timeoutMs = (this.probe.timeoutSeconds ?? PROBE_DEFAULTS.timeoutSeconds) * this.secondMs;
    const r = await runProbeOnce(this.probe, this.target, Math.max(timeoutMs, 100));
    if (this.stopped) return;
    if (r === 'success') {
      this.successes++;
      this.failures = 0;
    } else {
      this.failures++;
      this.successes = 0;
    }
    let next: ProbeResult | undefined = this.result;
    if (this.successes >= (this.probe.successThreshold ?? PROBE_DEFAULTS.successThreshold)) next = 'success';
    if (this.failures >= (this.probe.failureThreshold ?? PROBE_DEFAULTS.failureThreshold)) next = 'failure';
    if (next !== this.result) {
      this.result = next;
      if (next !== undefined) this.onResult(next);
    }
    this.schedule((this.probe.periodSeconds ?? PROBE_DEFAULTS.periodSeconds) * this.secondMs);
  }
}
