// The Node this agent registers: capacity (from the machine or flags), addresses, labels, and the
// conditions Kubernetes' node lifecycle reads (Ready, MemoryPressure, DiskPressure, PIDPressure).

import { readdirSync, readFileSync, statfsSync } from 'node:fs';
import { cpus, freemem, hostname, networkInterfaces, totalmem } from 'node:os';
import type { Node, NodeCondition, NodeStatus } from '../proto/api/types.js';

/** Annotation holding the agent's HOST:PORT for logs (Kubernetes keeps it in daemonEndpoints). */
export { AGENT_ENDPOINT_ANNOTATION } from '../apiserver/logs-proxy.js';
import { AGENT_ENDPOINT_ANNOTATION } from '../apiserver/logs-proxy.js';
export const DEFAULT_MAX_PODS = 110;

/** Eviction-style thresholds (Kubernetes' hard eviction defaults). */
export const PressureThresholds = {
  memoryAvailableBytes: 100 * 1024 * 1024,
  diskAvailableFraction: 0.1,
  /** Processes running as a fraction of pid_max. */
  pidsUsedFraction: 0.9,
} as const;

export interface NodeResources {
  readonly cpu: string;
  readonly memory: string;
  readonly pods: string;
}

export interface PressureSample {
  readonly memoryAvailableBytes: number;
  readonly diskAvailableFraction: number;
  readonly pidsUsedFraction: number;
}

/** What the machine has; each can be overridden by a flag. */
export function machineResources(): NodeResources {
  return { cpu: String(cpus().length), memory: `${Math.floor(totalmem() / 1024)}Ki`, pods: String(DEFAULT_MAX_PODS) };
}

export function machineAddress(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

export function machineHostname(): string {
  return hostname();
}

/** Samples memory, the disk holding `diskPath`, and the process count. */
export function samplePressure(diskPath: string): PressureSample {
  let diskAvailableFraction = 1;
  try {
    const s = statfsSync(diskPath);
    diskAvailableFraction = s.blocks > 0 ? s.bavail / s.blocks : 1;
  } catch {
    // an unreadable disk is not reported as pressure
  }
  let pidsUsedFraction = 0;
  try {
    const pidMax = Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8').trim());
    const count = readdirSync('/proc').filter((e) => /^\d+$/.test(e)).length;
    pidsUsedFraction = pidMax > 0 ? count / pidMax : 0;
  } catch {
    // not Linux
  }
  return { memoryAvailableBytes: freemem(), diskAvailableFraction, pidsUsedFraction };
}

function condition(type: string, pressure: boolean, reasons: readonly [string, string], message: string): Omit<NodeCondition, 'lastHeartbeatTime' | 'lastTransitionTime'> {
  return { type, status: pressure ? 'True' : 'False', reason: pressure ? reasons[1] : reasons[0], message };
}

export function nodeConditions(sample: PressureSample, runtimeReady: boolean, runtimeMessage: string, previous: readonly NodeCondition[] | undefined, now: Date): NodeCondition[] {
  const memory = sample.memoryAvailableBytes < PressureThresholds.memoryAvailableBytes;
  const disk = sample.diskAvailableFraction < PressureThresholds.diskAvailableFraction;
  const pids = sample.pidsUsedFraction > PressureThresholds.pidsUsedFraction;
  const wanted = [
    { type: 'Ready', status: runtimeReady ? 'True' : 'False', reason: runtimeReady ? 'KubeletReady' : 'ContainerRuntimeNotReady', message: runtimeMessage } as const,
    condition('MemoryPressure', memory, ['KubeletHasSufficientMemory', 'KubeletHasInsufficientMemory'], `${Math.round(sample.memoryAvailableBytes / 1048576)}Mi available`),
    condition('DiskPressure', disk, ['KubeletHasNoDiskPressure', 'KubeletHasDiskPressure'], `${Math.round(sample.diskAvailableFraction * 100)}% of the disk available`),
    condition('PIDPressure', pids, ['KubeletHasSufficientPID', 'KubeletHasInsufficientPID'], `${Math.round(sample.pidsUsedFraction * 1000) / 10}% of pid_max in use`),
  ];
  const stamp = now.toISOString();
  return wanted.map((c) => {
    const old = previous?.find((p) => p.type === c.type);
    return { ...c, lastHeartbeatTime: stamp, lastTransitionTime: old !== undefined && old.status === c.status && old.lastTransitionTime !== undefined ? old.lastTransitionTime : stamp };
  });
}

export interface NodeIdentity {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly internalIP: string;
  readonly hostname: string;
  readonly resources: NodeResources;
  /** HOST:PORT of the agent's log endpoint, if it serves one. */
  readonly endpoint: string | undefined;
  readonly runtimeVersion: string;
}

export function nodeLabels(identity: Pick<NodeIdentity, 'name' | 'labels'>): Record<string, string> {
  return { 'kubernetes.io/hostname': identity.name, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': process.arch === 'x64' ? 'amd64' : process.arch, ...identity.labels };
}

export function nodeObject(identity: NodeIdentity, existing?: Node): Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    ...(existing !== undefined ? { spec: existing.spec } : {}),
    metadata: {
      ...(existing?.metadata ?? {}),
      name: identity.name,
      labels: { ...(existing?.metadata.labels ?? {}), ...nodeLabels(identity) },
      annotations: { ...(existing?.metadata.annotations ?? {}), ...(identity.endpoint !== undefined ? { [AGENT_ENDPOINT_ANNOTATION]: identity.endpoint } : {}) },
    },
  };
}

export function nodeStatus(identity: NodeIdentity, conditions: readonly NodeCondition[]): NodeStatus {
  const capacity = { cpu: identity.resources.cpu, memory: identity.resources.memory, pods: identity.resources.pods };
  return {
    capacity,
    allocatable: capacity,
    conditions,
    addresses: [
      { type: 'InternalIP', address: identity.internalIP },
      { type: 'Hostname', address: identity.hostname },
    ],
    nodeInfo: {
      kernelVersion: readKernelVersion(),
      osImage: 'linux',
      containerRuntimeVersion: identity.runtimeVersion,
      kubeletVersion: 'flotilla-0.1.0',
      operatingSystem: 'linux',
      architecture: process.arch === 'x64' ? 'amd64' : process.arch,
    },
  };
}

function readKernelVersion(): string {
  try {
    return readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  } catch {
    return '';
  }
}
